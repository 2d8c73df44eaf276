"""Struct fields and package variables accessed both with and without the mutex that guards them.

## What it does
Finds a field read or written through a method's receiver (`s.count`) without
any mutex held, when elsewhere in the package the same field is written with
the struct's own mutex held (`s.mu.Lock()` ... `s.mu.Unlock()`, `defer
s.mu.Unlock()`, `RLock`, or `s.Lock()` for an embedded `sync.Mutex`): that
locked write is the evidence of a locking discipline. A package variable
written with a package-level mutex held in one function and accessed without
it in another is found the same way. The locked and the unlocked access may be in different files.

Only accesses that can run concurrently are reported: in an exported method
or function, in a function or method started with `go` or used as a value
(`go s.loop()`, `http.HandleFunc("/", s.serve)`), inside a goroutine, or in
an unexported method called, without the lock, from one of those.

Not reported:
- constructors and other plain functions building the value (`New...`,
  `&T{...}`): the rule follows the receiver of methods only, and a value
  being built is not yet shared;
- helpers that run with the lock held: named `...Locked`, documented so
  ("must hold s.mu", "called with mu held", "mu must be held"), or whose every
  in-package call through the receiver holds a lock;
- fields never written with the lock held (no locking discipline to follow),
  the mutex itself, the path to a mutex (`s.in` in `s.in.Lock()`), and fields
  of `sync`/`sync/atomic` types and channels;
- methods handed to `once.Do` (initialisers that run once);
- accesses while any other mutex is held (another lock may guard them);
- `_test.go` files: tests poke at internals after or before the concurrent
  part, and are neither evidence of a discipline nor held to it.

`String()` and other methods called for printing are reported like any
exported method: `fmt` calls them from whatever goroutine logs the value.

The rule is off by default (`--select inconsistent-locking` turns it on).
On the standard library it reports 74 findings, and a hand check of 20 found
2 plausible races: most unguarded accesses are ordered by something a
syntactic rule cannot see: a phase structure (a map filled under a lock by
concurrent compile workers, read after they are all done), lazy
initialisation under a lock published through `sync.Once` or an atomic
state word, or a helper that takes the lock itself.

## Why is this bad?
A mutex protects a field only if every access that can run at the same time
as a write holds it. One unguarded read of a field written under the lock is
a data race: the reader may see a torn or stale value, the race detector
reports it, and maps read during a write can crash the program ("concurrent
map read and map write").

## Example
```go
func (s *Stats) Add(n int) {
        s.mu.Lock()
        defer s.mu.Unlock()
        s.total += n
}

func (s *Stats) Total() int {
        t := s.total
        return t
}
```

Use instead:
```go
func (s *Stats) Total() int {
        s.mu.Lock()
        t := s.total
        s.mu.Unlock()
        return t
}
```

## What the fix does
Puts `Lock()` before the unguarded statement and `Unlock()` after it, on the
mutex that guards the field elsewhere, through the same receiver (`s.mu`,
`s` for an embedded mutex, the package-level mutex for a variable);
`RLock`/`RUnlock` when the mutex is a `sync.RWMutex` and the statement only
reads. Consecutive unguarded statements share one critical section.

There is no fix when the statement is a `return` (the value would have to be
copied out first: a change of shape a reviewer should make), spans control
flow (`if`, `for`, `switch`, `select`, `go`, `defer`), sends or receives on a
channel, starts a func literal, calls a method on the receiver (it may take
the lock itself), or shares its line with other code, nor when the function
takes the same mutex before the statement on some path.

## Fix safety
Always unsafe: `sync.Mutex` is not reentrant, and a caller outside the
package (or one the rule cannot see through an interface) may already hold
the lock when it calls the method: the fix would then deadlock. Check that no
caller holds the mutex, and that the statement does nothing slow or blocking
while it holds it.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter as Tally
from collections import OrderedDict
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gofix_conc import index, locks, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.index import PackageView
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import Source, captures, spelled

# Statements the fix can put a critical section around.
_SIMPLE = frozenset(
    {"expression_statement", "assignment_statement", "inc_statement", "dec_statement", "short_var_declaration"}
)
_BLOCKING = '[(send_statement) @x (unary_expression operator: "<-") @x (func_literal) @x]'


@dataclass
class Package:
    """What the rule knows of a package: guarded state, every access to it, calls between functions."""

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
                guarded = [a for a in accesses if any(_is_mutex(self.mutex_kinds, key, name) for name, _ in a.locks)]
                if not any(a.write for a in guarded):
                    continue  # no discipline to follow: the field is never written with the lock held
                for access in accesses:
                    where = self.paths.get(id(access.function))
                    if not access.any_lock and where is not None:
                        self._unguarded.setdefault(where, []).append((access, guarded))
        return self._unguarded.get(path, [])


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.is_test_file:
        return  # see the doc: tests are not held to the discipline
    lazy = analyse(ctx.package)
    package = lazy.for_file(ctx.path) if lazy is not None else None
    if lazy is None or package is None:
        return
    if any(len({access.key for access, _ in pairs}) > 1 for _, pairs in _flagged(package, ctx.path).values()):
        package = lazy.in_package_order(package)  # the message names the statement's first key in that order
    yield from findings(ctx, package)


def findings(ctx: FileContext, package: Package) -> Iterator[Finding]:
    """The findings of one file given what the rule knows of its package."""
    flagged = _flagged(package, ctx.path)
    fixes = _plan_fixes(ctx, package, {s: pairs for s, pairs in flagged.values()})
    for statement, pairs in flagged.values():
        yield ctx.finding(statement, _message(ctx, package, pairs), fixes.get(statement.start_byte))


def _flagged(package: Package, path: Path) -> dict[int, tuple[Node, list[tuple[locks.Access, locks.Access]]]]:
    """The statements of a file with unguarded accesses that may run concurrently, with a witness for each."""
    flagged: dict[int, tuple[Node, list[tuple[locks.Access, locks.Access]]]] = {}
    for access, guarded in package.unguarded(path):
        function = id(access.function)
        if not access.goroutine and (function in package.exempt or function not in package.concurrent):
            continue
        statement = statements.statement_holding(access.node)
        if statement is None:
            continue
        witness = next((g for g in guarded if g.write != access.write or g.write), guarded[0])
        flagged.setdefault(statement.start_byte, (statement, []))[1].append((access, witness))
    return flagged


def _message(ctx: FileContext, package: Package, pairs: list[tuple[locks.Access, locks.Access]]) -> str:
    access, witness = pairs[0]
    what = ctx.text(access.node)
    mutex = _mutex_text(access, _guard(package, access))
    where = package.paths.get(id(witness.function))
    line = witness.node.start_point[0] + 1
    verb = "written" if access.write else "read"
    done = "written" if witness.write else "read"
    why = "in a goroutine" if access.goroutine else package.concurrent.get(id(access.function), "")
    return (
        f"{what} is {verb} without {mutex} held, but {done} with it held in "
        f"{_name(witness.function)} ({where.name if where else '?'}:{line}); {_name(access.function)} {why}"
    )


# -- the package -------------------------------------------------------------------

_ANALYSED: OrderedDict[tuple, tuple[tuple, _Lazy | None]] = index.package_cache(OrderedDict())  # type: ignore[type-arg]


# A package's files that call Lock(), asked once per package rather than for each of its files (keyed by text:
# a Path's hash and comparisons cost more than the lookup; valid while the index hands out the same package).
_LOCKING: dict[tuple[str, str, bool], tuple[index.Package, tuple[str, ...]]] = index.package_cache({})


def analyse(view: PackageView) -> _Lazy | None:
    """What the rule knows of the package, read on demand; None when nothing is locked."""
    here = str(view.path)
    place = (os.path.dirname(here), view.name, view.is_test)
    package = index.package(view.path.parent, view.name, view.is_test)  # the index's, while it keeps it
    known = _LOCKING.get(place)
    if known is None or known[0] is not package:  # index.forget() drops the package, not this memo
        known = _LOCKING[place] = (package, tuple(str(m.path) for m in package.mentioning("Lock()")))
    locking = known[1]
    if b"Lock()" not in view.source.data and not any(path != here for path in locking):
        return None  # most packages: nothing of the package is parsed beyond this file
    contents = package.fingerprint(view.path, view.source.raw())
    kept = _ANALYSED.get(place)
    if kept is None or kept[0] != contents:
        lazy = _Lazy(view)
        kept = _ANALYSED[place] = (contents, lazy if lazy.fields or lazy.mutexes else None)
        while len(_ANALYSED) > 4:
            _ANALYSED.popitem(last=False)
    return kept[1]


class _Lazy:
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
                found.setdefault(_name(declaration), []).append(declaration)
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
                        if (n := locks.normalised(m, receiver)) is not None and _is_mutex(self.kinds, (kind, ""), n)
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
                    if access is not None and any(_is_mutex(self.kinds, access.key, n) for n, _ in access.locks):
                        found.append(access)
        written = {a.key[1] for a in found if isinstance(a, locks.Access) and not a.key[0] and a.write}
        for item in found:
            if isinstance(item, tuple):
                if (item[0].text or b"").decode() not in written:
                    continue  # no variable of that name is written under a lock: the rule looks no further at it
                access = self._variable_access(item[0], item[1], self)
                if access is None or not any(_is_mutex(self.kinds, access.key, n) for n, _ in access.locks):
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

    def for_file(self, path: Path) -> Package | None:
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
        return Package(self.kinds, accesses, paths, concurrent, exempt)

    def in_package_order(self, package: Package) -> Package:
        """``package`` with its keys in the whole analysis's order (which pairs of a statement come first)."""
        accesses = dict(sorted(package.accesses.items(), key=lambda item: self._first_access(item[0])))
        return Package(package.mutex_kinds, accesses, package.paths, package.concurrent, package.exempt)

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
            name = _name(node)
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
                    concurrent[id(node)] = f"is called without the lock from {_name(via[0].caller)}"
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
        names = {_name(c.caller) for c in via[: first + 1]}
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
        key = _declaration_key(node)
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
            if _declaration_key(d) == key
        ]

    def _exemption(self, node: Node) -> str | None:
        if id(node) not in self._exempt:
            self._exempt[id(node)] = _exemption(node, lambda: self._callers_of(node))
        return self._exempt[id(node)]

    def _callers_of(self, node: Node) -> list[locks.Call]:
        """The calls of a function through a receiver or by name, in the package's order."""
        key = _declaration_key(node)
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


