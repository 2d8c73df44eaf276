"""`runtime.LockOSThread()` with a way out of the function that skips `runtime.UnlockOSThread()`.

## What it does
Finds `runtime.LockOSThread()` (under any import name of `runtime`) in a
function that can return with the thread still locked: it unlocks on some
paths but an early `return` (or the end of the function) skips the unlock,
or it never unlocks at all. The finding is on the `LockOSThread()` call.
Unlocks through a helper of the package (`func unlock() {
runtime.UnlockOSThread() }`) count as unlocks.

Not reported: a deferred unlock (`defer runtime.UnlockOSThread()`, or a
deferred closure or helper that unlocks); an unlock on every path out;
`init`, `main` and package-level initializers (locking the main thread is what GUI and graphics
packages do on purpose); a function that never unlocks and whose name says
that locking is its job (`lockThread`, `PinToThread`, `MainThread`); goroutine bodies (a `go func() {...}()`, a function
or func variable only ever started with `go`, or called as the last statement
of a `go func() {...}()`), test functions and subtests,
even when they unlock on some paths: when a locked goroutine exits, the
runtime terminates its thread, which is the documented way to throw away a
thread whose state was changed and costs only a new thread otherwise; a
function whose package unlocks elsewhere, in a function that does not lock
(a `lock()`/`unlock()` helper pair, a caller that unlocks after the call);
a function that locks at its top, unlocks only in the branches that give up
(`if err != nil { runtime.UnlockOSThread(); return err }`) and ends locked: it
locks the thread for its caller; an unlock inside a closure (a returned `func() { ...; runtime.UnlockOSThread() }`);
an unlock guarded by an `if` of its own (`if restored {
runtime.UnlockOSThread() }`: the condition decides); paths that end in
`panic`, `os.Exit` or `t.Fatal`; flow the rule cannot follow (`goto`,
labelled `break`/`continue`, `fallthrough`); a leaking `return` with a
comment about the thread or the lock on its line or the three lines above
(a documented decision to keep a tainted thread locked).

## Why is this bad?
`LockOSThread` wires the calling goroutine to its OS thread until as many
`UnlockOSThread` calls have been made. A function that returns still locked
leaves its caller's goroutine on that thread for the rest of its life: no
other goroutine can run there, the scheduler has to start another thread for
the work it would have done, and code that never asked for it runs with
whatever thread state (namespaces, credentials, signal masks, thread-local
handles) the function set up. Because the lock nests, the next balanced
Lock/Unlock pair in the caller no longer releases it either.

## Example
```go
func withNamespace(fd int, fn func() error) error {
        runtime.LockOSThread()
        if err := enter(fd); err != nil {
                return err
        }
        err := fn()
        runtime.UnlockOSThread()
        return err
}
```

Use instead:
```go
func withNamespace(fd int, fn func() error) error {
        runtime.LockOSThread()
        defer runtime.UnlockOSThread()
        if err := enter(fd); err != nil {
                return err
        }
        err := fn()
        return err
}
```

## What the fix does
Inserts `defer runtime.UnlockOSThread()` on the line after the lock and
deletes the function's own `runtime.UnlockOSThread()` statements after it
(kept, they would unlock twice and release a lock the caller holds).

## Fix safety
The fix is safe when the function unlocks on some paths itself (so it means
to leave the thread unlocked), each deleted unlock is the last thing before a
`return` of plain values or the end of the function (so nothing moves from
after the unlock to before it), no call is deferred after the lock (it would
now run on the locked thread), each deleted unlock is at the same level as
the lock (an unlock in one `if` branch and none before another return looks
like a choice made return by return), and neither the function nor its
package makes system calls (`syscall`, `golang.org/x/sys/...`, cgo): a path
that changes the thread's state and returns without unlocking may keep the
thread locked on purpose, so that it is thrown away with its goroutine.

The fix is unsafe when any of those does not hold, the message says which,
and always when the function never unlocks: a caller (or another package)
may rely on the thread staying locked after the call. There is no fix when
the lock is in a loop (a deferred unlock runs only when the function
returns), when the function locks more than once, unlocks through a helper
or in an expression, or when the lock shares its line with other code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, exits, index, pools, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.index import FileFacts
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures, spelled

# Calls of a package's function by selector:  runtime.LockOSThread()   rt.UnlockOSThread()
SELECTOR_CALLS = """
(call_expression
  function: (selector_expression operand: (identifier) @package field: (field_identifier) @name)) @call
