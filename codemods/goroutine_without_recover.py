"""Goroutines whose function does not recover from panics.

## What it does
Finds `go` statements (`go func() {...}()`, `go f(x)`, `go s.m(x)`, `go cb()`)
whose function has no top-level deferred recover: neither a deferred closure
that calls `recover()` itself, nor a deferred call to a helper that does (a
function or method of the package, in any of its files, whose body calls
`recover()`, or a name listed in `helpers`). Where the recover stands among the
defers does not matter. A `go f(x)` whose `f` recovers is protected, and so is
a func literal that only defers calls and then calls such a function.

Not flagged, because a crash is what they want or already have in hand:
- code that handles panics on purpose: a `recover()` anywhere in the
  goroutine, or in a function of the package it calls (two calls deep), such
  as a deferred closure that recovers, cleans up and panics again;
- goroutines that must take the process down when they die: an endless
  `for { ... }` with no way out (program-lifetime workers), a server's
  `Serve`/`ListenAndServe` loop, and exit monitors that call `os.Exit` or
  `log.Fatal` themselves. A recover there leaves a zombie process that no
  longer does its job;
- goroutines with nothing to recover: only channel operations (`<-ch`,
  `close(done)`, a signal send, a select over them), waits (`wg.Wait()`),
  timer stops, atomic stores of a constant and calls of a context's cancel
  function (`go func() { wg.Wait(); close(done) }()`).

`_test.go` files, and functions that take a `*testing.T`/`B`/`TB` in other
files (test helpers), are not checked unless `include-tests = true`.

## Why is this bad?
A panic that no deferred function of its own goroutine recovers ends the whole
program: every request in flight, every other goroutine, with no chance for
the caller to handle it. One bad input in a background worker takes the
service down. `recover()` only works when the deferred function calls it
directly: `defer recover()`, or a deferred closure that calls a helper which
calls `recover()`, recovers nothing.

## Example
```go
go func() {
        sendWelcomeMail(user)
}()
```

Use instead:
```go
go func() {
        defer func() {
                if r := recover(); r != nil {
                        log.Printf("goroutine in Signup: panic: %v\\n%s", r, debug.Stack())
                }
        }()
        sendWelcomeMail(user)
}()
```

## What the fix does
Inserts the deferred recover as the goroutine's first statement, so it runs
last and also catches panics in the other deferred calls. `go f(x)` becomes
`go func() { defer ...; f(x) }()`; a function value or argument that could
change before the goroutine starts is bound to a fresh local before the `go`.

Completion signals at the very end of a func literal (`close(done)`,
`wg.Done()`, `cancel()`, `<-sem`, `sem.Release(1)`, `done <- struct{}{}`) are
turned into defers registered after the existing ones, so that on the normal
path they run in the same order as before and after a recovered panic they
still run: `work(); close(done)` ⇒ `defer close(done); work()`. This is done
only where it keeps the normal path: no `return` or `goto` can skip them today,
every other defer comes first in the function, and what they read is declared
outside the goroutine and not written in it (a defer evaluates its arguments
when it is registered).

The handler logs the way the package already does, found from the code:
a `log`/`logger` parameter or receiver field (`*slog.Logger`, `*log.Logger`,
logr, zap, logrus), a `logf` method or function, the test's `t`, or the
logging package the package imports (`log/slog`, klog, logrus, glog, zap,
`log`); otherwise the global `log`. The message names the goroutine
(`serveConn: panic: ...`). Only the imports the handler uses are added, under
their plain names unless a name of the package takes them. A configured
handler replaces the detection; `r` is the recovered value and packages go by
their default names (renamed when the import gets an alias). Helpers match a
deferred call by its text (`recoverPanic`), by package name and function
(`safe.Recover`, whatever the import's alias) or by import path and function
(`example.com/lib/safe.Recover`); `k8s.io/apimachinery`'s `HandleCrash` is
known without configuration:

```toml
[rules.goroutine-without-recover]
handler = 'panics.Report(r)'                  # default: detected, else log.Printf(...)
handler-imports = ["example.com/internal/panics"]   # default: log and runtime/debug as the handler names them
helpers = ["safe.Recover", "panics.Guard"]    # deferred calls that count as a recover
include-tests = false                         # also check _test.go files
```

## Fix safety
After the fix a panic ends only its goroutine, and everything the rest of the
goroutine would have done is skipped. The fix is safe only when the rule can
show from the code that nothing else changes; it is unsafe, with a message
saying what to check, when:
- a completion signal is not deferred and cannot be moved (`mu.Unlock()`,
  a `close`/`Done` in a branch or behind a `return`): whoever waits for it now
  waits forever instead of crashing;
- the goroutine hands over a result (a send of a value, a write to a variable
  of the function that started it, `CloseWithError`, `Commit`, a `Close` that
  is not deferred): after a recovered panic the reader gets a zero, stale or
  truncated result and no sign that it is wrong;
- it consumes a channel in a loop: after a recovered panic nothing receives
  any more and the senders block;
- it calls `panic` itself: the crash was asked for;
- the function it runs is not in the package (a callback, another package):
  its completion signals are unknown;
- someone waits for the goroutine (the starting function joins it with
  `wg.Wait()`, `<-done` or a range over a channel it uses, or the goroutine
  signals its end with `wg.Done()`, `close(done)`, `cancel()`, a signal send,
  deferred or not) and it does work the waiter can see: it writes a variable
  declared outside it, sends a value, calls a method on a value from outside,
  passes a value from outside to a call, or calls a function value from
  outside or a function of the package. The waiter uses what it did: after a
  recovered panic it carries on with partial results (a linker writing a
  binary with a section missing, and exit 0). The message names the first
  such work; the way out is to make the panic an error the waiter sees.
  Goroutines nobody waits for (fire-and-forget) keep a safe fix;
- the package is a library (not `main`) with no logging convention: the fix
  would print the library's panics into the program's global log and hide
  them from the program, a decision for the program's owner (set `handler`).
Each concern names the statement that a recovered panic skips and what
that leaves behind: a lock held (`Unlock`, `RUnlock`), waiters on a condition
never woken (`cond.Broadcast()`), a channel left open, a receiver with no
value, a semaphore slot never given back, a completion callback (`done()`)
never called, a flag a callback's follow-up would have cleared; any other
skipped call is only said to be skipped.

There is no fix where the handler's imports would import the file's own
package (`log` in `runtime` or `time`): the dependencies of each import come
from `go list -deps`, once per process; without `go`, the standard library's
packages that `log` itself imports are known by their top directory.

Hand-overs are looked for in the goroutine and in the package functions it
calls, two calls deep. Calls of `fmt`/`log` printing, `strings`, `strconv`,
`errors` and read-only builtins (`len`) count as reading only. A handler that
is not gofmt-formatted makes the output not gofmt-clean.
"""

