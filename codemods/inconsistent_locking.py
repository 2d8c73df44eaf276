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

from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path

from tree_sitter import Node

from gofix_conc import locks, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.guards import Guards, declaration_name, is_mutex_of, package_guards
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures

# Statements the fix can put a critical section around.
_SIMPLE = frozenset(
    {"expression_statement", "assignment_statement", "inc_statement", "dec_statement", "short_var_declaration"}
)
_BLOCKING = '[(send_statement) @x (unary_expression operator: "<-") @x (func_literal) @x]'


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.is_test_file:
        return  # see the doc: tests are not held to the discipline
    lazy = package_guards(ctx.package)
    package = lazy.for_file(ctx.path) if lazy is not None else None
    if lazy is None or package is None:
        return
    if any(len({access.key for access, _ in pairs}) > 1 for _, pairs in _flagged(package, ctx.path).values()):
        package = lazy.in_package_order(package)  # the message names the statement's first key in that order
    yield from findings(ctx, package)


def findings(ctx: FileContext, package: Guards) -> Iterator[Finding]:
    """The findings of one file given what the rule knows of its package."""
    flagged = _flagged(package, ctx.path)
    fixes = _plan_fixes(ctx, package, {s: pairs for s, pairs in flagged.values()})
    for statement, pairs in flagged.values():
        yield ctx.finding(statement, _message(ctx, package, pairs), fixes.get(statement.start_byte))


def _flagged(package: Guards, path: Path) -> dict[int, tuple[Node, list[tuple[locks.Access, locks.Access]]]]:
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


def _message(ctx: FileContext, package: Guards, pairs: list[tuple[locks.Access, locks.Access]]) -> str:
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
        f"{declaration_name(witness.function)} ({where.name if where else '?'}:{line}); "
        f"{declaration_name(access.function)} {why}"
    )


def _guard(package: Guards, access: locks.Access) -> str:
    """The mutex (normalised) that guards an access's field or variable elsewhere, the most used one."""
    tally = Tally(
        name
        for a in package.accesses[access.key]
        for name, _ in a.locks
        if is_mutex_of(package.mutex_kinds, access.key, name)
    )
    return tally.most_common(1)[0][0]


def _mutex_text(access: locks.Access, mutex: str) -> str:
    if not access.receiver:
        return mutex
    return f"{access.receiver}.{mutex}" if mutex else access.receiver


# -- the fix -------------------------------------------------------------------------


def _plan_fixes(
    ctx: FileContext, package: Guards, flagged: dict[Node, list[tuple[locks.Access, locks.Access]]]
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
        following = statements.next_statement(statement)
        while following is not None and following.start_byte in fixable:
            other = fixable[following.start_byte]
            if other[1] != mutex:
                break
            run.append(following)
            reads = reads and other[3]
            following = statements.next_statement(following)
        lock, unlock = ("RLock", "RUnlock") if kind == "RWMutex" and reads else ("Lock", "Unlock")
        end = ctx.source.data.index(b"\n", run[-1].end_byte) + 1
        unlocked = _unlocked_just_before(ctx, run[0], mutex, unlock)
        edits = [
            statements.delete_lines(ctx, unlocked) if unlocked else ctx.lines_before(run[0], [f"{mutex}.{lock}()"]),
            Edit(end, end, f"{ctx.indent(run[0])}{mutex}.{unlock}()\n".encode()),
        ]
        function = declaration_name(scopes.top_level(statement))
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
    ctx: FileContext, package: Guards, statement: Node, accesses: list[locks.Access]
) -> tuple[str, str, bool] | None:
    """(mutex text, Mutex/RWMutex, the statement only reads) when a critical section can go around it."""
    if statement.type not in _SIMPLE or statement.parent is None or statement.parent.type != "statement_list":
        return None  # a return, control flow, a labelled statement
    if not statements.alone_on_its_lines(ctx, statement, line_comment=True) or captures(_BLOCKING, statement):
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


RULE = Rule(
    id="inconsistent-locking",
    summary="fields and package variables accessed both with and without the mutex that guards them",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.UNSAFE,
    default_enabled=False,  # see the doc: most findings on real code are ordered by phases or lazy init
)