"""

# Calls by plain name, for the package's unlock helpers:  unlockThread()
NAME_CALLS = "(call_expression function: (identifier) @name) @call"

# Packages whose calls change a thread's state: a path through them may leave it locked on purpose.
_SYSTEM = re.compile(r"^(syscall|C|golang\.org/x/sys/.*|internal/syscall/.*)$")
_THREAD_COMMENT = re.compile(r"thread|lock|taint", re.IGNORECASE)
_LOCKING_NAME = re.compile(r"lock|pin|thread", re.IGNORECASE)
_TEST_FUNCTION = re.compile(r"^(Test|Benchmark|Fuzz)([^a-z]|$)")


def check(ctx: FileContext) -> Iterator[Finding]:
    runtime = _runtime_name_of(ctx.package.own)
    if runtime is None:
        return
    package: _Package | None = None
    imported = frozenset(i.local_name for i in ctx.package.own.imports)
    for lock in _calls(ctx.root, runtime, b"LockOSThread"):
        statement = lock.parent
        if statement is None or statement.type != "expression_statement":
            continue  # defer runtime.LockOSThread() and the like: not the shape this rule knows
        function = scopes.enclosing_function(lock)
        if function is None or _is_init_or_main(ctx, function):
            continue  # init and main lock the main thread on purpose
        body = function.child_by_field_name("body")
        if body is None:
            continue
        # First with runtime.UnlockOSThread() alone: the package's helpers only add unlocks, and a
        # walk with more of them stops on more paths (fewer leaks) or gives up (unknown): no finding either.
        direct = _Unlocks(runtime, frozenset(), imported)
        if _defers_unlock(body, direct) or _unlocks_in_closure(body, direct):
            continue  # as below: no need to look for the package's helpers
        alone = exits.unreleased_exits(statement, function, direct.any)
        if not alone.unknown and not alone.leaks:
            continue  # every path out unlocks with runtime.UnlockOSThread() itself
        if function.type == "func_literal" and _is_goroutine_body(ctx, function):
            continue  # as below (asked first for func literals, where the answer costs no other file)
        package = package or _Package.build(ctx, runtime)
        unlocks = _Unlocks(runtime, package.unlockers, imported)
        if _defers_unlock(body, unlocks) or _unlocks_in_closure(body, unlocks):
            continue  # a deferred unlock covers every path; a closure's unlock runs when someone calls it
        walk = exits.unreleased_exits(statement, function, unlocks.any)
        leaks = walk.leaks
        if walk.unknown or not leaks:
            continue  # every path out unlocks, or the flow is beyond this rule
        if _is_goroutine_body(ctx, function):
            continue  # the thread ends with the goroutine: the documented way to discard it, harmless otherwise
        own = _direct_unlocks(body, runtime)
        helpers = [call for call in walk.released_by if unlocks.helper(call)]
        if not own and not helpers:
            if package.unlocks_elsewhere(function):
                continue  # a lock()/unlock() pair: another function of the package unlocks
            if _LOCKING_NAME.search(_function_name(function)):
                continue  # lockThread(), PinToThread(): locking the caller's thread is what it is for
        elif package.unlock_only_elsewhere(function):
            continue  # the caller or a returned unlocker releases the thread on the paths that keep it
        elif _locks_for_caller(statement, body, [*own, *helpers], leaks):
            continue  # it unlocks only on the paths that give up: on success the caller gets a locked thread
        if any(_documented_leak(ctx, leak, lock) for leak in leaks):
            continue  # "leave the thread locked: its state is tainted"
        yield _finding(ctx, lock, function, runtime, leaks, own, helpers)


def _finding(
    ctx: FileContext, lock: Node, function: Node, runtime: str, leaks: list[Node], own: list[Node], helpers: list[Node]
) -> Finding:
    name = _function_name(function)
    first = leaks[0]
    if first.type == "}":
        where = "the end of the function"
    else:
        where = f"the return on line {ctx.source.position(first.start_byte)[0]}"
    if own or helpers:
        message = (
            f"{runtime}.LockOSThread() in {name} is not undone on every path: {where} leaves the goroutine "
            "locked to this OS thread"
        )
    else:
        message = (
            f"{runtime}.LockOSThread() in {name} is never undone: the calling goroutine stays locked to this OS "
            "thread after it returns"
        )
    fix, why = _plan_fix(ctx, lock.parent, function, runtime, own, helpers)  # type: ignore[arg-type]
    if why:
        message += f" (no fix: {why})"
    return ctx.finding(_position(lock), message, fix)


# -- the fix ---------------------------------------------------------------------------


def _plan_fix(
    ctx: FileContext, statement: Node, function: Node, runtime: str, own: list[Node], helpers: list[Node]
) -> tuple[Fix | None, str | None]:
    body = function.child_by_field_name("body")
    assert body is not None
    if helpers:
        return None, f"it unlocks through {ctx.text(helpers[0].child_by_field_name('function'))}(), which may do more"  # type: ignore[arg-type]
    if len([c for c in _calls(body, runtime, b"LockOSThread") if _belongs(c, body)]) > 1:
        return None, "the function locks more than once"
    if statements.loop_running(statement) is not None:
        return None, "the lock is in a loop, and a deferred unlock runs only when the function returns"
    if not _alone_on_its_line(ctx, statement):
        return None, "the lock shares its line with other code"
    removals: list[Edit] = []
    checks: list[str] = []
    for unlock in own:
        holder = unlock.parent
        if unlock.start_byte < statement.start_byte:
            return None, "the function also unlocks before this lock"
        if holder is None or holder.type != "expression_statement" or not statements.alone_on_its_lines(ctx, holder):
            return None, f"the unlock on line {_line(ctx, unlock)} shares its line with other code or a comment"
        removals.append(statements.delete_lines(ctx, holder))
        if not _last_before_exit(holder, body):
            checks.append(f"what runs after the unlock on line {_line(ctx, unlock)} now runs on the locked thread")
    for defer in captures("(defer_statement) @d", body).get("d", []):
        if _belongs(defer, body) and defer.start_byte > statement.end_byte:
            checks.append(f"the call deferred on line {_line(ctx, defer)} now runs before the unlock")
    system = _system_call(ctx, body)
    if system is not None:
        checks.append(
            f"{_function_name(function)} calls {system}: a path that changed the thread's state may keep it locked "
            "on purpose, to be thrown away with its goroutine"
        )
    elif (where := _package_system_calls(ctx)) is not None:
        checks.append(
            f"the package makes system calls ({where}): a path that changed the thread's state through a helper may "
            "keep it locked on purpose"
        )
    branch = next((u for u in own if not _at_level_of(u, statement)), None)
    if branch is not None:
        checks.append(
            f"the function unlocks before some returns (line {_line(ctx, branch)}) and not before others, which "
            "may keep a thread it could not restore locked on purpose"
        )
    if not own:
        checks.insert(0, f"no caller relies on the thread staying locked after {_function_name(function)} returns")
    end = ctx.source.data.index(b"\n", statement.end_byte) + 1
    indent = ctx.indent(statement)
    insert = Edit(end, end, f"{indent}defer {runtime}.UnlockOSThread()\n".encode())
    message = f"Defer {runtime}.UnlockOSThread() right after the lock"
    if own:
        message += " and drop the explicit unlock" + ("s" if len(own) > 1 else "")
    if checks:
        return ctx.fix(message + " (check: " + "; ".join(checks) + ")", [insert, *removals], Safety.UNSAFE), None
    return ctx.fix(message, [insert, *removals], Safety.SAFE), None


def _at_level_of(call: Node, statement: Node) -> bool:
    """``call`` is a statement of its own in the same statement list as ``statement`` (not in a branch)."""
    holder = call.parent
    return holder is not None and holder.type == "expression_statement" and holder.parent == statement.parent


def _locks_for_caller(statement: Node, body: Node, releases: list[Node], leaks: list[Node]) -> bool:
    """Locked at the top of the body, unlocked only in branches, and the body's last exit keeps the lock.

    ``LockOSThread(); if err := setup(); err != nil { UnlockOSThread(); return err }; return nil``: the
    function gives up the lock on the paths that fail and hands the locked thread to its caller otherwise.
    """
    items = statement.parent
    if not releases or items is None or items.parent != body:
        return False
    if any(_at_level_of(call, statement) for call in releases):
        return False
    rest = [c for c in items.named_children if c.type != "comment" and c.start_byte >= statement.end_byte]
    last = rest[-1] if rest else None
    if last is not None and last.type == "return_statement":
        return last in leaks
    return body.children[-1] in leaks


def _package_system_calls(ctx: FileContext) -> str | None:
    """The first import of a package that changes thread state (syscall, x/sys, cgo) in the package's files."""
    view = ctx.package
    members = index.package(view.path.parent, view.name, view.is_test).members
    for member in members:
        if not any(t in member.raw for t in (b"syscall", b"x/sys/", b'"C"')):
            continue
        for i in member.facts.imports:
            if _SYSTEM.match(i.path):
                return f"{i.path} in {member.path.name}"
    return None