from __future__ import annotations

import textwrap
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, loggers, package, panics, scopes
from gofix_conc.context import FileContext
from gofix_conc.imports import default_name, package_identifiers, rename_packages
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.package import callee_bodies, goroutine_bodies, is_package, text
from gofix_conc.panics import (
    HANDOFF_KINDS,
    SERVE_LOOPS,
    calls_in,
    consuming_loops,
    exits_the_process,
    handles_panics,
    handoff_captures,
    handoffs,
    is_deferred,
    is_protected,
    is_release,
    is_signal_value,
    joined_by_starter,
    outside_literals,
    own_statements,
    panic_free,
    runs_for_the_program,
    semaphore_fill,
    starter_variables_written,
)
from gofix_conc.source import captures, parse

SKIPPING_CALLS = frozenset({"Goexit", "FailNow", "Fatal", "Fatalf", "SkipNow", "Skip", "Skipf"})
UNKNOWN_FUNCTION = "it runs a function the package does not show (a callback, from elsewhere): check what it hands over"
MESSAGE = "goroutine has no deferred recover: a panic in it crashes the whole program"


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.is_test_file and not ctx.option("include-tests"):
        return  # a panic in a test goroutine fails the test run, which is what tests want
    found: package.Lazy | None = None
    file: package.File | None = None
    helpers: frozenset[str] = frozenset()
    recovers = True
    for go in concurrency.go_statements(ctx.source):  # every goroutine:  go <call>
        if found is None or file is None:  # read once, and only for files with a go
            found = package.Lazy(ctx.path, ctx.source)  # each question parses only the files that may answer it
            helpers = frozenset({*(ctx.option("helpers") or []), *panics.KNOWN_HELPERS})
            file = package.file_in(ctx.source, found)
            recovers = panics.may_recover(ctx.source, found, helpers)  # whether a deferred call may recover
        if not ctx.option("include-tests") and loggers.testing_parameter(scopes.top_level(go)) is not None:
            continue  # a test helper outside _test.go (func f(t *testing.T)): tests want the crash too
        run = Goroutine(ctx, found, go, file, recovers, helpers)
        if run.wants_the_crash():
            continue
        fix = plan_fix(run)
        if isinstance(fix, str):
            yield ctx.finding(go, f"{MESSAGE} (no fix: {fix})")
        else:
            yield ctx.finding(go, MESSAGE, fix)


