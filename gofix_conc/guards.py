"""Which fields and package variables a package guards with which mutex, and which accesses hold it.

:func:`package_guards` reads a package on demand: the struct fields and
package variables that a mutex of their struct (or a package-level mutex)
guards, the accesses made with it held, and for one file the accesses made
with no lock held, with why their functions may run concurrently (exported,
started with ``go``, handed to a call, called without the lock from one of
those) or are taken to run with the lock held (``...Locked``, a doc comment,
every caller holding it). Built on :mod:`gofix_conc.locks`.
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gofix_conc import index, locks, scopes
from gofix_conc.index import PackageView
from gofix_conc.source import Source, spelled


@dataclass
class Guards:
    """What a package guards as one file needs it: guarded state, every access to it, why functions run
    concurrently or with the lock held."""

    mutex_kinds: dict[tuple[str, str], str]  # (type or "", mutex) -> Mutex/RWMutex
    accesses: dict[tuple[str, str], list[locks.Access]]
    paths: dict[int, Path]  # id of a declaration node -> its file
    concurrent: dict[int, str]  # id of a declaration node -> why it may run concurrently
    exempt: dict[int, str]  # id of a declaration node -> why the lock is taken to be held
    _unguarded: dict[Path, list[tuple[locks.Access, list[locks.Access]]]] | None = None

    def unguarded(self, path: Path) -> list[tuple[locks.Access, list[locks.Access]]]:
        """The accesses of one file made with no lock held to state some function writes with its mutex
        held, each with those guarded accesses (worked out once for the package)."""
        if self._unguarded is None:
            self._unguarded = {}
            for key, accesses in self.accesses.items():
                guarded = [a for a in accesses if any(is_mutex_of(self.mutex_kinds, key, name) for name, _ in a.locks)]
                if not any(a.write for a in guarded):
                    continue  # no discipline to follow: the field is never written with the lock held
                for access in accesses:
                    where = self.paths.get(id(access.function))
                    if not access.any_lock and where is not None:
                        self._unguarded.setdefault(where, []).append((access, guarded))
        return self._unguarded.get(path, [])


# -- the package -------------------------------------------------------------------

_ANALYSED: OrderedDict[tuple, tuple[tuple, PackageGuards | None]] = index.package_cache(OrderedDict())  # type: ignore[type-arg]


def package_guards(view: PackageView) -> PackageGuards | None:
    """What the package guards, read on demand; None when nothing is locked."""
    here = str(view.path)
    place = (os.path.dirname(here), view.name, view.is_test)
    package = index.package(view.path.parent, view.name, view.is_test)  # the index's, while it keeps it
    # The package's files that call Lock(), asked once per package rather than for each of its files.
    locking = package.remembered("guards.locking", lambda p: tuple(str(m.path) for m in p.mentioning("Lock()")))
    if b"Lock()" not in view.source.data and not any(path != here for path in locking):
        return None  # most packages: nothing of the package is parsed beyond this file
    contents = package.fingerprint(view.path, view.source.raw())
    kept = _ANALYSED.get(place)
    if kept is None or kept[0] != contents:
        lazy = PackageGuards(view)
        kept = _ANALYSED[place] = (contents, lazy if lazy.fields or lazy.mutexes else None)
        while len(_ANALYSED) > 4:
            _ANALYSED.popitem(last=False)
    return kept[1]


class PackageGuards:
    """The package seen from the first file that asked, read on demand.

    At once: the guarded fields and variables, and the accesses to them made
    with their mutex held (only files and functions that call ``Lock`` can
    hold one). For one file: its unguarded accesses to what is written under
    a lock, and for their functions the callers, callers' callers and
    goroutine starts, found in the files that name them. Every answer is the
    one the whole-package analysis (:func:`_package` over
    :func:`locks.collect` of every file) gives, orders included.
    """

    def __init__(self, view: PackageView) -> None:
        self.view = view
        members = view.members()  # the files view.files() yields, in its order
        self._members = {m.path: m for m in members}
        self._texts = {view.path: view.source.data, **{m.path: m.raw for m in members}}
        self._sorted = sorted(self._texts)
        self.fields: dict[str, set[str]] = {}
        self.kinds: dict[tuple[str, str], str] = {}
        self.mutexes: dict[str, str] = {}
        for path, text in self._texts.items():
            if b"Mutex" not in text or not _declares_mutex(self._source(path)):
                continue  # a mutex field or variable is declared sync.Mutex or sync.RWMutex at the top level
            facts = self._facts(path)
            for struct, sync_fields in facts.sync_fields.items():
                mutex_fields = {s.name: s.kind for s in sync_fields if s.kind != "Pool"}
                if not mutex_fields:
                    continue
                declared = locks.struct_fields(view.type_spec(struct))
                self.fields[struct] = {
                    name for name, kind in declared.items() if name not in mutex_fields and not locks.is_sync_type(kind)
                }
                self.kinds.update({(struct, name): kind for name, kind in mutex_fields.items()})
            self.mutexes.update(locks.package_mutexes(facts.variables))
        self.kinds.update({("", name): kind for name, kind in self.mutexes.items()})
        self._files: dict[Path, tuple[list[tuple[Node, Node]], list[int]]] = {}
        self._named: dict[Path, dict[str, list[Node]]] = {}
        self._convention: dict[int, bool] = {}
        self._where: dict[int, Path] = {}  # id of a declaration -> its file
        self._variables: dict[str, bool] = {}
        self._accesses: dict[int, list[tuple[tuple[int, int], locks.Access]]] = {}
        self._first: dict[tuple[str, str], tuple] = {}
        self._calls: dict[tuple[Path, str], tuple[list[locks.Call], bool, list[Node]]] = {}
        self._callers: dict[tuple[str, str], list[locks.Call]] = {}
        self._bodies: dict[int, tuple[Node, list[dict[str, list[Node]]]]] = {}
        self._exempt: dict[int, str | None] = {}
        self.guarded: dict[tuple[str, str], list[locks.Access]] = {}
        if self.fields or self.mutexes:
            self._locked_accesses()
        self.keys = [k for k, accesses in self.guarded.items() if any(a.write for a in accesses)]
        self._key_fields: dict[str, set[str]] = {}  # struct type -> its keys' fields
        self._key_variables: set[str] = set()
        for struct, field in self.keys:
            if struct:
                self._key_fields.setdefault(struct, set()).add(field)
            else:
                self._key_variables.add(field)

    def _facts(self, path: Path) -> index.FileFacts:
        member = self._members.get(path)
        return member.facts if member is not None else self.view.own

    def _source(self, path: Path) -> Source:
        """A file's tree, without the index's facts of it (most files are only searched)."""
        member = self._members.get(path)
        return index.source_for(member.path, member.raw) if member is not None else self.view.source

    def _declarations(self, path: Path) -> list[tuple[Node, Node]]:
        """:func:`locks.declarations` of a file, one object per declaration whoever asks (they are keyed by id)."""
        return self._listed(path)[0]

    def _listed(self, path: Path) -> tuple[list[tuple[Node, Node]], list[int]]:
        """A file's declarations with their bodies, and where the bodies start."""
        found = self._files.get(path)
        if found is None:
            listed = list(locks.declarations(self._source(path).root))
            where = self._where
            for declaration, _ in listed:
                where[id(declaration)] = path
            found = self._files[path] = (listed, [body.start_byte for _, body in listed])
        return found

    def _by_name(self, path: Path) -> dict[str, list[Node]]:
        """A file's declarations by name (only the call lookups ask)."""
        found = self._named.get(path)
        if found is None:
            found = self._named[path] = {}
            for declaration, _ in self._listed(path)[0]:
                found.setdefault(declaration_name(declaration), []).append(declaration)
        return found

    def _mentioning(self, name: str) -> list[Path]:
        """The files, in the package's order, whose text holds ``name``: the only ones that can use it."""
        word = name.encode()
        return [path for path in self._sorted if word in self._texts[path]]

    def __contains__(self, name: str) -> bool:
        """Whether ``name`` is a package variable not of a sync type in some file (the whole analysis's
        ``variables``), reading only the files that may declare it."""
        found = self._variables.get(name)
        if found is None:
            word = name.encode()
            files = [self.view.path] + [
                path for path, member in self._members.items() if word in member.raw and member.may_declare(name)
            ]
            found = self._variables[name] = any(
                bool(specs) and not any(locks.is_sync_type(s.child_by_field_name("type")) for s in specs)
                for specs in (self._facts(path).variables.get(name, []) for path in files)
            )
        return found

    # -- accesses -----------------------------------------------------------------------

    def _variable_access(self, ident: Node, declaration: Node, variables: Container[str]) -> locks.Access | None:
        """:func:`locks.variable_access`, its tests on the identifier first: ``variables`` may read other files."""
        parent = ident.parent
        if (parent is not None and parent.type == "selector_expression") or ident.text in (b"_", None):
            return None
        if ident.text.decode() in self.mutexes:  # type: ignore[union-attr]
            return None
        decl = scopes.resolve(ident)
        if decl is not None and (decl.kind != "var" or scopes.enclosing_function(decl.node) is not None):
            return None  # a local name
        return locks.variable_access(ident, declaration, variables, self.mutexes)

    def _locked_accesses(self) -> None:
        """The accesses made with a mutex of their struct (or a package mutex) held, in the package's order."""
        found: list[locks.Access | tuple[Node, Node]] = []
        for path in self._sorted:
            if b"Lock" not in self._texts[path]:
                continue  # a held mutex needs a Lock or RLock call in the same function
            source = self._source(path)
            taking = _taking(source)
            starts = [at for at, _ in taking]
            for declaration, body in self._declarations(path):
                first = bisect.bisect_left(starts, body.start_byte)
                taken = taking[first : bisect.bisect_left(starts, body.end_byte)]
                if not taken:
                    continue  # held() finds only the Lock and RLock statements of the function
                receiver, kind = locks.receiver_of(declaration)
                fields = self.fields.get(kind, set()) if receiver else set()
                # held() at a node holds what statements before it took: the first lock of a guarding mutex
                field_lock = next(
                    (
                        at
                        for at, m in taken
                        if (n := locks.normalised(m, receiver)) is not None and is_mutex_of(self.kinds, (kind, ""), n)
                    ),
                    None,
                )
                variable_lock = next((at for at, m in taken if m in self.mutexes), None)
                if field_lock is None:
                    fields = set()  # no mutex of the receiver's type is locked: no field access here is guarded
                if not fields and variable_lock is None:
                    continue
                mine = receiver.encode()
                for match in locks.uses(body, variable_lock is not None):
                    if "selector" in match:
                        if match["receiver"][0].text != mine or (match["field"][0].text or b"").decode() not in fields:
                            continue  # field_access's own tests, before held()
                        if match["selector"][0].start_byte < field_lock or not locks.held(
                            match["selector"][0], declaration
                        ):
                            continue  # nothing is locked here
                        access = locks.field_access(match, declaration, receiver, kind, fields)
                    elif "ident" in match:
                        ident = match["ident"][0]
                        parent = ident.parent
                        if (parent is not None and parent.type == "selector_expression") or ident.text in (b"_", None):
                            continue  # _variable_access's own tests, before held(): not a package variable
                        if ident.text.decode() in self.mutexes:  # type: ignore[union-attr]
                            continue
                        if ident.start_byte < variable_lock or not any(  # type: ignore[operator]
                            m in self.mutexes for m in locks.held(ident, declaration)
                        ):
                            continue  # no package mutex is held here: no variable it guards is locked
                        if not locks.is_write(ident):
                            found.append((ident, declaration))  # wanted only for a variable written under a lock
                            continue
                        access = self._variable_access(ident, declaration, self)
                    else:
                        continue
                    if access is not None and any(is_mutex_of(self.kinds, access.key, n) for n, _ in access.locks):
                        found.append(access)
        written = {a.key[1] for a in found if isinstance(a, locks.Access) and not a.key[0] and a.write}
        for item in found:
            if isinstance(item, tuple):
                if (item[0].text or b"").decode() not in written:
                    continue  # no variable of that name is written under a lock: the rule looks no further at it
                access = self._variable_access(item[0], item[1], self)
                if access is None or not any(is_mutex_of(self.kinds, access.key, n) for n, _ in access.locks):
                    continue
                item = access
            self.guarded.setdefault(item.key, []).append(item)

    def _accesses_of(self, declaration: Node, body: Node) -> list[tuple[tuple[int, int], locks.Access]]:
        """Every access of a declaration as :func:`locks.collect` lists them, with their place in that list."""
        found = self._accesses.get(id(declaration))
        if found is None:
            receiver, kind = locks.receiver_of(declaration)
            fields = self.fields.get(kind, set()) if receiver else set()
            found = self._accesses[id(declaration)] = []
            for match in locks.uses(body, bool(self.mutexes)):
                if "selector" in match:
                    access = locks.field_access(match, declaration, receiver, kind, fields)
                    place = (0, match["selector"][0].start_byte)
                elif "ident" in match:
                    access = self._variable_access(match["ident"][0], declaration, self)
                    place = (1, match["ident"][0].start_byte)  # collect reads identifiers after selectors
                else:
                    continue
                if access is not None:
                    found.append((place, access))
        return found

    def _places_of(self, source: Source, declaration: Node, body: Node, key: tuple[str, str]) -> list[tuple[int, int]]:
        """The places in :meth:`_accesses_of`'s list of a declaration's accesses to ``key``, found where the key's
        name is written (an access to it is a selector ``x.name`` or the identifier ``name``): the first is the least.
        """
        known = self._accesses.get(id(declaration))
        if known is not None:
            return [p for p, a in known if a.key == key]
        receiver, kind = locks.receiver_of(declaration)
        fields = self.fields.get(kind, set()) if receiver else set()
        word = key[1].encode()
        places = []
        for at in spelled(source.data, word, body.start_byte, body.end_byte):
            leaf = source.root.descendant_for_byte_range(at, at + len(word))
            if leaf is None or (leaf.start_byte, leaf.end_byte) != (at, at + len(word)):
                continue  # part of a longer token, or not a token
            selector = leaf.parent
            if leaf.type == "field_identifier" and selector is not None and selector.type == "selector_expression":
                operand = selector.child_by_field_name("operand")
                if operand is None or operand.type != "identifier" or selector.child_by_field_name("field") != leaf:
                    continue  # not a selector locks.uses matches
                access = locks.field_access(_as_match(selector), declaration, receiver, kind, fields)
                place = (0, selector.start_byte)
            elif leaf.type == "identifier" and self.mutexes:
                access = self._variable_access(leaf, declaration, self)
                place = (1, at)
            else:
                continue
            if access is not None and access.key == key:
                places.append(place)
        return places

    def _first_access(self, key: tuple[str, str]) -> tuple:
        """Where the package's first access to ``key`` is: the order of keys in the whole analysis."""
        found = self._first.get(key)
        if found is None:
            word = key[1].encode()
            found = ()
            for path in self._mentioning(key[1]):
                source = self._source(path)
                for declaration, body in self._declarations(path):
                    if source.data.find(word, body.start_byte, body.end_byte) >= 0:
                        places = self._places_of(source, declaration, body, key)
                        if places:
                            found = (path, declaration.start_byte, *min(places))
                            break
                if found:
                    break
            self._first[key] = found
        return found

    # -- one file -----------------------------------------------------------------------

    def for_file(self, path: Path) -> Guards | None:
        """The package as far as ``path``'s findings need it; None when the file can have none."""
        if path not in self._texts or not self.keys:
            return None  # a file the package was not read with, or no field is written under its lock
        source = self._source(path)
        variables = self._key_variables
        names = set(variables)
        for struct, fields in self._key_fields.items():
            if next(spelled(source.data, struct.encode()), None) is not None:
                names |= fields  # a field counts through the receiver of a method of its type, which names the type
        if not names:
            return None
        declarations, bodies = self._listed(path)
        named: dict[int, tuple[list[Node], list[Node]]] = {}  # declaration -> its selectors, its identifiers
        for start, end in _occurrences(source.data, names):
            at = bisect.bisect_right(bodies, start) - 1
            if at < 0 or start >= declarations[at][1].end_byte:
                continue  # outside the functions' bodies
            leaf = source.root.descendant_for_byte_range(start, end)
            if leaf is None or (leaf.start_byte, leaf.end_byte) != (start, end):
                continue  # part of a longer token, or not a token
            parent = leaf.parent
            if leaf.type == "field_identifier" and parent is not None and parent.type == "selector_expression":
                operand = parent.child_by_field_name("operand")
                if operand is not None and operand.type == "identifier":
                    named.setdefault(at, ([], []))[0].append(parent)
            elif leaf.type == "identifier" and leaf.text is not None and leaf.text.decode() in variables:
                named.setdefault(at, ([], []))[1].append(leaf)
        unguarded: dict[tuple[str, str], list[locks.Access]] = {}
        for at, (selectors, identifiers) in sorted(named.items()):  # as locks.uses: selectors, then identifiers
            declaration = declarations[at][0]
            receiver, kind = locks.receiver_of(declaration)
            fields = self._key_fields.get(kind, set()) if receiver else set()
            found = [locks.field_access(_as_match(s), declaration, receiver, kind, fields) for s in selectors]
            found += [self._variable_access(ident, declaration, variables) for ident in identifiers]
            for access in found:
                if access is not None and not access.any_lock:
                    unguarded.setdefault(access.key, []).append(access)
        if not unguarded:
            return None
        functions = list({id(a.function): a.function for group in unguarded.values() for a in group}.values())
        exempt, concurrent = self._statuses(functions)
        accesses = {key: self.guarded[key] + group for key, group in unguarded.items()}
        paths = {id(a.function): self._where[id(a.function)] for group in accesses.values() for a in group}
        return Guards(self.kinds, accesses, paths, concurrent, exempt)

    def in_package_order(self, package: Guards) -> Guards:
        """``package`` with its keys in the whole analysis's order (which pairs of a statement come first)."""
        accesses = dict(sorted(package.accesses.items(), key=lambda item: self._first_access(item[0])))
        return Guards(package.mutex_kinds, accesses, package.paths, package.concurrent, package.exempt)

    # -- who calls a function, and whether it may run concurrently ---------------------

    def _statuses(self, functions: list[Node]) -> tuple[dict[int, str], dict[int, str]]:
        """Why ``functions`` run with the lock held (exempt) or may run concurrently, as :func:`_package` says."""
        exempt: dict[int, str] = {}
        concurrent: dict[int, str] = {}
        seen: dict[int, Node] = {}
        stack = list(functions)
        while stack:  # the functions and their callers without the lock, up to exempt or concurrent ones
            node = stack.pop()
            if id(node) in seen:
                continue
            seen[id(node)] = node
            reason = self._exemption(node)
            if reason is not None:
                exempt[id(node)] = reason
                continue
            name = declaration_name(node)
            if name[:1].isupper():
                concurrent[id(node)] = "is exported and may run concurrently"
            elif self._started(name):
                concurrent[id(node)] = "is started as a goroutine or used as a callback"
            else:
                stack += [c.caller for c in self._callers_of(node) if not c.locked]
        direct = dict(concurrent)
        pending = [n for n in seen.values() if id(n) not in exempt and id(n) not in concurrent]
        changed = True
        while changed:  # the least fixpoint of _package's loop, whatever its order
            changed = False
            for node in pending:
                if id(node) not in concurrent and self._via(node, exempt, concurrent):
                    concurrent[id(node)] = ""
                    changed = True
        if all(self._named_via(node, exempt, concurrent, direct) for node in functions):
            return exempt, concurrent
        # Which caller _package names depends on when its loop gets to each function: run that loop.
        concurrent = dict(direct)
        pending.sort(key=self._order)
        changed = True
        while changed:
            changed = False
            for node in pending:
                via = self._via(node, exempt, concurrent) if id(node) not in concurrent else []
                if via:
                    concurrent[id(node)] = f"is called without the lock from {declaration_name(via[0].caller)}"
                    changed = True
        return exempt, concurrent

    def _named_via(
        self, node: Node, exempt: dict[int, str], concurrent: dict[int, str], direct: dict[int, str]
    ) -> bool:
        """Names the caller a function found concurrent is called from when every caller that can be the
        first one found has the same name; False when that depends on the order."""
        if concurrent.get(id(node)) != "":
            return True  # not found concurrent, or for a reason of its own
        via = self._via(node, exempt, concurrent)
        first = next((i for i, c in enumerate(via) if c.goroutine or id(c.caller) in direct), len(via) - 1)
        names = {declaration_name(c.caller) for c in via[: first + 1]}
        if len(names) != 1:
            return False
        concurrent[id(node)] = f"is called without the lock from {names.pop()}"
        return True

    def _via(self, node: Node, exempt: dict[int, str], concurrent: dict[int, str]) -> list[locks.Call]:
        return [
            c
            for c in self._callers_of(node)
            if not c.locked and (c.goroutine or id(c.caller) in concurrent) and id(c.caller) not in exempt
        ]

    def _order(self, node: Node) -> tuple:
        """Where _package's loop gets to a function: its key's first declaration, then its own place."""
        key = declaration_key(node)
        places = [self._place(d) for d in self._declared(key)]
        return (min(p for p in places if p is not None), self._place(node))

    def _place(self, declaration: Node) -> tuple | None:
        """A declaration's place in _package's list: functions with accesses first, by the first access of
        their earliest key, then callers by file and position; None for neither."""
        path = self._where[id(declaration)]
        body = declaration.child_by_field_name("body")
        accesses = self._accesses_of(declaration, body) if body is not None else []
        if accesses:
            first = min(self._first_access(a.key) for _, a in accesses)
            return (0, first, path, declaration.start_byte)
        receiver = locks.receiver_of(declaration)[0].encode()
        calls = self._body_calls(body) if body is not None else []
        if any(not m.get("on") or m["on"][0].text == receiver for m in calls):
            return (1, path, declaration.start_byte)
        return None

    def _declared(self, key: tuple[str, str]) -> list[Node]:
        """The declarations of a function or method (several in files of different builds)."""
        return [
            d
            for path in self._mentioning(key[1])
            for d in self._calls_named(path, key[1])[2]
            if declaration_key(d) == key
        ]

    def _exemption(self, node: Node) -> str | None:
        if id(node) not in self._exempt:
            self._exempt[id(node)] = why_lock_held(node, lambda: self._callers_of(node))
        return self._exempt[id(node)]

    def _callers_of(self, node: Node) -> list[locks.Call]:
        """The calls of a function through a receiver or by name, in the package's order."""
        key = declaration_key(node)
        found = self._callers.get(key)
        if found is None:
            found = self._callers[key] = [
                c for path in self._mentioning(key[1]) for c in self._calls_named(path, key[1])[0] if c.callee == key
            ]
        return found

    def _started(self, name: str) -> bool:
        """Whether a file starts ``name`` with go or hands it to a call (:func:`locks.collect`'s ``started``)."""
        for path in self._mentioning(name):  # go name(), go s.name(), f(name), f(s.name) name it
            if self._calls_named(path, name)[1]:
                return True
            if _handed(self._source(path), name):
                return True
        return False

    def _calls_named(self, path: Path, name: str) -> tuple[list[locks.Call], bool, list[Node]]:
        """The calls of ``name`` in one file as :func:`locks.collect` records them, whether one starts it with
        go, and the declarations named ``name``; the calls found where the name is written in a function's body
        (in source order, the order of the query's matches) rather than from every call of the bodies."""
        found = self._calls.get((path, name))
        if found is None:
            source = self._source(path)
            listed, starts = self._listed(path)
            word = name.encode()
            calls: list[locks.Call] = []
            started = False
            for at in spelled(source.data, word):
                i = bisect.bisect_right(starts, at) - 1
                if i < 0 or at >= listed[i][1].end_byte:
                    continue  # outside the functions' bodies
                match = _call_named(source.root, at, len(word))
                if match is None:
                    continue
                declaration = listed[i][0]
                receiver, kind = locks.receiver_of(declaration)
                call = locks.call_of(match, declaration, receiver, kind, self._conventional(declaration))
                if call is not None:
                    calls.append(call)
                    parent = match["call"][0].parent
                    started = started or (parent is not None and parent.type == "go_statement")
            found = self._calls[path, name] = (calls, started, self._by_name(path).get(name, []))
        return found

    def _conventional(self, declaration: Node) -> bool:
        found = self._convention.get(id(declaration))
        if found is None:
            found = self._convention[id(declaration)] = locks.by_convention(declaration)
        return found

    def _body_calls(self, body: Node) -> list[dict[str, list[Node]]]:
        found = self._bodies.get(body.id)
        if found is None or found[0] != body:
            found = self._bodies[body.id] = (body, [m for m in locks.uses(body, False) if "call" in m])
        return found[1]