def _line(ctx: FileContext, node: Node) -> int:
    return ctx.source.position(node.start_byte)[0]


def _alone_on_its_line(ctx: FileContext, statement: Node) -> bool:
    """The statement starts its line and only a comment may follow it there."""
    if not ctx.source.starts_line(statement.start_byte):
        return False
    sibling = statement.next_sibling
    return sibling is None or sibling.start_point.row != statement.end_point.row or sibling.type == "comment"


def _last_before_exit(statement: Node, body: Node) -> bool:
    """Nothing runs between the statement and the function's exit: a return of plain values follows, or the end."""
    sibling = statement.next_named_sibling
    while sibling is not None and sibling.type == "comment":
        sibling = sibling.next_named_sibling
    if sibling is None:
        return statement.parent is not None and statement.parent.parent == body
    if sibling.type != "return_statement":
        return False
    return not captures('[(call_expression) (unary_expression operator: "<-")] @x', sibling).get("x")


def _system_call(ctx: FileContext, body: Node) -> str | None:
    """The first call of the function into a package that changes thread state (syscall, x/sys, cgo)."""
    system = {i.local_name for i in ctx.package.own.imports if _SYSTEM.match(i.path) and i.name not in ("_", ".")}
    if not system:
        return None
    for call in captures(SELECTOR_CALLS, body).get("call", []):
        function = call.child_by_field_name("function")
        operand = function.child_by_field_name("operand") if function is not None else None
        name = operand.text.decode() if operand is not None and operand.text is not None else ""
        if name in system and scopes.resolve(operand) is None:  # type: ignore[arg-type]
            return f"{ctx.text(function)}"  # type: ignore[arg-type]
    return None


