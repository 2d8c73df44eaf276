"""The other files of a file's Go package, as goroutine-without-recover reads them, and where a call leads in them.

A thin view over :mod:`gofix_conc.index` (which parses and indexes each
package once): the ``.go`` files of the same directory with the same package
clause, ``_test.go`` files only for a test file, the file being checked left
out (the rule has its current text in its own context). :class:`File` reads
the checked file with them: which of the package's function bodies a call may
run (:func:`callee_bodies`).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tree_sitter import Node

from gofix_conc import buildtags, concurrency, goroutines, index, scopes
from gofix_conc.imports import Import, imports
from gofix_conc.source import Source, captures

# Functions and methods by name:  func name(...) {...}   func (r T) name(...) {...}
DECLARATIONS = "[(function_declaration name: (identifier) @name) (method_declaration name: (field_identifier) @name)]"

# Named types:  type name ...
TYPES = "(type_spec name: (type_identifier) @name)"

PACKAGE_CLAUSE = index.PACKAGE_CLAUSE

T = TypeVar("T")


@dataclass(frozen=True)
class Sibling:
    path: Path
    source: Source


@dataclass(frozen=True)
class Package:
    """The sibling files of one package and what they declare at the top level."""

    name: str
    files: tuple[Sibling, ...]
    functions: dict[str, list[Node]] = field(default_factory=dict)  # function/method declarations
    types: dict[str, list[Node]] = field(default_factory=dict)  # type_spec (and type_alias) nodes
    facts: tuple[index.FileFacts, ...] = ()

    def imports(self) -> list[Import]:
        return [i for f in self.facts for i in f.imports]

    def texts(self) -> list[bytes]:
        return [f.source.data for f in self.files]

    def mentioning(self, *words: str) -> list[Sibling]:
        """The files whose text holds every one of ``words``."""
        return [f for f in self.files if all(w.encode() in f.source.data for w in words)]

    def imports_path(self, path: str) -> bool:
        """Whether some file imports ``path``."""
        return any(i.path == path for i in self.imports())

    def types_holding(self, name: str, words: tuple[bytes, ...]) -> list[Node]:
        """``types[name]`` from the files whose text holds one of ``words``."""
        return [n for f in self.facts if any(w in f.source.data for w in words) for n in f.types.get(name, [])]


EMPTY = Package("", ())


def package_name(source: Source) -> str:
    return index.package_name(source)


def siblings(path: Path, source: Source, view: index.PackageView | None = None) -> Package:
    """The other files of ``path``'s package (those a test file can see, for a test file)."""
    view = view or index.view(path, source)
    return _merged(view.name, view.siblings)


def _merged(name: str, files: list[index.FileFacts]) -> Package:
    functions: dict[str, list[Node]] = {}
    types: dict[str, list[Node]] = {}
    for f in files:
        for key, nodes in f.functions.items():
            functions.setdefault(key, []).extend(nodes)
        for methods in f.methods.values():
            for method in methods:
                functions.setdefault(method.name, []).append(method.node)
        for key, nodes in f.types.items():
            types.setdefault(key, []).extend(nodes)
    return Package(name, tuple(Sibling(f.path, f.source) for f in files), functions, types, tuple(files))