def _declaration_key(declaration: Node) -> tuple[str, str]:
    name = declaration.child_by_field_name("name")
    text = name.text.decode() if name is not None and name.text else ""
    if declaration.type != "method_declaration":
        return "", text
    params = declaration.child_by_field_name("receiver")
    param = params.named_children[0] if params is not None and params.named_children else None
    kind = param.child_by_field_name("type") if param is not None else None
    return (index.receiver_base(kind)[1] if kind is not None else ""), text


def _exemption(declaration: Node, callers: Callable[[], list[locks.Call]]) -> str | None:
    if locks.by_convention(declaration):
        return "runs with the lock held by convention"
    if _name(declaration) == "init" and declaration.type == "function_declaration":
        return "package initialisation"
    found = callers()
    if found and all(c.locked for c in found):
        return "every caller holds the lock"
    return None


def _name(declaration: Node) -> str:
    name = declaration.child_by_field_name("name")
    return name.text.decode() if name is not None and name.text else "?"


def _is_mutex(kinds: dict[tuple[str, str], str], key: tuple[str, str], name: str) -> bool:
    """Whether a normalised lock name is a mutex of the key's struct (or a package mutex for a variable)."""
    if name == "":
        return (key[0], "Mutex") in kinds or (key[0], "RWMutex") in kinds
    return (key[0], name) in kinds