# -- the package ---------------------------------------------------------------------


@dataclass
class _Package:
    """The functions of the package that unlock the thread, and whether each one also locks it."""

    unlocking: list[tuple[Node, bool]]  # (declaration, it also locks)

    @property
    def unlockers(self) -> frozenset[str]:
        return frozenset(_function_name(decl) for decl, _ in self.unlocking)

    @classmethod
    def build(cls, ctx: FileContext, runtime: str) -> _Package:
        unlocking: list[tuple[Node, bool]] = []
        for facts in _files_mentioning(ctx, b"UnlockOSThread"):
            unlocking += _unlocking_in(facts, _runtime_name_of(facts) or runtime)
        return cls(unlocking)

    def unlocks_elsewhere(self, function: Node) -> bool:
        """Another function of the package unlocks: the pair is split across functions."""
        top = scopes.top_level(function)
        return any(decl != top for decl, _ in self.unlocking)

    def unlock_only_elsewhere(self, function: Node) -> bool:
        """Another function of the package unlocks without locking, and ``function`` does not call it."""
        top = scopes.top_level(function)
        called = {n.text for n in captures(CALLEE_NAMES, top).get("name", [])}
        return any(
            decl != top and not locks and _function_name(decl).encode() not in called for decl, locks in self.unlocking
        )


# Per file of the package (its tree, so a file parsed again is looked at again) and runtime name:
# the declarations that unlock the thread. Every file of the package that locks asks for them.
_UNLOCKING: dict[tuple[int, str], tuple[FileFacts, list[tuple[Node, bool]]]] = index.package_cache({})


def _unlocking_in(facts: FileFacts, name: str) -> list[tuple[Node, bool]]:
    """The declarations of the file that call ``name.UnlockOSThread()``, and whether each also locks."""
    key = (id(facts.source), name)
    hit = _UNLOCKING.get(key)
    if hit is not None and hit[0].source is facts.source:
        return hit[1]
    found = []
    written = list(spelled(facts.source.data, b"UnlockOSThread"))
    for decl in _declarations(facts):
        body = decl.child_by_field_name("body")
        if body is None or not any(body.start_byte <= at < body.end_byte for at in written):
            continue  # an unlock call in the body has the name written there
        if _calls(body, name, b"UnlockOSThread"):
            found.append((decl, bool(_calls(body, name, b"LockOSThread"))))
    _UNLOCKING[key] = (facts, found)  # holding the facts keeps id(source) from being reused
    return found