class Lazy:
    """The same sibling files as :func:`siblings` gives, parsed only as far as each question needs.

    A function or method called ``name`` can be declared only by a file whose
    text names it right after ``func`` (:func:`function_names`), a type only by
    a file whose text holds its name, an import of a path only by a file whose
    text holds the path: a lookup parses and indexes those files alone.
    ``functions`` and ``types`` answer ``get`` and ``in`` by name as the dicts
    of :class:`Package` do, with the same nodes in the same order.
    """

    def __init__(self, path: Path, source: Source) -> None:
        self.name = index.package_name(source)
        self._package = index.package(path.parent, self.name, path.name.endswith("_test.go"))
        self._shared = _shared(self._package)
        self._path = path
        self._constraint = buildtags.of_file(path.name, source.raw())
        self._fits = self._shared.fitting(self._constraint)
        self._members: list[index.Member] | None = None
        self.functions = _Declared(self._declaring_function, _functions_named, self._everything)
        self.types = _Declared(self._mentioning, lambda facts, name: facts.types.get(name, []), self._everything)

    @property
    def members(self) -> list[index.Member]:
        """The package's other files that can build with this one (only asked of all files when a question needs
        all of them: a lookup by name checks the build constraints of its candidates alone)."""
        if self._members is None:
            self._members = [m for m in self._package.members if self._sees(m)]
        return self._members

    def _sees(self, member: index.Member) -> bool:
        if member.path == self._path:
            return False
        found = self._fits.get(member)
        if found is None:
            found = self._fits[member] = buildtags.compatible(self._constraint, member.constraint)
        return found

    def _declaring_function(self, name: str) -> list[index.FileFacts]:
        return [m.facts for m in self._shared.function_files().get(name, []) if self._sees(m)]

    def _mentioning(self, name: str) -> list[index.FileFacts]:
        return [m.facts for m in self._package.mentioning(name) if self._sees(m)]

    def _everything(self) -> Package:
        return _merged(self.name, list(self.facts))

    @property
    def files(self) -> tuple[Sibling, ...]:
        return tuple(Sibling(m.path, m.facts.source) for m in self.members)

    @property
    def facts(self) -> tuple[index.FileFacts, ...]:
        return tuple(m.facts for m in self.members)

    def imports(self) -> list[Import]:
        return [i for m in self.members for i in m.facts.imports]

    def texts(self) -> list[bytes]:
        """The files' texts, read without parsing them."""
        return [m.raw for m in self.members]

    def holds_any(self, words: list[bytes]) -> bool:
        """Whether some file's text holds one of ``words`` (``any`` over :meth:`texts`, the texts read first)."""
        return any(self._sees(m) for m in self._shared.holding(tuple(words)))

    def may_declare_function(self, name: str) -> bool:
        """Whether some file may declare a function or method ``name`` (a superset of ``name in functions``,
        read from the texts without parsing)."""
        return any(self._sees(m) for m in self._shared.function_files().get(name, []))

    def mentioning(self, *words: str) -> list[Sibling]:
        """The files whose text holds every one of ``words`` (parsed)."""
        found = [m for m in self._package.members if all(w.encode() in m.raw for w in words) and self._sees(m)]
        return [Sibling(m.path, index.source_for(m.path, m.raw)) for m in found]

    def imports_path(self, path: str) -> bool:
        """Whether some file imports ``path`` (the package's importers are found once for all its files)."""
        return any(self._sees(m) for m in self._shared.importers(path))

    def types_holding(self, name: str, words: tuple[bytes, ...]) -> list[Node]:
        """``types[name]`` from the files whose text holds one of ``words`` (only those that also hold ``name``
        are parsed)."""
        # The files that spell the name, found once per package, are fewer than those holding one of ``words``.
        found = [m for m in self._package.mentioning(name) if self._sees(m) and any(w in m.raw for w in words)]
        return [n for m in found for n in m.facts.types.get(name, [])]


def _functions_named(facts: index.FileFacts, name: str) -> list[Node]:
    """A file's functions called ``name``, then its methods called ``name``, as :func:`siblings` orders them."""
    methods = [m.node for ms in facts.methods.values() for m in ms if m.name == name]
    return [*facts.functions.get(name, []), *methods]


class _Declared(Mapping[str, list[Node]]):
    """Declarations of the sibling files by name, each name looked up in the files that may declare it."""

    def __init__(
        self,
        files: Callable[[str], list[index.FileFacts]],
        table: Callable[[index.FileFacts, str], list[Node]],
        everything: Callable[[], Package],
    ) -> None:
        self._files = files
        self._table = table
        self._everything = everything
        self._found: dict[str, list[Node]] = {}

    def __getitem__(self, name: str) -> list[Node]:
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = [n for f in self._files(name) for n in self._table(f, name)]
        if not found:
            raise KeyError(name)
        return found

    def _all(self) -> dict[str, list[Node]]:
        eager = self._everything()
        return eager.functions if self._table is _functions_named else eager.types

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