def _guard(package: Package, access: locks.Access) -> str:
    """The mutex (normalised) that guards an access's field or variable elsewhere, the most used one."""
    tally = Tally(
        name
        for a in package.accesses[access.key]
        for name, _ in a.locks
        if _is_mutex(package.mutex_kinds, access.key, name)
    )
    return tally.most_common(1)[0][0]


def _mutex_text(access: locks.Access, mutex: str) -> str:
    if not access.receiver:
        return mutex
    return f"{access.receiver}.{mutex}" if mutex else access.receiver


# -- the fix -------------------------------------------------------------------------


def _plan_fixes(
    ctx: FileContext, package: Package, flagged: dict[Node, list[tuple[locks.Access, locks.Access]]]
) -> dict[int, Fix]:
    """One fix per run of consecutive unguarded statements of a block that the same mutex guards."""
    fixable: dict[int, tuple[Node, str, str, bool]] = {}
    for statement, pairs in flagged.items():
        planned = _fixable(ctx, package, statement, [a for a, _ in pairs])
        if planned is not None:
            fixable[statement.start_byte] = (statement, *planned)
    fixes: dict[int, Fix] = {}
    for start, (statement, mutex, kind, reads) in sorted(fixable.items()):
        if start in fixes:
            continue
        run = [statement]
        following = _next_statement(statement)
        while following is not None and following.start_byte in fixable:
            other = fixable[following.start_byte]
            if other[1] != mutex:
                break
            run.append(following)
            reads = reads and other[3]
            following = _next_statement(following)
        lock, unlock = ("RLock", "RUnlock") if kind == "RWMutex" and reads else ("Lock", "Unlock")
        end = ctx.source.data.index(b"\n", run[-1].end_byte) + 1
        unlocked = _unlocked_just_before(ctx, run[0], mutex, unlock)
        edits = [
            statements.delete_lines(ctx, unlocked) if unlocked else ctx.lines_before(run[0], [f"{mutex}.{lock}()"]),
            Edit(end, end, f"{ctx.indent(run[0])}{mutex}.{unlock}()\n".encode()),
        ]
        function = _name(scopes.top_level(statement))
        fix = ctx.fix(
            f"Hold {mutex} around the access (check that no caller of {function} already holds {mutex}: "
            "sync mutexes are not reentrant)",
            edits,
            Safety.UNSAFE,
        )
        for member in run:
            fixes[member.start_byte] = fix
    return fixes