# The names a function calls:  f()   x.f()
CALLEE_NAMES = """
[(call_expression function: (identifier) @name)
 (call_expression function: (selector_expression field: (field_identifier) @name))]
"""


def _files_mentioning(ctx: FileContext, text: bytes) -> list[FileFacts]:
    view = ctx.package
    members = index.package(view.path.parent, view.name, view.is_test).members
    return [view.own] + [m.facts for m in members if m.path != view.path and text in m.raw]


def _declarations(facts: FileFacts) -> list[Node]:
    found = [n for nodes in facts.functions.values() for n in nodes]
    return found + [m.node for methods in facts.methods.values() for m in methods]


def _runtime_name_of(facts: FileFacts) -> str | None:
    return next((i.local_name for i in facts.imports if i.path == "runtime" and i.name not in ("_", ".")), None)


def _calls(node: Node, package: str, name: bytes) -> list[Node]:
    """Calls of ``package.name(...)`` under ``node``, ``package`` being the import (not a local variable)."""
    # The SELECTOR_CALLS matches naming ``name``, looked up where ``name`` is written (a walk
    # over every call of the node costs more: this runs on every function of the package).
    found = []
    for call, operand, _ in pools.method_calls(node, (name.decode(),)):
        if operand.type == "identifier" and operand.text == package.encode() and scopes.resolve(operand) is None:
            found.append(call)
    return found


def _function_name(function: Node) -> str:
    name = function.child_by_field_name("name")
    return name.text.decode() if name is not None and name.text else "the func literal"


def _is_init_or_main(ctx: FileContext, function: Node) -> bool:
    """``init``, ``main`` of package main, or a func literal of a package-level initializer (it runs in init)."""
    if function.type == "func_literal":
        return scopes.enclosing(function, ("function_declaration", "method_declaration"), stop=()) is None
    if function.type != "function_declaration":
        return False
    name = _function_name(function)
    return name == "init" or (name == "main" and ctx.package.name == "main")


def _is_goroutine_body(ctx: FileContext, function: Node) -> bool:
    """A goroutine's function, a test function or a subtest: when it returns, its goroutine exits."""
    if function.type == "func_literal":
        if concurrency.goroutine_start(function) is not None or _only_go_variable(function):
            return True
        caller = concurrency.callback_caller(function)
        callee = caller.child_by_field_name("function") if caller is not None else None
        name = (
            callee.child_by_field_name("field") if callee is not None and callee.type == "selector_expression" else None
        )
        parameters = function.child_by_field_name("parameters")
        return (
            name is not None and name.text == b"Run" and b"testing." in (parameters.text or b"" if parameters else b"")
        )
    name = _function_name(function)
    if ctx.is_test_file and function.type == "function_declaration" and _TEST_FUNCTION.match(name):
        return True
    return _only_started_with_go(ctx, function)


def _only_go_variable(literal: Node) -> bool:
    """``waiter := func(...) {...}`` whose every use is ``go waiter(...)``."""
    holder = literal.parent
    while holder is not None and holder.type == "expression_list":
        holder = holder.parent
    if holder is None or holder.type not in ("short_var_declaration", "var_spec"):
        return False
    names = holder.child_by_field_name("left") if holder.type == "short_var_declaration" else holder
    idents = [n for n in (names.named_children if names is not None else []) if n.type == "identifier"]
    if len(idents) != 1:
        return False
    decl = scopes.resolve(idents[0])
    scope = scopes.enclosing_function(holder)
    if decl is None or scope is None:
        return False
    uses = [r for r in scopes.references(decl, scope) if r != decl.node]
    return bool(uses) and all(_started_with_go(r) for r in uses)


def _started_with_go(name: Node) -> bool:
    """``go name(...)``, ``go x.name(...)``, or the call as the last statement of a ``go func() {...}()``."""
    callee = name.parent if name.parent is not None and name.parent.type == "selector_expression" else name
    call = callee.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != callee:
        return False
    holder = call.parent
    if holder is not None and holder.type == "go_statement":
        return True
    return holder is not None and holder.type == "expression_statement" and _ends_goroutine(holder)


def _ends_goroutine(statement: Node) -> bool:
    """``statement`` is the last one of a func literal started with ``go``: the goroutine exits after it."""
    items = statement.parent
    literal = items.parent.parent if items is not None and items.parent is not None else None
    if literal is None or literal.type != "func_literal" or concurrency.goroutine_start(literal) is None:
        return False
    rest = [c for c in items.named_children if c.type != "comment" and c.start_byte > statement.start_byte]
    return not rest