# What stands between ``func`` and the name it declares: white space, comments, a receiver (one level of
# parentheses inside, ``(r (*T))``), over any number of lines. A func literal yields its result type's name.
_FUNCTION_NAME = re.compile(
    rb"func\b(?:\s|/\*.*?\*/|//[^\n]*\n)*(?:\((?:[^()]|\([^()]*\))*\)(?:\s|/\*.*?\*/|//[^\n]*\n)*)?"
    rb"((?:\w|[\x80-\xff])+)",  # a Go identifier, Unicode letters as their UTF-8 bytes
    re.S,
)


def function_names(raw: bytes) -> frozenset[str]:
    """Every name a file's text may declare as a function or method: a superset, read without parsing."""
    return frozenset(m[1].decode() for m in _FUNCTION_NAME.finditer(raw))


@dataclass
class _Shared:
    """What every file of a package asks of the package's files, worked out once (a file then keeps those it sees)."""

    package: index.Package
    members: list[index.Member]
    _fitting: dict[tuple[str, ...], dict[index.Member, bool]] = field(default_factory=dict)
    _functions: dict[str, list[index.Member]] | None = None
    _importers: dict[str, list[index.Member]] = field(default_factory=dict)
    _holding: dict[tuple[bytes, ...], list[index.Member]] = field(default_factory=dict)

    def fitting(self, constraint: tuple[str, ...]) -> dict[index.Member, bool]:
        """Whether each member asked about so far can build with a file of ``constraint`` (as index.PackageView
        keeps them), filled in by the files of that constraint."""
        return self._fitting.setdefault(constraint, {})

    def holding(self, words: tuple[bytes, ...]) -> list[index.Member]:
        """The members whose text holds one of ``words``."""
        found = self._holding.get(words)
        if found is None:
            found = self._holding[words] = [m for m in self.members if any(w in m.raw for w in words)]
        return found

    def importers(self, path: str) -> list[index.Member]:
        """The members that import ``path``: only those whose text holds it quoted (``"log"``) are parsed."""
        found = self._importers.get(path)
        if found is None:
            quoted = (f'"{path}"'.encode(), f"`{path}`".encode())
            # A text quoting the path holds each part of it: "log", which most logging packages' paths hold,
            # is looked for once per package for all of them.
            part = b"log" if b"log" in quoted[0] else path.encode()
            candidates = [m for m in self.holding((part,)) if any(q in m.raw for q in quoted)]
            found = self._importers[path] = [
                m for m in candidates if any(i.path == path for i in imports(index.source_for(m.path, m.raw)))
            ]
        return found

    def function_files(self) -> dict[str, list[index.Member]]:
        """The members that may declare a function or method, by its name, in the package's order."""
        if self._functions is None:
            found: dict[str, list[index.Member]] = {}
            for member in self.members:
                for name in function_names(member.raw):
                    found.setdefault(name, []).append(member)
            self._functions = found
        return self._functions


def _shared(package: index.Package) -> _Shared:
    return package.remembered("package.shared", lambda p: _Shared(p, list(p.members)))


# -- where a call of a file leads in its package -------------------------------


@dataclass
class File:
    """A file read with its package once: what a call in it may run, and the answers worked out per node."""

    source: Source
    package: Lazy
    imports: frozenset[str]  # the names the file's imports take
    declared: dict[str, list[Node]]  # its functions and methods by name
    memo: dict[tuple[str, int], tuple[Node, object]] = field(default_factory=dict)  # by question and node


def file_in(source: Source, package: Lazy) -> File:
    """The file ``source`` of ``package``, its imports and declarations read once per file (:func:`own_file`)."""
    return File(source, package, *own_file(source))