@dataclass
class Goroutine:
    """One go statement, what it runs (as far as the package shows) and what it hands over."""

    ctx: FileContext
    package: package.Lazy
    go: Node
    file: package.File  # the checked file, read once for all its goroutines
    recovers: bool  # whether a deferred call of the package may recover (see panics.may_recover)
    helpers: frozenset[str]  # the deferred calls that count as a recover: configured and known
    bodies: list[Node] | None = field(init=False)
    literal: Node | None = field(init=False)

    def __post_init__(self) -> None:
        self.literal = goroutines.literal_of(self.go)
        self.bodies = goroutine_bodies(self.file, self.go, self.literal)

    def wants_the_crash(self) -> bool:
        """Already protected, handling panics on purpose, or meant to end the process when it dies."""
        call = goroutines.call_of(self.go)
        function = call.child_by_field_name("function") if call is not None else None
        if function is not None and function.type == "selector_expression":
            function = function.child_by_field_name("field")
        if text(function) in SERVE_LOOPS:
            return True  # go srv.Serve(l): the server's accept loop
        if not self.bodies:
            return False
        if self.recovers and all(is_protected(self.file, self.helpers, body) for body in self.bodies):
            return True
        if all(panic_free(self.file, body) for body in self.bodies):
            return True  # only waits, signals and stops: there is nothing to recover
        if all(runs_for_the_program(self.file, body) or exits_the_process(self.file, body) for body in self.bodies):
            return True  # asked before handles_panics, which costs far more: both are only read
        return self.recovers and any(handles_panics(self.file, self.helpers, body, depth=2) for body in self.bodies)


def plan_fix(run: Goroutine) -> Fix | str | None:
    """The fix; or why there is none, when the reader should know; None otherwise."""
    ctx, go = run.ctx, run.go
    if not ctx.source.starts_line(go.start_byte):
        return None  # in a one-line func literal: opening it up is for gofmt, not for edits
    handler = prepare_handler(run)
    if handler is None:
        return None  # the handler's names are hidden by locals of the function
    if isinstance(handler, str):
        return handler
    concerns = list(handler.concerns)
    moved, move_edits, lines = plan_moves(run, handler.lines)
    for body in run.bodies or []:
        concerns += what_a_panic_skips(run, body, moved)
        concerns += what_callees_hand_over(run, body)
        concerns += what_a_waiter_relies_on(run, body)
    if run.bodies is None:
        concerns.append(UNKNOWN_FUNCTION)
    started = goroutines.start_goroutine_with(ctx, go, lines)
    if started is None:
        return None
    edits = [*handler.import_edits, *started.edits, *move_edits]
    if started.before_go:
        edits.append(ctx.lines_before(go, started.before_go))
    if concerns:
        message = "Recover and log panics in the goroutine; check: " + "; ".join(dict.fromkeys(concerns))
        return ctx.fix(message, edits, Safety.UNSAFE)
    return ctx.fix("Recover and log panics in the goroutine", edits, Safety.SAFE)


# -- what a recovered panic skips --------------------------------------------


def what_a_panic_skips(run: Goroutine, body: Node, moved: set[Node]) -> list[str]:
    """Why the program could wait forever or read a wrong result once the panic is recovered."""
    concerns = []
    in_literal = run.literal is not None
    name = body.parent.child_by_field_name("name") if body.parent is not None else None
    whose = text(name) if not in_literal and name is not None else "the goroutine"
    found = handoffs(run.file, body)
    first = next((s for s in own_statements(body) if s.type != "defer_statement"), None)
    releases = [r for r in found.get("receive", []) if r != first and is_release(r)]
    for handoff in [*found.get("signal", []), *releases, *completion_callbacks(run, body)]:
        if not any(scopes.contains(m, handoff) for m in moved) and not is_deferred(body, handoff):
            concerns.append(f"`{text(handoff)}` in {whose} is not deferred: {skipped_handoff(handoff)}")
    for handoff in found.get("unlock", []) + found.get("wake", []) + found.get("close", []):
        if is_deferred(body, handoff):
            continue
        if skipped_handoff(handoff) is None:  # p.Signal(sig): a call like any other, no lock or waiter behind it
            concerns.append(f"`{text(handoff)}` in {whose} is skipped after a recovered panic")
        else:
            concerns.append(f"`{text(handoff)}` in {whose} is not deferred: {skipped_handoff(handoff)}")
    for result in found.get("result", []):
        concerns.append(f"`{text(result)}` in {whose}: after a recovered panic the result is cut short or never sent")
    for send in found.get("send", []):
        if not any(scopes.contains(m, send) for m in moved) and not (
            is_deferred(body, send) and is_signal_value(send.child_by_field_name("value"))
        ):
            concerns.append(
                f"`{text(send)}` in {whose} is skipped after a recovered panic: "
                "the receiver waits forever or never gets the value"
            )
    if in_literal and run.literal is not None:
        for name in starter_variables_written(run.go, run.literal):
            concerns.append(f"{name} is read by the starting function: after a recovered panic it keeps a stale value")
    concerns += state_left_behind(run, body, whose)
    for loop in consuming_loops(run.file, body):
        concerns.append(f"{whose} receives in a loop (line {loop.start_point.row + 1}): after a panic senders block")
    for call in calls_in(run.file, body).get("name", []):
        if text(call) == "panic" and call.parent is not None and call.parent.type == "call_expression":
            concerns.append(f"{whose} panics on purpose at line {call.start_point.row + 1}: the crash was asked for")
            break
    return concerns