def _handed(source: Source, name: str) -> bool:
    """Whether ``name`` is in :func:`locks.handed` of a file: ``f(name)`` or ``f(x.name)``, not ``once.Do(...)``;
    looked up where the name is written rather than by a query over the file."""
    word = name.encode()
    for at in spelled(source.data, word):
        leaf = source.root.descendant_for_byte_range(at, at + len(word))
        if leaf is None or (leaf.start_byte, leaf.end_byte) != (at, at + len(word)):
            continue
        value = leaf if leaf.type == "identifier" else leaf.parent if leaf.type == "field_identifier" else None
        if (
            value is not None
            and value is not leaf
            and (value.type != "selector_expression" or value.child_by_field_name("field") != leaf)
        ):
            continue  # a field name elsewhere than in a selector
        arguments = value.parent if value is not None else None
        call = arguments.parent if arguments is not None and arguments.type == "argument_list" else None
        if call is None or call.type != "call_expression" or call.child_by_field_name("arguments") != arguments:
            continue
        function = call.child_by_field_name("function")
        if function is not None and function.type == "selector_expression" and (function.text or b"").endswith(b".Do"):
            continue
        return True
    return False


def _declares_mutex(source: Source) -> bool:
    """Whether ``Mutex`` or ``RWMutex`` is written as a qualified type (``sync.Mutex``) in a declaration of the
    file's top level: the only place the index finds mutex fields and :func:`locks.package_mutexes` variables."""
    root = source.root
    for word in (b"Mutex", b"RWMutex"):
        for at in spelled(source.data, word):
            leaf = root.descendant_for_byte_range(at, at + len(word))
            if leaf is None or leaf.type != "type_identifier" or leaf.parent is None:
                continue
            if leaf.parent.type != "qualified_type" or leaf.start_byte != at:
                continue
            top = leaf.parent
            while top.parent is not None and top.parent != root:
                top = top.parent
            if top.type in ("type_declaration", "var_declaration"):
                return True
    return False