def text(node: Node | None) -> str:
    """A node's text, whichever file of the package it comes from."""
    return node.text.decode() if node is not None and node.text is not None else ""


def remembered(file: File, question: str, node: Node, answer: Callable[[], T]) -> T:
    """``answer()``, worked out once per file: what the rule asks of a node does not depend on the goroutine."""
    key = (question, node.id)
    hit = file.memo.get(key)
    if hit is not None and hit[0] == node:
        return hit[1]  # type: ignore[return-value]
    found = answer()
    file.memo[key] = (node, found)
    return found


def callee_bodies(file: File, function: Node) -> list[Node] | None:
    """Bodies of the functions a call expression's function part may be, in this file or the package."""
    return remembered(file, "callees", function, lambda: _find_callee_bodies(file, function))


def goroutine_bodies(file: File, go: Node, literal: Node | None) -> list[Node] | None:
    """The body (bodies, for a method name several types share) the goroutine runs; None when unknown.

    ``literal`` is the func literal ``go`` starts (:func:`gofix_conc.goroutines.literal_of`), if any.
    """
    if literal is not None:
        body = literal.child_by_field_name("body")
        return [body] if body is not None else None
    call = goroutines.call_of(go)
    function = call.child_by_field_name("function") if call is not None else None
    return callee_bodies(file, function) if function is not None else None


def _find_callee_bodies(file: File, function: Node) -> list[Node] | None:
    found: list[Node] = []
    if function.type == "identifier":
        decl = scopes.resolve(function)
        if decl is None:
            found = [d for d in declarations(file, text(function)) if d.type == "function_declaration"]
        elif decl.kind == "func":
            found = [decl.construct]
        else:
            literal = bound_literal(decl)
            found = [literal] if literal is not None else []
    elif function.type == "selector_expression":
        operand = function.child_by_field_name("operand")
        name = function.child_by_field_name("field")
        if operand is None or name is None:
            return None
        if text(name) not in file.declared and not file.package.may_declare_function(text(name)):
            return None  # no file of the package declares a method of that name
        if is_package(file, operand):
            return None  # another package
        if of_another_package(operand):
            return None  # ready.Broadcast() with ready *sync.Cond: not a method of this package
        found = [d for d in declarations(file, text(name)) if d.type == "method_declaration"]
        receiver = type_name(operand)
        if receiver is not None:
            found = [d for d in found if receiver_type(d) == receiver]
    bodies = [b for d in found if (b := d.child_by_field_name("body")) is not None]
    return bodies or None


def declarations(file: File, name: str) -> list[Node]:
    """Functions and methods called ``name``: this file's, else the package's other files'."""
    own = file.declared.get(name)
    return list(own) if own else file.package.functions.get(name, [])


# Per file, while its Source lives: the names its imports take, its functions and methods by name.
# Weak, so the tree is let go of where the engine lets go of the file.
_OWN: weakref.WeakKeyDictionary[Source, tuple[frozenset[str], dict[str, list[Node]]]] = weakref.WeakKeyDictionary()


def own_file(source: Source) -> tuple[frozenset[str], dict[str, list[Node]]]:
    """The names the file's imports take and its functions and methods by name, read once per file."""
    found = _OWN.get(source)
    if found is None:
        declared: dict[str, list[Node]] = {}
        for n in declaration_names(source):
            declared.setdefault(text(n), []).append(n.parent)  # type: ignore[arg-type]
        found = _OWN[source] = (frozenset(i.local_name for i in imports(source)), declared)
    return found


def bound_literal(decl: scopes.Declaration) -> Node | None:
    """The func literal a local variable is declared with and never reassigned."""
    value = scopes.initial_value(decl)
    function = scopes.enclosing_function(decl.construct)
    if value is None or value.type != "func_literal" or function is None:
        return None
    rewritten = [w for w in scopes.writes(decl, scopes.top_level(function)) if w != decl.node]
    return None if rewritten else value


