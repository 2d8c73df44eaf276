"""The package index: what a Go package declares at its top level, across its files.

A package is a directory and the files of it that share a package clause.
Non-test code cannot see ``_test.go`` files, so they count only for a test
file; an external test package (``package p_test``) is a package of its own.
A file sees only the files it can be built with (:mod:`gofix_conc.buildtags`):
from ``fd_unix.go`` a lookup never answers with ``fd_windows.go``. An
unconstrained file sees every variant, and a lookup then returns every
declaration of the name.

Every rule of one file gets the same :class:`PackageView` (``ctx.package``):
the file being checked as it is now (the fix loop may have changed it) and the
package's other files as they are on disk. Nothing is read until a rule asks
about a name the file does not declare; then the package's files are read,
and those whose text holds the name are parsed and indexed, from the captures
of one query, and kept for every file and every rule of the package.

The engine works through one directory at a time (:func:`enter`, then
:func:`release` when its files are done). Every tree of that directory, the
engine's and the index's, is kept until then and parsed once: a rule of the
whole package goes through every file for every file it checks, and the
engine takes a file's tree from here when a rule read it first. Other trees
are kept up to a budget of source bytes (1 MiB), most recently used first. A
tree takes about 32 bytes of memory per byte of source, so the peak follows
the largest directory, not the number of files.
"""

from __future__ import annotations

import functools
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tree_sitter import Node, QueryCursor

from gofix_conc import buildtags
from gofix_conc.imports import Import, imports
from gofix_conc.source import Source, is_generated, query, spelled

# Everything the index holds, in one walk of each file's top level (the
# cursor never starts a match below the file node, so function bodies are
# skipped). Only declarations directly under the file count: a type declared
# in a function is not the package's.
#
#   func name(...)               func (r *Recv) name(...)
#   type Name ...                type Alias = ...
#   var name ... / var (...)     const name = ... / const (...)
#   type S struct { mu sync.Mutex; *sync.Pool; ... }
FACTS = """
(source_file (function_declaration name: (identifier) @func))
(source_file (method_declaration
  receiver: (parameter_list (parameter_declaration type: (_) @receiver))
  name: (field_identifier) @method))
(source_file (type_declaration [(type_spec name: (type_identifier) @type) (type_alias name: (type_identifier) @type)]))
(source_file (var_declaration [(var_spec name: (identifier) @var) (var_spec_list (var_spec name: (identifier) @var))]))
(source_file (const_declaration (const_spec name: (identifier) @const)))
(source_file (type_declaration (type_spec
  name: (type_identifier) @struct
  type: (struct_type (field_declaration_list
    (field_declaration type: [(qualified_type) (pointer_type (qualified_type))] @field.type) @field)))))
"""

PACKAGE_CLAUSE = "(package_clause (package_identifier) @p)"

# Field and variable types of package sync the index records.
SYNC_TYPES = frozenset({"Mutex", "RWMutex", "Pool"})


@dataclass(frozen=True)
class Method:
    receiver: str  # the receiver's base type name: T for (t *T), G for (g G[X])
    name: str
    pointer: bool  # pointer receiver
    node: Node  # the method_declaration


@dataclass(frozen=True)
class SyncField:
    """A struct field of a sync type: ``mu sync.Mutex``, ``sync.RWMutex`` (embedded), ``pool *sync.Pool``."""

    name: str  # the field name; for an embedded field its type name (Mutex)
    kind: str  # Mutex, RWMutex or Pool
    pointer: bool
    node: Node  # the field_declaration


@dataclass
class FileFacts:
    """What one file declares at the top level."""

    path: Path
    source: Source
    package: str
    functions: dict[str, list[Node]] = field(default_factory=dict)  # name -> function_declaration
    methods: dict[str, list[Method]] = field(default_factory=dict)  # receiver type -> methods
    types: dict[str, list[Node]] = field(default_factory=dict)  # name -> type_spec / type_alias
    variables: dict[str, list[Node]] = field(default_factory=dict)  # name -> var_spec
    constants: dict[str, list[Node]] = field(default_factory=dict)  # name -> const_spec
    sync_fields: dict[str, list[SyncField]] = field(default_factory=dict)  # struct name -> fields
    recovering: set[tuple[int, int]] = field(default_factory=set)  # byte ranges of functions calling recover()
    imports: list[Import] = field(default_factory=list)

    def names(self) -> set[str]:
        """The names the file declares in the package scope."""
        return set(self.functions) | set(self.types) | set(self.variables) | set(self.constants)