def what_callees_hand_over(run: Goroutine, body: Node, depth: int = 2, seen: set[int] | None = None) -> list[str]:
    """Hand-overs outside a defer in the package functions the goroutine calls (two calls deep).

    ``serve(); rw.finish()`` where ``finish`` closes a pipe and sends the
    response: after a recovered panic in ``serve`` the reader waits forever.
    """
    seen = seen if seen is not None else {body.id}
    concerns = []
    for call in calls_in(run.file, body).get("call", []):
        function = call.child_by_field_name("function")
        if function is None or is_deferred(body, call) or function.type not in ("identifier", "selector_expression"):
            continue
        for callee in callee_bodies(run.file, function) or []:
            if callee.id in seen or callee.parent is None or callee.parent.type == "func_literal":
                continue  # recursion; a func literal bound to a local is the goroutine's own code
            seen.add(callee.id)
            found = handoffs(run.file, callee)
            late = sorted(
                (h for kind in HANDOFF_KINDS if kind != "receive" for h in found.get(kind, [])),
                key=lambda h: h.start_byte,
            )
            late = [h for h in late if not is_deferred(callee, h)]
            if late:
                name = text(callee.parent.child_by_field_name("name"))
                concerns.append(f"{callee_handoff(late[0], name)}")
            elif depth > 1:
                concerns += what_callees_hand_over(run, callee, depth - 1, seen)
    return concerns


def callee_handoff(handoff: Node, callee: str) -> str:
    """What a called function does outside a defer, and what a recovered panic before it leaves behind."""
    said, code = f"the goroutine calls {callee}, which", f"`{text(handoff)}`"
    if handoff.type == "send_statement":
        return (
            f"{said} sends {code} outside a defer: after a recovered panic its receiver waits forever or gets nothing"
        )
    if text(selected_field(handoff)) in ("CloseWithError", "Commit"):
        return f"{said} calls {code}: after a recovered panic the result is cut short or never sent"
    what = skipped_handoff(handoff) or f"after a recovered panic {code} is skipped"
    return f"{said} calls {code} outside a defer: {what}"


def skipped_handoff(call: Node) -> str | None:
    """What a skipped signal, unlock, wake-up or close leaves behind; None for a call with nothing behind it."""
    field = text(selected_field(call))
    arguments = call.child_by_field_name("arguments")
    if field in ("Unlock", "RUnlock"):
        return "a panic between the Lock and it leaves the lock held, and the next Lock blocks forever"
    if field in ("Signal", "Broadcast"):
        if arguments is not None and not arguments.named_children:
            return "after a recovered panic the goroutines waiting on the condition are never woken"
        return None  # p.Signal(sig): not a condition variable
    if text(call).startswith("close("):
        return "after a recovered panic the channel stays open and its readers wait forever"
    if text(call).startswith("<-"):
        return "after a recovered panic the semaphore slot is never given back and whoever waits for the slots blocks"
    if field in ("Close", "CloseWrite", "CloseSend"):
        return "after a recovered panic it stays open and a reader may wait forever"
    return "after a recovered panic it never runs and whoever waits for it waits forever"


def selected_field(call: Node) -> Node | None:
    """``f`` in ``x.f(...)``."""
    function = call.child_by_field_name("function")
    return (
        function.child_by_field_name("field")
        if function is not None and function.type == "selector_expression"
        else None
    )


def completion_callbacks(run: Goroutine, body: Node) -> list[Node]:
    """``done()`` as the goroutine's last statement: a function value from outside that reports it has finished."""
    statements = [s for s in own_statements(body) if s.type != "defer_statement"]
    last = statements[-1].named_children[0] if statements and statements[-1].type == "expression_statement" else None
    if last is None or last.type != "call_expression" or len(statements) < 2:
        return []
    function = last.child_by_field_name("function")
    decl = scopes.resolve(function) if function is not None and function.type == "identifier" else None
    if decl is None or decl.kind not in ("var", "param") or scopes.contains(body, decl.node):
        return []  # a function of the package, or the goroutine's own closure
    return [last]