def type_name(operand: Node) -> str | None:
    """``T`` for a variable declared ``x T``, ``x *T``, ``x := T{...}`` or ``x := &T{...}``; else None."""
    decl = scopes.resolve(operand) if operand.type == "identifier" else None
    if decl is None:
        return None
    declared = decl.construct.child_by_field_name("type")
    if declared is None and decl.construct.type == "short_var_declaration":
        value = scopes.initial_value(decl)
        if value is not None and value.type == "unary_expression":
            value = value.child_by_field_name("operand")
        if value is not None and value.type == "composite_literal":
            declared = value.child_by_field_name("type")
    return type_name_of(declared)


def of_another_package(operand: Node) -> bool:
    """A variable declared with a type of another package (``x *sync.Cond``)."""
    decl = scopes.resolve(operand) if operand.type == "identifier" else None
    declared = decl.construct.child_by_field_name("type") if decl is not None else None
    while declared is not None and declared.type == "pointer_type":
        declared = declared.named_children[0]
    return declared is not None and declared.type == "qualified_type"


def receiver_type(method: Node) -> str | None:
    receiver = method.child_by_field_name("receiver")
    declaration = receiver.named_children[0] if receiver is not None and receiver.named_children else None
    return type_name_of(declaration.child_by_field_name("type")) if declaration is not None else None


def type_name_of(declared: Node | None) -> str | None:
    while declared is not None and declared.type in ("pointer_type", "generic_type"):
        declared = declared.named_children[0]
    return text(declared) if declared is not None and declared.type == "type_identifier" else None


def is_package(file: File, operand: Node) -> bool:
    """``x`` in ``x.F`` names an imported package (not shadowed by a local declaration)."""
    if operand.type != "identifier" or text(operand) not in file.imports:
        return False  # asked first: resolving the name costs more
    return scopes.resolve(operand) is None


def field_is_channel(file: File, selector: Node) -> bool:
    """``x.f`` where ``x``'s struct type, declared in the package, has ``f chan T``."""
    operand = selector.child_by_field_name("operand")
    owner = type_name(operand) if operand is not None else None
    if owner is None:
        return False
    specs = [s for s in captures(TYPES, file.source.root).get("name", []) if text(s) == owner]
    for spec in [s.parent for s in specs if s.parent is not None] + file.package.types.get(owner, []):
        struct = spec.child_by_field_name("type")
        field_type = scopes.struct_field_type(struct, text(selector.child_by_field_name("field"))) if struct else None
        if field_type is not None and field_type.type == "channel_type":
            return True
    return False


def is_channel(file: File, expr: Node) -> bool:
    """A range operand known to be a channel: ``ch`` declared ``chan T`` or ``make(chan T)``, ``t.C``."""
    if expr.type == "selector_expression":
        return text(expr.child_by_field_name("field")) == "C" or field_is_channel(file, expr)
    return concurrency.is_channel_variable(expr)


def in_file(file: File, node: Node) -> bool:
    """Whether ``node`` belongs to the file being checked (not to another file of the package)."""
    return scopes.top_level(node).parent == file.source.root


def declaration_names(source: Source) -> list[Node]:
    """The names of the file's functions and methods, in order (read once per file). Read only."""
    found = _DECLARATION_NAMES.get(source)
    if found is None:
        found = _DECLARATION_NAMES[source] = _declaration_names(source)
    return found


_DECLARATION_NAMES: weakref.WeakKeyDictionary[Source, list[Node]] = weakref.WeakKeyDictionary()


def _declaration_names(source: Source) -> list[Node]:
    if source.root.has_error:  # an error node may hold a declaration: look through the whole tree
        query = "[(function_declaration name: (identifier) @n) (method_declaration name: (field_identifier) @n)]"
        return [n for n in captures(query, source.root).get("n", []) if n.parent is not None]
    # Without errors, functions and methods are declared at the top level only.
    return [
        n
        for d in source.root.named_children
        if d.type in ("function_declaration", "method_declaration") and (n := d.child_by_field_name("name")) is not None
    ]