def _text(node: Node | None) -> str:
    return node.text.decode() if node is not None and node.text is not None else ""


def package_name(source: Source) -> str:
    """The package clause's name: a child of the file node, read without a query over the tree."""
    child = source.root.named_child(0)  # the clause follows comments only: the top level is not listed
    while child is not None:
        if child.type == "package_clause":
            return _text(child.named_child(0))
        if child.type != "comment":
            break
        child = child.next_named_sibling
    return _clause(source.data)  # a clause the parser folded into an error node


def facts(path: Path, source: Source) -> FileFacts:
    """The index of one file, from the matches of :data:`FACTS`."""
    found = FileFacts(path, source, package_name(source), imports=imports(source))
    sync = next((i.local_name for i in found.imports if i.path == "sync" and i.name not in ("_", ".")), None)
    cursor = QueryCursor(query(FACTS))
    cursor.set_max_start_depth(0)
    for _, match in cursor.matches(source.root):
        if "func" in match:
            ident = match["func"][0]
            found.functions.setdefault(_text(ident), []).append(ident.parent)  # type: ignore[arg-type]
        elif "method" in match:
            ident = match["method"][0]
            pointer, base = receiver_base(match["receiver"][0])
            if base:
                method = Method(base, _text(ident), pointer, ident.parent)  # type: ignore[arg-type]
                found.methods.setdefault(base, []).append(method)
        elif "field" in match:
            kind_node = match["field.type"][0]
            pointer = kind_node.type == "pointer_type"
            qualified = kind_node.named_children[0] if pointer else kind_node
            package, _, kind = _text(qualified).partition(".")
            if sync is None or package != sync or kind not in SYNC_TYPES:
                continue
            decl = match["field"][0]
            names = [_text(n) for n in decl.children_by_field_name("name") if n.is_named] or [kind]
            for name in names:
                found.sync_fields.setdefault(_text(match["struct"][0]), []).append(SyncField(name, kind, pointer, decl))
        else:
            for capture, table in (("type", found.types), ("var", found.variables), ("const", found.constants)):
                if capture in match:
                    ident = match[capture][0]
                    table.setdefault(_text(ident), []).append(ident.parent)  # type: ignore[arg-type]
    for call in _recover_calls(source):
        function = _enclosing_function(call)
        if function is not None and function.type in ("function_declaration", "method_declaration"):
            found.recovering.add((function.start_byte, function.end_byte))
    return found


def _recover_calls(source: Source) -> Iterator[Node]:
    """The ``recover`` identifiers called in the file, found from the text: few files have any."""
    at = source.data.find(b"recover(")
    while at >= 0:
        node = source.root.named_descendant_for_byte_range(at, at + len(b"recover"))
        call = node.parent if node is not None and node.type == "identifier" else None
        if call is not None and call.type == "call_expression" and call.child_by_field_name("function") == node:
            yield node  # type: ignore[misc]
        at = source.data.find(b"recover(", at + 1)