def _taking(source: Source) -> list[tuple[int, str]]:
    """The ``mu.Lock()``/``mu.RLock()`` statements of a file (not deferred: held() ignores those), by start,
    with the mutex they take: found where ``Lock`` and ``RLock`` are written, not by walking every function."""
    found: dict[int, str] = {}
    for word in (b"Lock", b"RLock"):
        for at in spelled(source.data, word):
            end = at + len(word)
            leaf = source.root.descendant_for_byte_range(at, end)
            if leaf is None or leaf.type != "field_identifier" or leaf.start_byte != at or leaf.end_byte != end:
                continue  # not a method name
            selector = leaf.parent
            call = selector.parent if selector is not None and selector.type == "selector_expression" else None
            statement = call.parent if call is not None else None
            taken = locks.lock_call(statement) if statement is not None else None
            if taken is not None and not taken.deferred and taken.method in locks.LOCKS:
                found[statement.start_byte] = taken.mutex  # type: ignore[union-attr]
    return sorted(found.items())


def _call_named(root: Node, at: int, size: int) -> dict[str, list[Node]] | None:
    """The match of :func:`locks.uses` for a call whose callee is the name written at ``at``: ``f(...)`` or
    ``x.f(...)`` with ``x`` an identifier; None for any other use of the name."""
    leaf = root.descendant_for_byte_range(at, at + size)
    if leaf is None or leaf.start_byte != at or leaf.end_byte != at + size:
        return None  # part of a longer token, or not a token
    function = leaf.parent if leaf.type == "field_identifier" else leaf if leaf.type == "identifier" else None
    call = function.parent if function is not None else None
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != function:
        return None
    if function is leaf:
        return {"call": [call], "callee": [leaf]}
    operand = function.child_by_field_name("operand")
    if function.type != "selector_expression" or function.child_by_field_name("field") != leaf or operand is None:
        return None
    return {"call": [call], "callee": [leaf], "on": [operand]} if operand.type == "identifier" else None