def state_left_behind(run: Goroutine, body: Node, whose: str) -> list[str]:
    """A callback from outside, then a package method that updates its receiver's state: a panic in one skips the other.

    ``hook(cc); hook = cc.shouldRunStateHook(true)``: after a recovered panic
    in the hook, the flag the method clears stays set and the hook never runs again.
    """
    calls = [c for c in calls_in(run.file, body).get("call", []) if not is_deferred(body, c)]
    callback = next((c for c in calls if calls_value_from_outside(body, c)), None)
    if callback is None:
        return []
    for call in calls:
        function = call.child_by_field_name("function")
        if call.start_byte <= callback.end_byte or function is None or function.type != "selector_expression":
            continue
        for callee in callee_bodies(run.file, function) or []:
            field = receiver_field_written(callee)
            if field is not None:
                return [
                    f"a panic in the callback `{text(callback)}` skips `{text(call)}` in {whose}, which sets "
                    f"`{field}`: after a recovered panic that state stays as the panic left it"
                ]
    return []


def calls_value_from_outside(body: Node, call: Node) -> bool:
    function = call.child_by_field_name("function")
    decl = scopes.resolve(function) if function is not None and function.type == "identifier" else None
    return decl is not None and decl.kind in ("var", "param") and not scopes.contains(body, decl.node)


def receiver_field_written(method: Node) -> str | None:
    """The first ``recv.field = literal`` in a method's body (a flag it sets or clears), as written."""
    receiver = method.parent.child_by_field_name("receiver") if method.parent is not None else None
    names = captures("(parameter_declaration name: (identifier) @n)", receiver).get("n", []) if receiver else []
    if not names:
        return None
    for assignment in captures("(assignment_statement) @a", method).get("a", []):
        left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
        target = left.named_children[0] if left is not None and left.named_children else None
        value = right.named_children[0] if right is not None and right.named_children else None
        if (
            target is not None
            and target.type == "selector_expression"
            and text(target.child_by_field_name("operand")) == text(names[0])
            and value is not None
            and value.type in ("true", "false", "nil", "int_literal")
        ):
            return text(assignment)
    return None


# -- joined workers ----------------------------------------------------------


def what_a_waiter_relies_on(run: Goroutine, body: Node) -> list[str]:
    """A goroutine someone waits for, and the work of it that the waiter can see.

    Whoever waits (``wg.Wait()``, ``<-done``) goes on with what the goroutine
    did: after a recovered panic it goes on with part of it and no sign that
    anything failed. Safe only when the goroutine does nothing the waiter can see.
    """
    waiter = waited_for(run, body)
    work = visible_work(run, body) if waiter is not None else None
    if waiter is None or work is None:
        return []
    return [
        f"{waiter} and uses what it does ({work}): after a recovered panic it would carry on "
        "with partial results; make the panic an error the parent sees"
    ]


STATEMENTS = ("expression_statement", "defer_statement")  # a call as a statement: a signal, not <-ctx.Done()


def waited_for(run: Goroutine, body: Node) -> str | None:
    """Who waits for the goroutine: the starting function joins it, or it signals that it has finished."""
    if joined_by_starter(run.go, body):
        return "the parent waits for this goroutine"
    fill = semaphore_fill(run.file, run.go, body)
    if fill is not None:
        where = fill.start_point.row + 1
        return f"the parent waits for this goroutine by filling the semaphore (`{text(fill)}` at line {where})"
    found = handoff_captures(run.file, body)
    signals = [s for s in found.get("signal", []) if s.parent is not None and s.parent.type in STATEMENTS]
    signals += [s for s in found.get("send", []) if is_signal_value(s.child_by_field_name("value"))]
    for signal in signals:
        function = signal.child_by_field_name("function")
        if function is None or not text(function).endswith(".Release"):  # a semaphore slot is no wait
            return f"whoever waits for `{text(signal)}` waits for this goroutine"
    return None