def _enclosing_function(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in ("function_declaration", "method_declaration", "func_literal"):
        parent = parent.parent
    return parent


def receiver_base(kind: Node) -> tuple[bool, str]:
    """(pointer receiver, base type name) of a receiver type: ``*T``, ``T``, ``G[X]``, ``(*T)``."""
    pointer = False
    for _ in range(4):
        if kind.type == "parenthesized_type" and kind.named_children:
            kind = kind.named_children[0]
        elif kind.type == "pointer_type" and kind.named_children:
            pointer, kind = True, kind.named_children[0]
        elif kind.type == "generic_type":
            kind = kind.child_by_field_name("type") or kind
            break
        else:
            break
    return pointer, _text(kind) if kind.type == "type_identifier" else ""


# -- parses kept for the directory being worked through --------------------------

# path -> [stat key (None: the engine handed the text in, (): not the disk's), source, facts or None]
_HERE: dict[Path, list] = {}  # type: ignore[type-arg]  # the directory the engine is in: kept until released
_here: Path | None = None
_TREES: OrderedDict[Path, list] = OrderedDict()  # type: ignore[type-arg]  # other directories: within a budget
_KEPT_BYTES = 1 << 20  # of source text: about 32 MB of trees
_kept = 0
_INDEXED: OrderedDict[Path, None] = OrderedDict()  # directories whose package was built lately
_PACKAGES: OrderedDict[tuple, Package] = OrderedDict()  # type: ignore[type-arg]
_LISTINGS: dict[tuple[Path, bool], tuple[tuple[str, int, int], ...]] = {}  # of the directory the engine is in
_READ: dict[str, tuple[tuple[int, int], bytes, str]] = {}  # its files' text and clause by name, read once
_CURRENT: dict[tuple[str, bool], Package] = {}  # its packages, by name and with or without tests

StatKey = tuple[int, int]
M = TypeVar("M", bound=MutableMapping)  # type: ignore[type-arg]
T = TypeVar("T")


def _entry(path: Path) -> list | None:  # type: ignore[type-arg]
    found = _HERE.get(path)  # holds the files of the directory worked through only
    return found if found is not None else _TREES.get(path)


def _keep(path: Path, entry: list) -> list:  # type: ignore[type-arg]
    global _kept
    if path.parent == _here:
        _HERE[path] = entry
        return entry
    old = _TREES.pop(path, None)
    if old is not None:
        _kept -= len(old[1].data)
    _TREES[path] = entry
    _kept += len(entry[1].data)
    while _kept > _KEPT_BYTES and len(_TREES) > 1:
        _kept -= len(_TREES.popitem(last=False)[1][1].data)
    return entry


_PACKAGE_CACHES: list[MutableMapping] = []  # type: ignore[type-arg]


def package_cache(cache: M) -> M:
    """Register a rule's memo of package analyses (they hold trees): emptied when the engine leaves a directory.

    The engine never comes back to a directory it left, so what such a memo
    holds is dead weight after :func:`release`, and memory stays that of one
    package whatever the number of files.
    """
    _PACKAGE_CACHES.append(cache)
    return cache


def enter(directory: Path) -> None:
    """Work starts on the files of ``directory``: every tree of it stays until :func:`release`.

    The engine calls it for each directory it goes through; a lookup into
    another directory's package (a test calling a rule directly) enters that
    one, releasing the last.
    """
    global _here
    if directory != _here:
        if _here is not None:
            release(_here)
        _here = directory


def release(directory: Path) -> None:
    """Work on ``directory`` is done: drop its trees, facts, packages and listing."""
    global _here
    if directory == _here:
        _HERE.clear()
        _LISTINGS.clear()
        _READ.clear()
        _CURRENT.clear()
        _here = None
    for key in [k for k in _PACKAGES if k[0] == directory]:
        del _PACKAGES[key]
    _INDEXED.pop(directory, None)
    for cache in _PACKAGE_CACHES:
        cache.clear()


def source_for(path: Path, raw: bytes) -> Source:
    """``raw`` parsed: the tree the index already holds for this text of ``path``, else a new parse.

    A new parse is kept when it belongs to the directory being worked
    through, so files of packages no rule looks into keep nothing alive once
    the work is past them.
    """
    entry = _entry(path)
    if entry is not None and entry[1].raw() == raw:
        return entry[1]  # type: ignore[no-any-return]
    source = Source(raw)
    if path.parent == _here:
        _keep(path, [None, source, None])
    return source


def _adopt(path: Path, source: Source) -> None:
    """Offer the checked file's tree to the index: used for the package if the disk holds the same text."""
    if _entry(path) is None:
        _keep(path, [None, source, None])


def _load(path: Path, key: StatKey, raw: bytes) -> FileFacts:
    """The facts of ``raw``, the text of ``path`` on disk, parsed once while kept."""
    entry = _entry(path)
    if entry is not None and entry[0] is None:  # handed in by the engine: is it what the disk holds?
        entry[0] = key if entry[1].raw() == raw else ()
    if entry is None or entry[0] != key:
        entry = _keep(path, [key, Source(raw), None])
    elif path in _TREES:
        _TREES.move_to_end(path)
    if entry[2] is None:
        entry[2] = facts(path, entry[1])
    return entry[2]  # type: ignore[no-any-return]


# -- packages ------------------------------------------------------------------

_CLAUSE = re.compile(rb"^package[ \t]+(\w+)", re.MULTILINE)
_LINE_COMMENT = re.compile(rb"//[^\n]*")


def _clause(raw: bytes) -> str:
    """The package clause's name, read from the text (outside comments) without parsing."""
    for match in _CLAUSE.finditer(raw):
        before = _LINE_COMMENT.sub(b"", raw[: match.start()])
        if before.count(b"/*") <= before.count(b"*/"):
            return match[1].decode()
    return ""


@dataclass(eq=False)  # identity: a member is looked up in sets
class Member:
    """One file of a package on disk: its text, parsed only when a lookup needs it."""

    path: Path
    key: StatKey
    raw: bytes

    @property
    def facts(self) -> FileFacts:
        return _load(self.path, self.key, self.raw)

    def mentions(self, name: str) -> bool:
        return name.encode() in self.raw

    def may_declare(self, name: str, receivers: bool = True) -> bool:
        """Whether the text may declare ``name`` at the top level: a line that starts with it (after
        ``type``/``func``/``var``/``const``, or inside a block), or (with ``receivers``) a method
        receiver naming it. Never false for a file that declares it; mostly false for files that only use it."""
        raw, word = self.raw, name.encode()
        declaring = _DECLARING if receivers else _DECLARING_NAME
        return any(declaring.fullmatch(raw, raw.rfind(b"\n", 0, at) + 1, at) for at in spelled(raw, word))

    @functools.cached_property
    def constraint(self) -> tuple[str, ...]:
        return buildtags.of_file(self.path.name, self.raw)


@dataclass
class Package:
    """The files of one package as they are on disk (the package clause read from their text)."""

    directory: Path
    name: str
    members: list[Member]
    _mentioning: dict[str, list[Member]] = field(default_factory=dict)
    _declaring: dict[tuple[str, bool], list[Member]] = field(default_factory=dict)
    _buildable: dict[tuple[str, ...], list[Member]] = field(default_factory=dict)
    _fingerprint: frozenset[tuple[str, int]] | None = None
    _remembered: dict[str, Any] = field(default_factory=dict)

    def remembered(self, key: str, build: Callable[[Package], T]) -> T:
        """``build(self)``, once per package as read: what rules work out from the package's files.

        A package read again after a change is a new Package, so nothing remembered outlives its files.
        """
        found = self._remembered.get(key)
        if found is None:
            found = self._remembered[key] = build(self)
        return found  # type: ignore[no-any-return]

    def fingerprint(self, path: Path, raw: bytes) -> frozenset[tuple[str, int]]:
        """The package's content as (file name, hash of its text) pairs, with ``path``'s text taken as ``raw``.

        Equal for every file of the package while none is changed: what a whole-package analysis is keyed on.
        """
        if self._fingerprint is None:
            self._fingerprint = frozenset((m.path.name, hash(m.raw)) for m in self.members)
        entry = (path.name, hash(raw))
        if entry in self._fingerprint:
            return self._fingerprint
        return frozenset({e for e in self._fingerprint if e[0] != path.name} | {entry})

    def buildable_with(self, constraint: tuple[str, ...]) -> list[Member]:
        """The files that can be built with a file of build ``constraint`` (most files have none: one list)."""
        found = self._buildable.get(constraint)
        if found is None:
            found = self._buildable[constraint] = [
                m for m in self.members if buildtags.compatible(constraint, m.constraint)
            ]
        return found

    def mentioning(self, name: str) -> list[Member]:
        """The files whose text holds ``name`` (only those can declare it)."""
        found = self._mentioning.get(name)
        if found is None:
            found = self._mentioning[name] = [m for m in self.members if m.mentions(name)]
        return found

    def declaring(self, name: str, receivers: bool = True) -> list[Member]:
        """The files that may declare ``name`` (see :meth:`Member.may_declare`): only those are parsed."""
        key = (name, receivers)
        found = self._declaring.get(key)
        if found is None:
            found = self._declaring[key] = [m for m in self.mentioning(name) if m.may_declare(name, receivers)]
        return found

    @property
    def files(self) -> list[FileFacts]:
        """Every file's facts: parses the files not parsed yet."""
        return [m.facts for m in self.members]


def _listing(directory: Path, with_tests: bool) -> tuple[tuple[str, int, int], ...]:
    """The package's files with their modification times and sizes; read once per directory worked through."""
    key = (directory, with_tests)
    if directory == _here and key in _LISTINGS:
        return _LISTINGS[key]
    found = _read_listing(directory, with_tests)
    if directory == _here:
        _LISTINGS[key] = found
    return found


def _read_listing(directory: Path, with_tests: bool) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple(
            sorted(
                (entry.name, info.st_mtime_ns, info.st_size)
                for entry in os.scandir(directory)
                if entry.name.endswith(".go")
                and (with_tests or not entry.name.endswith("_test.go"))
                and entry.is_file()
                for info in [entry.stat()]
            )
        )
    except OSError:
        return ()


def package(directory: Path, name: str, with_tests: bool) -> Package:
    """The package ``name`` of ``directory`` (with its ``_test.go`` files when ``with_tests``)."""
    enter(directory)
    here = _CURRENT.get((name, with_tests))  # asked for every file and rule: the listing is read once
    if here is not None:
        return here
    listing = _listing(directory, with_tests)
    key = (directory, name, listing)
    _INDEXED[directory] = None
    _INDEXED.move_to_end(directory)
    while len(_INDEXED) > 2:
        _INDEXED.popitem(last=False)
    found = _PACKAGES.get(key)
    if found is not None:
        _PACKAGES.move_to_end(key)
        _CURRENT[name, with_tests] = found
        return found
    members: list[Member] = []
    here = directory == _here  # its package and test package, with and without tests, read the same files
    for filename, mtime, size in listing:
        kept = _READ.get(filename) if here else None
        if kept is not None and kept[0] == (mtime, size):
            _, raw, clause = kept
        else:
            try:
                raw = (directory / filename).read_bytes()
            except OSError:
                continue
            clause = _clause(raw)
            if here:
                _READ[filename] = ((mtime, size), raw, clause)
        if clause == name:  # not x_test beside x, nor a //go:build ignore main
            members.append(Member(directory / filename, (mtime, size), raw))
    found = _PACKAGES[key] = _CURRENT[name, with_tests] = Package(directory, name, members)
    while len(_PACKAGES) > 4:
        _PACKAGES.popitem(last=False)
    return found


class PackageView:
    """The package one file belongs to, seen from that file (``ctx.package``).

    Lookups answer from the file as checked first, then from the package's
    other files; the on-disk copy of the file itself is never consulted.
    Nothing outside the file is read until a lookup needs it, and a lookup
    by name parses only the files whose text holds the name.
    """

    def __init__(self, path: Path, source: Source) -> None:
        self.path = path
        self.source = source
        self._own: FileFacts | None = None
        self._name: str | None = None
        self._package: Package | None = None
        self._members_seen: list[Member] | None = None  # the package's other files that can build with this one
        self._seen: set[Member] = set()
        self._pinned: dict[Path, FileFacts] = {}  # the other files' facts this view handed out: kept alive

    @property
    def own(self) -> FileFacts:
        if self._own is None:
            kept = _entry(self.path)
            same = kept is not None and kept[1] is self.source and kept[2] is not None
            self._own = kept[2] if same else facts(self.path, self.source)  # type: ignore[index]
        return self._own

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self._own.package if self._own is not None else package_name(self.source)
        return self._name

    @property
    def is_test(self) -> bool:
        return self.path.name.endswith("_test.go")

    def members(self) -> list[Member]:
        """The package's other files this file can be built with (not parsed)."""
        if self._members_seen is None:
            self._package = package(self.path.parent, self.name, self.is_test)
            _adopt(self.path, self.source)
            own = buildtags.of_file(self.path.name, self.source.raw())
            name = self.path.name  # the members are files of this directory
            self._members_seen = [m for m in self._package.buildable_with(own) if m.path.name != name]
            self._seen = set(self._members_seen)
        return self._members_seen

    def _facts(self, member: Member) -> FileFacts:
        found = self._pinned.get(member.path)
        if found is None:
            found = self._pinned[member.path] = member.facts
        return found

    @property
    def siblings(self) -> list[FileFacts]:
        """Every other file of the package (all parsed, on first use)."""
        return [self._facts(m) for m in self.members()]

    def files(self, generated: bool = True) -> Iterator[FileFacts]:
        """This file, then every other file of the package (parsed as the iteration reaches them).

        Without ``generated``, generated files are left out unparsed (a third of the standard library's bytes).
        """
        yield self.own
        for member in self.members():
            if generated or not is_generated(member.raw):
                yield member.facts  # not pinned: a rule going through the whole package holds what it keeps

    def _declaring(self, name: str, receivers: bool = False) -> list[FileFacts]:
        """The other files that may declare ``name`` at the top level (``receivers``: or methods of type
        ``name``): only those are parsed."""
        self.members()
        found = self._package.declaring(name, receivers)  # type: ignore[union-attr]
        return [self._facts(m) for m in found if m in self._seen]

    def _mentioning(self, name: str) -> list[FileFacts]:
        """The other files whose text holds ``name``: only those can declare it, only those are parsed."""
        self.members()
        return [self._facts(m) for m in self._package.mentioning(name) if m in self._seen]  # type: ignore[union-attr]

    def _loaded(self) -> list[FileFacts]:
        """This file and the other files parsed so far (any node a lookup handed out comes from one)."""
        kept = [entry[2] for m in self.members() if (entry := _entry(m.path)) is not None and entry[2] is not None]
        return [self.own, *self._pinned.values(), *kept]

    def _lookup(self, table: str, name: str) -> list[Node]:
        own = getattr(self.own, table).get(name)
        if own:
            return list(own)
        return [n for f in self._declaring(name) for n in getattr(f, table).get(name, [])]

    # -- declarations --------------------------------------------------------

    def functions(self, name: str) -> list[Node]:
        """The function declarations named ``name`` (several across build-constrained files)."""
        return self._lookup("functions", name)

    def types(self, name: str) -> list[Node]:
        """The ``type_spec``/``type_alias`` nodes declaring ``name`` at the package level."""
        return self._lookup("types", name)

    def type_spec(self, name: str) -> Node | None:
        """The one declaration of type ``name``; None when absent or when variants declare it differently."""
        found = self.types(name)
        if not found or any(_text(f) != _text(found[0]) for f in found[1:]):
            return None
        return found[0]

    def variables(self, name: str) -> list[Node]:
        """The ``var_spec`` nodes declaring package-level variable ``name``."""
        return self._lookup("variables", name)

    def constants(self, name: str) -> list[Node]:
        return self._lookup("constants", name)

    def kind(self, name: str) -> str | None:
        """func, type, var or const for a package-level name; None when the package does not declare it."""
        for table, kind in (("functions", "func"), ("types", "type"), ("variables", "var"), ("constants", "const")):
            if self._lookup(table, name):
                return kind
        return None

    def methods(self, receiver: str) -> list[Method]:
        """The methods of type ``receiver`` declared in any file of the package."""
        return [m for f in [self.own, *self._declaring(receiver, receivers=True)] for m in f.methods.get(receiver, [])]

    def method(self, receiver: str, name: str) -> Method | None:
        return next((m for m in self.methods(receiver) if m.name == name), None)

    def methods_named(self, name: str) -> list[Method]:
        files = [self.own, *self._declaring(name)]
        return [m for f in files for ms in f.methods.values() for m in ms if m.name == name]

    def calls_recover(self, declaration: Node) -> bool:
        """Whether a function or method declaration of the package calls ``recover()`` in its own body."""
        span = (declaration.start_byte, declaration.end_byte)
        return any(span in f.recovering and _holds(f, declaration) for f in self._loaded())

    def declared_in_sibling(self, node: Node) -> bool:
        """Whether ``node`` comes from another file of the package than the one checked."""
        return not _holds(self.own, node)

    def file_of(self, node: Node) -> FileFacts | None:
        return next((f for f in self._loaded() if _holds(f, node)), None)

    # -- sync ----------------------------------------------------------------

    def sync_fields(self, struct: str) -> list[SyncField]:
        own = self.own.sync_fields.get(struct)
        if own is not None or struct in self.own.types:
            return list(own or [])
        return [s for f in self._declaring(struct) for s in f.sync_fields.get(struct, [])]

    def mutex_fields(self, struct: str) -> list[SyncField]:
        """The ``sync.Mutex``/``sync.RWMutex`` fields of a struct type of the package, embedded ones included."""
        return [s for s in self.sync_fields(struct) if s.kind != "Pool"]

    def pool_fields(self, struct: str) -> list[SyncField]:
        return [s for s in self.sync_fields(struct) if s.kind == "Pool"]

    def pools(self) -> dict[str, Node]:
        """Package-level ``sync.Pool`` variables (``var p sync.Pool``, ``var p = &sync.Pool{...}``), by name."""
        found: dict[str, Node] = {}
        for f in [self.own, *self._mentioning("Pool")]:
            sync = next((i.local_name for i in f.imports if i.path == "sync" and i.name not in ("_", ".")), None)
            if sync is None:
                continue
            for name, specs in f.variables.items():
                if name not in found and any(_is_pool(spec, name, sync) for spec in specs):
                    found[name] = specs[0]
        return found

    # -- names ---------------------------------------------------------------

    def sibling_names(self) -> frozenset[str]:
        """Package-level names the other files declare (an import of this file must not take one).

        The package's own ``_test.go`` files count for a non-test file too:
        ``go test`` compiles them into the same package scope.
        """
        files = self.siblings if self.is_test else package(self.path.parent, self.name, True).files
        return frozenset(n for f in files if f.path != self.path for n in f.names())

    def imports(self) -> list[Import]:
        """Every import of every file of the package."""
        return [i for f in [self.own, *self.siblings] for i in f.imports]


# What may stand on a line before a name the line declares at the top level: ``type T``, ``func F``,
# ``var a, B``, ``\tC = 1`` in a block; with _DECLARING also a method receiver naming it, ``func (r *T[K]) M``.
_DECLARING_NAME = re.compile(
    rb"[ \t]*(?:(?:type|var|const)[ \t]+|func[ \t]*(?:\([^)\n]*\)[ \t]*)?)?(?:\w+[ \t]*,[ \t]*)*"
)
_DECLARING = re.compile(_DECLARING_NAME.pattern + rb"|[ \t]*func[ \t]*\([^)\n]*")


def _holds(facts: FileFacts, node: Node) -> bool:
    return _root(node) == facts.source.root


def _root(node: Node) -> Node:
    while node.parent is not None:
        node = node.parent
    return node


def _is_pool(spec: Node, name: str, sync: str) -> bool:
    pool = f"{sync}.Pool"
    declared = spec.child_by_field_name("type")
    if declared is not None:
        return _text(declared).lstrip("*") == pool
    values = spec.child_by_field_name("value")
    names = [n for n in spec.children_by_field_name("name") if n.is_named]
    items = [c for c in values.named_children if c.type != "comment"] if values is not None else []
    index = next((i for i, n in enumerate(names) if _text(n) == name), -1)
    if len(items) != len(names) or index < 0:
        return False
    value = items[index]
    if value.type == "unary_expression" and value.named_children:
        value = value.named_children[-1]
    return value.type == "composite_literal" and _text(value.child_by_field_name("type")) == pool


def view(path: Path, source: Source) -> PackageView:
    return PackageView(path, source)


def forget() -> None:
    """Drop every kept parse (tests that rewrite files in place within one mtime tick)."""
    global _kept, _here
    _HERE.clear()
    _TREES.clear()
    _INDEXED.clear()
    _PACKAGES.clear()
    _LISTINGS.clear()
    _READ.clear()
    _CURRENT.clear()
    for cache in _PACKAGE_CACHES:
        cache.clear()
    _kept = 0
    _here = None