def _as_match(selector: Node) -> dict[str, list[Node]]:
    """A selector ``s.f`` as the match of :func:`locks.uses` that :func:`locks.field_access` reads."""
    field, operand = selector.child_by_field_name("field"), selector.child_by_field_name("operand")
    return {"selector": [selector], "field": [field], "receiver": [operand]}  # type: ignore[list-item]


def _occurrences(data: bytes, names: set[str]) -> list[tuple[int, int]]:
    """Where ``names`` stand in the text as whole words (tokens or not), in order."""
    return sorted((at, at + len(word)) for word in (n.encode() for n in names) for at in spelled(data, word))


def declaration_key(declaration: Node) -> tuple[str, str]:
    name = declaration.child_by_field_name("name")
    text = name.text.decode() if name is not None and name.text else ""
    if declaration.type != "method_declaration":
        return "", text
    params = declaration.child_by_field_name("receiver")
    param = params.named_children[0] if params is not None and params.named_children else None
    kind = param.child_by_field_name("type") if param is not None else None
    return (index.receiver_base(kind)[1] if kind is not None else ""), text


def why_lock_held(declaration: Node, callers: Callable[[], list[locks.Call]]) -> str | None:
    if locks.by_convention(declaration):
        return "runs with the lock held by convention"
    if declaration_name(declaration) == "init" and declaration.type == "function_declaration":
        return "package initialisation"
    found = callers()
    if found and all(c.locked for c in found):
        return "every caller holds the lock"
    return None


def declaration_name(declaration: Node) -> str:
    name = declaration.child_by_field_name("name")
    return name.text.decode() if name is not None and name.text else "?"


def is_mutex_of(kinds: dict[tuple[str, str], str], key: tuple[str, str], name: str) -> bool:
    """Whether a normalised lock name is a mutex of the key's struct (or a package mutex for a variable)."""
    if name == "":
        return (key[0], "Mutex") in kinds or (key[0], "RWMutex") in kinds
    return (key[0], name) in kinds