def _only_started_with_go(ctx: FileContext, function: Node) -> bool:
    """Every use of the package's function (or of any method of that name) is ``go name(...)``."""
    name = _function_name(function).encode()
    method = function.type == "method_declaration"
    uses = []
    for facts in _files_mentioning(ctx, name):
        kind = "field_identifier" if method else "identifier"
        for ident in captures(f"({kind}) @id", facts.source.root).get("id", []):
            if ident.text != name or (ident.parent is not None and ident.parent.type.endswith("_declaration")):
                continue
            if method:
                uses.append(ident)  # x.name: this method or another type's, counted alike
                continue
            decl = scopes.resolve(ident)
            if decl is None or decl.kind == "func":
                uses.append(ident)
    return bool(uses) and all(_started_with_go(ident) for ident in uses)


def _position(lock: Node) -> Node:
    """The ``LockOSThread()`` of ``runtime.LockOSThread()``."""
    function = lock.child_by_field_name("function")
    name = function.child_by_field_name("field") if function is not None else None
    return name if name is not None else lock


def _documented_leak(ctx: FileContext, leak: Node, lock: Node) -> bool:
    """A comment about the thread or the lock on the leaking return's line or the lines right above it."""
    if leak.type == "}":
        return False
    row = leak.start_point.row
    block = leak.parent.parent if leak.parent is not None and leak.parent.parent is not None else leak
    for comment in captures("(comment) @c", block).get("c", []):
        if comment.start_point.row == lock.start_point.row or not row - 3 <= comment.start_point.row <= row:
            continue
        if scopes.enclosing_function(comment) == scopes.enclosing_function(leak) and _THREAD_COMMENT.search(
            ctx.text(comment)
        ):
            return True
    return False


# -- unlocks -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unlocks:
    """Which calls unlock the thread: ``runtime.UnlockOSThread()`` or a helper of the package that does."""

    runtime: str
    helpers: frozenset[str]
    imports: frozenset[str]  # the file's import names

    def direct(self, call: Node) -> bool:
        function = call.child_by_field_name("function")
        if function is None or function.type != "selector_expression":
            return False
        operand = function.child_by_field_name("operand")
        name = function.child_by_field_name("field")
        return (
            operand is not None
            and name is not None
            and operand.text == self.runtime.encode()
            and name.text == b"UnlockOSThread"
        )

    def helper(self, call: Node) -> bool:
        function = call.child_by_field_name("function")
        if function is None or self.direct(call):
            return False
        name = function
        if function.type == "selector_expression":
            operand = function.child_by_field_name("operand")
            if operand is not None and operand.text is not None and operand.text.decode() in self.imports:
                return False  # another package's function: pkg.unlock()
            name = function.child_by_field_name("field")  # type: ignore[assignment]
        return name is not None and name.text is not None and name.text.decode() in self.helpers

    def any(self, call: Node) -> bool:
        return self.direct(call) or self.helper(call)


def _defers_unlock(body: Node, unlocks: _Unlocks) -> bool:
    """A ``defer`` of the function that unlocks: ``defer runtime.UnlockOSThread()`` or a closure doing it."""
    for defer in captures("(defer_statement) @d", body).get("d", []):
        if _belongs(defer, body) and any(unlocks.any(c) for c in captures("(call_expression) @c", defer).get("c", [])):
            return True
    return False


def _unlocks_in_closure(body: Node, unlocks: _Unlocks) -> bool:
    """An unlock inside a func literal that is neither deferred nor a goroutine's (that one unlocks its own lock)."""
    for literal in captures("(func_literal) @f", body).get("f", []):
        if concurrency.goroutine_start(literal) is not None or scopes.enclosing(literal, ("defer_statement",)):
            continue
        if any(unlocks.any(c) and scopes.enclosing_function(c) == literal for c in exits.own_calls(literal)):
            return True
    return False


def _belongs(node: Node, body: Node) -> bool:
    """``node`` is in ``body``'s function itself, not in a func literal inside it."""
    return scopes.enclosing_function(node) == body.parent


def _direct_unlocks(body: Node, runtime: str) -> list[Node]:
    return [c for c in _calls(body, runtime, b"UnlockOSThread") if _belongs(c, body)]


RULE = Rule(
    id="lock-os-thread-without-unlock",
    summary="runtime.LockOSThread with a way out of the function that skips UnlockOSThread",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"LockOSThread",),
)