WRITING_BUILTINS = frozenset({"append", "copy", "delete", "clear"})
# Calls that neither do nor hand over work: waiting, locking, signalling.
BOOKKEEPING = frozenset({"Done", "Wait", "Lock", "Unlock", "RLock", "RUnlock", "Release", "Stop"})
# Functions that read their arguments and write nothing through them.
READ_ONLY = {
    "fmt": ("Sprint", "Sprintf", "Sprintln", "Print", "Printf", "Println", "Errorf"),
    "log": ("Print", "Printf", "Println", "Fatal", "Fatalf", "Fatalln", "Panic", "Panicf", "Panicln"),
    "strings": None,
    "strconv": None,
    "errors": ("New", "Is", "As", "Join", "Unwrap"),
}
BUILTINS = frozenset(
    {"len", "cap", "min", "max", "panic", "print", "println", "string", "bool", "byte", "rune", "error", "any"}
    | {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr"}
    | {"float32", "float64", "complex64", "complex128", "iota"}
    | {"append", "copy", "delete", "make", "new", "clear", "close", "recover", "complex", "real", "imag"}
)


def visible_work(run: Goroutine, body: Node) -> str | None:
    """The first thing the goroutine does that its waiter can see, in words; None when there is none.

    Visible: a write to a variable declared outside the goroutine (captured,
    a parameter, package-level), a send of a value, a method call on a value
    from outside, a value from outside passed to a call, a call of a function
    value from outside or of a function of the package (it may write the
    package's state).
    """
    for ident in captures("(identifier) @i", body).get("i", []):
        if (scopes.is_write(scopes.whole_operand(ident)) or scopes.is_write(ident)) and from_outside(run, body, ident):
            return f"it writes {text(ident)}"
    for send in captures("(send_statement) @s", body).get("s", []):
        if not is_signal_value(send.child_by_field_name("value")):
            return f"it sends on {text(send.child_by_field_name('channel'))}"
    for call in calls_in(run.file, body).get("call", []):
        function = call.child_by_field_name("function")
        if function is None or is_completion_signal(call):
            continue
        if function.type == "selector_expression":
            operand = function.child_by_field_name("operand")
            name = text(function.child_by_field_name("field"))
            if operand is not None and is_package(run.file, operand):
                allowed = READ_ONLY.get(text(operand), ())
                if allowed is None or name in (allowed or ()):
                    continue  # reads its arguments only
            elif name in BOOKKEEPING:
                continue
            else:
                root = scopes.root_identifier(operand) if operand is not None else None
                if root is not None and from_outside(run, body, root):
                    return f"it calls {text(function)} on a value the parent shares"
        elif function.type == "identifier" and from_outside(run, body, function):
            return f"it calls {text(function)}, which may write what the parent reads"
        elif text(function) in BUILTINS and text(function) not in WRITING_BUILTINS:
            continue  # len(x), string(b): reads only
        arguments = call.child_by_field_name("arguments")
        for ident in captures("(identifier) @i", arguments).get("i", []) if arguments is not None else []:
            if from_outside(run, body, ident) and not is_package(run.file, ident):
                return f"it passes {text(ident)} to {text(function)}"
    return None


def is_completion_signal(call: Node) -> bool:
    """``close(ch)``, ``cancel()``, ``x.Done()``, ``x.Release(n)``: handled as signals, not as work."""
    function = call.child_by_field_name("function")
    if function is None:
        return False
    if function.type == "identifier":
        return text(function) == "close" or text(function).startswith("cancel")
    return function.type == "selector_expression" and text(function.child_by_field_name("field")) in ("Done", "Release")


def from_outside(run: Goroutine, body: Node, ident: Node) -> bool:
    """A name the goroutine shares with its starter: captured, a parameter, or package-level."""
    decl = scopes.resolve(ident)
    if decl is None:
        # The package's functions are looked up (parsing the files that may declare one) only for a name that
        # is a builtin or an import's: any other undeclared name is from outside whatever the package declares.
        return not (text(ident) in BUILTINS or is_package(run.file, ident)) or text(ident) in run.package.functions
    return decl.kind not in ("type", "const") and not scopes.contains(body, decl.node)


# -- completion signals turned into defers -----------------------------------


def plan_moves(run: Goroutine, handler: list[str]) -> tuple[set[Node], list[Edit], list[str]]:
    """Completion signals at the end of a func literal, deferred so a recovered panic still runs them.

    Returns the moved statements, the edits that delete them and insert their
    defers after the existing ones, and the lines to put first in the goroutine.
    """
    body = run.literal.child_by_field_name("body") if run.literal is not None else None
    if body is None or body.start_point.row == body.end_point.row:
        return set(), [], handler
    statements = own_statements(body)
    tail: list[Node] = []
    for statement in reversed(statements):
        if not movable(statement):
            break
        tail.insert(0, statement)
    leading = 0
    while leading < len(statements) and statements[leading].type == "defer_statement":
        leading += 1
    if len(tail) == len(statements) - leading:
        return set(), [], handler  # nothing but signals and waits: no work a panic could interrupt
    if not tail or not keeps_normal_path(run, body, statements, tail, leading):
        return set(), [], handler
    ctx = run.ctx
    comments = attached_comments(tail[0])
    start = ctx.source.line_start((comments or tail)[0].start_byte)
    before = ctx.source.line_start(start - 1) if start > body.start_byte else start
    if not ctx.source.data[before:start].strip():
        start = before  # the blank line above the moved lines would end up before the "}"
    end = ctx.source.data.index(b"\n", tail[-1].end_byte) + 1
    deletion = Edit(start, end, b"")
    deferred = [*(text(c) for c in comments), *(as_defer(s) for s in reversed(tail))]
    if leading == 0:
        return set(tail), [deletion], [*handler, *deferred]
    last = statements[leading - 1]
    at = ctx.source.data.index(b"\n", last.end_byte) + 1
    indent = ctx.indent(last)
    insertion = Edit(at, at, "".join(f"{indent}{line}\n" for line in deferred).encode())
    return set(tail), [insertion, deletion], handler


def movable(statement: Node) -> bool:
    """A pure completion signal: running it after a recovered panic is what a defer would do."""
    if statement.type == "send_statement":
        return is_signal_value(statement.child_by_field_name("value"))
    inner = statement.named_children[0] if statement.type == "expression_statement" else None
    if inner is None:
        return False
    if inner.type == "unary_expression":
        operand = inner.child_by_field_name("operand")
        return operand is not None and operand.type in ("identifier", "selector_expression")
    if inner.type != "call_expression":
        return False
    function = inner.child_by_field_name("function")
    if function is not None and function.type == "identifier":
        return text(function) == "close" or text(function).startswith("cancel")
    name = function.child_by_field_name("field") if function is not None else None
    return text(name) in ("Done", "Release")


def keeps_normal_path(run: Goroutine, body: Node, statements: list[Node], tail: list[Node], leading: int) -> bool:
    """Whether deferring the tail changes nothing when no panic happens."""
    if leading + len(tail) > len(statements):
        return False  # a defer among the signals
    later_defers = [d for d in captures("(defer_statement) @d", body).get("d", []) if d not in statements[:leading]]
    if outside_literals(body, later_defers):
        return False  # a defer registered later runs before ours: the order would change
    exits = [e for e in captures("[(return_statement) (goto_statement)] @e", body).get("e", [])]
    if outside_literals(body, exits):
        return False  # today a return skips the signals; deferred they would run on that path
    skipping = [n for n in calls_in(run.file, body).get("name", []) if text(n) in SKIPPING_CALLS]
    if outside_literals(body, skipping):
        return False  # Goexit runs defers: the signal would run where it did not
    if any(not ends_its_line(run, s) for s in tail) or not run.ctx.source.starts_line(tail[0].start_byte):
        return False
    written = {
        text(scopes.root_identifier(scopes.whole_operand(i)) or i)
        for i in captures("(identifier) @i", body).get("i", [])
        if scopes.is_write(scopes.whole_operand(i)) or scopes.is_write(i)
    }
    for statement in tail:
        for ident in captures("(identifier) @i", statement).get("i", []):
            decl = scopes.resolve(ident)
            if decl is not None and scopes.contains(body, decl.node):
                return False  # declared in the goroutine: not in scope where the defer goes
            if text(ident) in written:
                return False  # the defer would read it before the goroutine changes it
    return True


def ends_its_line(run: Goroutine, node: Node) -> bool:
    data = run.ctx.source.data
    end = data.find(b"\n", node.end_byte)
    return not data[node.end_byte : end if end >= 0 else len(data)].strip()


def attached_comments(statement: Node) -> list[Node]:
    """Comment lines right above a statement, which describe it and move with it."""
    found: list[Node] = []
    node = statement.prev_named_sibling
    row = statement.start_point.row
    while node is not None and node.type == "comment" and node.end_point.row == row - 1:
        found.insert(0, node)
        row = node.start_point.row
        node = node.prev_named_sibling
    return found


def as_defer(statement: Node) -> str:
    if statement.type == "expression_statement" and statement.named_children[0].type == "call_expression":
        return f"defer {text(statement)}"
    return f"defer func() {{ {text(statement)} }}()"


# -- the handler ------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    """The deferred recover for one goroutine: its lines, its imports, and what makes it unsafe."""

    lines: list[str]
    import_edits: list[Edit]
    concerns: list[str]


DEFAULT_IMPORTS = {"log": "log", "debug": "runtime/debug", "slog": "log/slog", "fmt": "fmt", "os": "os"}


def prepare_handler(run: Goroutine) -> Handler | str | None:
    """The handler; None when a local hides its names; why not, when an import would be a cycle."""
    ctx = run.ctx
    configured = textwrap.dedent(str(ctx.option("handler") or "")).strip()
    if configured:
        statements, paths, value = configured_handler(ctx, configured), configured_imports(ctx, configured), "r"
        concerns: list[str] = []
    else:
        logger = loggers.find(ctx.source, run.package, run.go)
        value = "rec" if logger is not None and (logger.expr or "").split(".")[0] == "r" else "r"
        statements, paths = logged(logger, label(run), value)
        concerns = [] if logger is not None or package.package_name(ctx.source) == "main" else [NO_CONVENTION]
    cycle = loggers.import_cycle(ctx.path, paths) if paths else None
    if cycle is not None:
        return f"importing {cycle} here would create an import cycle"
    names, edits = import_names(ctx, paths) if paths else ({}, [])
    if any(scopes.declared_in_function(ctx.source.data, name, run.go) for name in names.values()):
        return None
    renames = {default_name(p): names[p] for p in paths}
    text_ = rename_packages(statements, renames)
    body = [f"\t\t{line}" for line in text_.splitlines() if line.strip()]
    lines = ["defer func() {", f"\tif {value} := recover(); {value} != nil {{", *body, "\t}", "}()"]
    return Handler(lines, edits, concerns)


# Per pass of a file: the handler's imports, the same for every goroutine of it.
_IMPORTS: weakref.WeakKeyDictionary[FileContext, dict[tuple[str, ...], tuple[dict[str, str], list[Edit]]]] = (
    weakref.WeakKeyDictionary()
)


def import_names(ctx: FileContext, paths: list[str]) -> tuple[dict[str, str], list[Edit]]:
    """``ctx.import_names(*paths)``, worked out once per pass of the file (the file does not change in a pass)."""
    found = _IMPORTS.setdefault(ctx, {})
    key = tuple(paths)
    if key not in found:
        found[key] = ctx.import_names(*paths)
    return found[key]


NO_CONVENTION = (
    "this library has no logger: panics would go to the program's global log and never reach the program; "
    "set [rules.goroutine-without-recover] handler to the package's way of reporting them"
)


def logged(logger: loggers.Logger | None, what: str, r: str) -> tuple[str, list[str]]:
    """A Go statement reporting the recovered value ``r`` the logger's way, and the imports it needs."""
    printf = f'"{what}: panic: %v\\n%s", {r}, debug.Stack()'
    kind = logger.kind if logger is not None else "printf"
    target = logger.expr if logger is not None and logger.expr else None
    if target is None and logger is not None and logger.package is not None:
        target = default_name(logger.package)
    kv = f'"panic", {r}, "stack", string(debug.Stack())'
    zap_fields = f'zap.Any("panic", {r}), zap.Stack("stack")'
    calls = {
        "slog": (f'{target}.Error("{what}: panic", {kv})', ["log/slog"] if logger and logger.package else []),
        "log": (f"{target}.Printf({printf})", []),
        "logr": (f'{target}.Error(nil, "{what}: panic", {kv})', []),
        "zap": (f'{target}.Error("{what}: panic", {zap_fields})', ["go.uber.org/zap"]),
        "zap-global": (
            f'zap.L().Error("{what}: panic", zap.Any("panic", {r}), zap.Stack("stack"))',
            ["go.uber.org/zap"],
        ),
        "sugar": (f'{target}.Errorw("{what}: panic", {kv})', []),
        "logrus": (f"{target}.Errorf({printf})", []),
        "testing": (f"{target}.Errorf({printf})", []),
        "logf": (f"{target}({printf})", []),
        "printf-errorf": (f"{target}.Errorf({printf})", [logger.package] if logger and logger.package else []),
        "printf": (f"log.Printf({printf})", ["log"]),
    }
    statement, paths = calls[kind]
    if "debug.Stack()" in statement:
        paths = [*paths, "runtime/debug"]
    return statement, paths


def label(run: Goroutine) -> str:
    """What the log line calls the goroutine: the function it runs, or the one that starts it."""
    call = goroutines.call_of(run.go)
    function = call.child_by_field_name("function") if call is not None and run.literal is None else None
    if function is not None and function.type == "selector_expression":
        function = function.child_by_field_name("field")
    if function is not None and function.type in ("identifier", "field_identifier"):
        return text(function)
    starter = scopes.top_level(run.go)
    name = starter.child_by_field_name("name")
    return f"goroutine in {text(name)}" if name is not None else "goroutine"


def configured_handler(ctx: FileContext, template: str) -> str:
    if parse(f"package p\nfunc _() {{\n{template}\n}}\n".encode()).root_node.has_error:
        raise ValueError(f"[rules.goroutine-without-recover] handler is not Go statements: {template!r}")
    return template


def configured_imports(ctx: FileContext, template: str) -> list[str]:
    """``handler-imports``, plus the standard packages the handler names by their usual names."""
    paths = [str(p) for p in ctx.option("handler-imports") or []]
    named = {default_name(p) for p in paths}
    used = package_identifiers(template)
    return paths + [p for name, p in DEFAULT_IMPORTS.items() if name in used and name not in named]


RULE = Rule(
    id="goroutine-without-recover",
    summary="goroutines whose function does not recover from panics",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    default_options={
        "handler": "",
        "handler-imports": [],
        "helpers": [],
        "include-tests": False,
    },
    triggers=(b"go ", b"go\t"),
)