def _fixable(
    ctx: FileContext, package: Package, statement: Node, accesses: list[locks.Access]
) -> tuple[str, str, bool] | None:
    """(mutex text, Mutex/RWMutex, the statement only reads) when a critical section can go around it."""
    if statement.type not in _SIMPLE or statement.parent is None or statement.parent.type != "statement_list":
        return None  # a return, control flow, a labelled statement
    if not _own_lines(ctx, statement) or captures(_BLOCKING, statement):
        return None
    names = {_guard(package, a) for a in accesses}
    receivers = {a.receiver for a in accesses}
    if len(names) != 1 or len(receivers) != 1:
        return None  # two mutexes would guard the statement
    access = accesses[0]
    name = names.pop()
    mutex = _mutex_text(access, name)
    kinds = package.mutex_kinds
    kind = (
        kinds.get((access.key[0], name))
        if name
        else kinds.get((access.key[0], "Mutex"), kinds.get((access.key[0], "RWMutex")))
    )
    if kind is None:
        return None
    if access.receiver:
        for call in captures(
            "(call_expression function: (selector_expression operand: (identifier) @r))", statement
        ).get("r", []):
            if call.text == access.receiver.encode():
                return None  # a method of the receiver may take the lock itself
    function = access.function
    for call in locks.locks_in(function):
        before = call.mutex == mutex and call.node.start_byte < statement.start_byte
        if before and (call.node.parent is None or not scopes.contains(call.node.parent, statement)):
            return None  # the function locks it before, on some path held() does not follow
    return mutex, kind, not any(a.write for a in accesses)


def _unlocked_just_before(ctx: FileContext, statement: Node, mutex: str, unlock: str) -> Node | None:
    """``mu.Unlock()`` right before the statement: the fix extends that critical section instead of a new one."""
    previous = statement.prev_named_sibling
    call = locks.lock_call(previous) if previous is not None else None
    if call is None or call.deferred or call.mutex != mutex or call.method != unlock:
        return None
    return previous if statements.alone_on_its_lines(ctx, previous) else None


def _next_statement(statement: Node) -> Node | None:
    following = statement.next_named_sibling
    while following is not None and following.type == "comment":
        following = following.next_named_sibling
    return following


def _own_lines(ctx: FileContext, statement: Node) -> bool:
    """The statement starts its line and nothing but a line comment follows it on its last line."""
    data = ctx.source.data
    end = data.find(b"\n", statement.end_byte)
    rest = data[statement.end_byte : end].strip() if end >= 0 else b"x"
    return ctx.source.starts_line(statement.start_byte) and (not rest or rest.startswith(b"//"))


RULE = Rule(
    id="inconsistent-locking",
    summary="fields and package variables accessed both with and without the mutex that guards them",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.UNSAFE,
    default_enabled=False,  # see the doc: most findings on real code are ordered by phases or lazy init
)
