"""`context.Background()` or `context.TODO()` where the function has a context of its own.

## What it does
Finds `context.Background()` and `context.TODO()` (under whatever name the
file imports `context`) inside a function that receives a usable context: a
named `context.Context` parameter, or else a `*http.Request` (whose
`Context()` is cancelled when the client goes away or the handler returns).
A func literal sees the context of the function around it when it runs
inside that call: called on the spot, handed to a synchronous helper
(`once.Do`, `sort.Slice`, `filepath.Walk`, ...) or to a call that receives
the context too (`retry.Do(ctx, func() error {...})`), or started as a
goroutine. The finding is on the `Background()` / `TODO()` call.

Not reported, because there the fresh context is the point or the context is
not the function's to give:
- `main`, `init`, and `_test.go` files (tests have `t.Context()` since Go
  1.24; `include-tests = true` checks them);
- a function whose context parameter is `_` or unnamed (it says it ignores
  it), or that has two of them;
- a func literal that outlives the call: stored, returned, handed to an
  unknown function, `time.AfterFunc`, `context.AfterFunc`; and `once.Do`
  (state made once for every caller must not hang on the first one's context);
- a context that is kept: returned, stored in a field, a package variable
  or a composite literal (`http.Server{BaseContext: ...}`), sent on a
  channel, given to a call whose result is stored in a field or package
  variable (`s.rows, err = db.QueryContext(...)`: the result outlives the
  call), assigned to the context parameter itself (`if ctx == nil { ctx =
  context.Background() }`), or passed to a function that keeps it: a
  constructor or starter (`NewWorker`, `Start`, `Serve`, `Watch`, ...; not
  `NewRequestWithContext`) or a function of the package that stores its
  context parameter, hands it to a goroutine it does not wait for, or
  passes it on to a constructor, a starter or such a function (followed a
  few calls deep: `warm(ctx)` calling `s.runWarmers(ctx)`, which starts the
  goroutine);
- cleanup meant to survive cancellation: inside a `defer`, passed to
  `Close`, `Shutdown`, `Stop`, `Rollback`, `Release`, `Unlock`, `Cleanup`,
  `Flush` and the like, in a branch that runs once the context is done
  (`if ctx.Err() != nil`, `case <-ctx.Done():`, `errors.Is(err,
  context.Canceled)`) or after `<-ctx.Done()`, in a `ctx == nil` branch;
- a fresh context the code names or comments as deliberate: a variable
  called `bg`, `detached`, `shutdownCtx`, `cleanupCtx`, `baseCtx`..., or a
  comment on the line or just above that talks about the context,
  cancellation, detaching or outliving;
- a fresh context compared (`ctx != context.Background()`) or used any other
  way than as an argument.

## Why is this bad?
A function that takes a context promises its caller that cancelling it (a
deadline passes, the client disconnects, the server shuts down) stops the
work. A call made with `context.Background()` inside it never sees that
cancellation: the request is abandoned upstream but the query, the RPC or
the retry loop runs on to its own end, holding connections and goroutines,
and the values carried by the context (trace ids, credentials, deadlines)
are lost on the way down. `context.TODO()` says so explicitly: the code has
not been given the right context yet.

## Example
```go
func (s *Store) Lookup(ctx context.Context, id string) (*User, error) {
        row := s.db.QueryRowContext(context.Background(), "SELECT ...", id)
        ...
}
```

Use instead:
```go
func (s *Store) Lookup(ctx context.Context, id string) (*User, error) {
        row := s.db.QueryRowContext(ctx, "SELECT ...", id)
        ...
}
```

## What the fix does
Replaces the call with the function's context: `ctx`, or `r.Context()` in
an HTTP handler (dropping the `context` import when that was its last use).
Inside a goroutine the function does not wait for, and in `go
f(context.Background())` or `go func(c context.Context) { ...
}(context.Background())`, it uses `context.WithoutCancel(ctx)` instead (Go
1.21 and later; no fix before): the goroutine keeps running after the
function returns, as before, but carries the context's values.

## Fix safety
The fix changes behaviour on purpose: the downstream call now stops when
the caller cancels. It is safe when that is all it changes, which the rule
shows from the code: the fresh context (directly, or through
`context.WithTimeout`/`WithCancel`/`WithValue` held in a local) flows only
into calls the function makes and waits for (synchronous calls, goroutines
it joins), nothing keeps it (see above), and either the call is
`context.TODO()` (the code says its context is a placeholder) or the
function uses its context nowhere else (it takes one and ignores it: the
caller's cancellation was simply dropped).

The fix is unsafe, and says what to check, when:
- the function passes its context to other calls but not to this one: the
  fresh context may be deliberate, for work that must finish even when the
  caller gives up (a write that must not stop halfway, an audit record);
- the call runs on an error path (`if err != nil`), where it may be
  compensating work that must run after a cancellation;
- the func literal holding the call is handed to a call that also receives
  the context (`retry.Do(ctx, func() error {...})`), or runs as a goroutine
  the function waits for in a way the rule cannot tie to it: the callee
  must run it before returning;
- the function replaces its own context with one derived from a fresh one
  (`ctx, cancel := context.WithTimeout(context.Background(), d)`);
- what the call returns is kept in a local that the function then stores
  in a field, an element or a package variable (`conn, err :=
  dial(context.Background(), addr)` then `s.conn = conn`, `p.conns =
  append(p.conns, c)` or `&Client{conn: conn}`), started (`cmd :=
  exec.CommandContext(context.Background(), ...)` then `cmd.Start()`) or
  used by a goroutine the function does not wait for: a connection, a
  process or a request may live as long as the context it was made with;
- the function is given an `*http.Request` but is not a handler (no
  `http.ResponseWriter`: a `RoundTrip`, a client helper): the request's
  context belongs to whoever sends it, and the work (a token fetch, a
  cached lookup) may be shared by other requests;
- in an HTTP handler, the response is written or flushed before the call
  (`w.WriteHeader(http.StatusAccepted)`, `f.Flush()`, `fmt.Fprintf(w, ...)`;
  not an `http.Error(w, ...); return` branch): work done after answering is
  often meant to finish even when the client hangs up;
- with `context.Background()`, the callee's name says it records or
  announces work already done (`audit`, `Record`, `Publish`, `Emit`,
  `Notify`, `event`, `outbox`, `webhook`, `Commit`, `Ack`): with the
  caller's context the record is lost when the caller gives up after the
  work, and an audit row or an event must not be; or that it hands work off
  to run later (`Enqueue`, `Schedule`, `Submit`, `Dispatch`): the queue may
  keep the context with the job;
- it is `context.WithoutCancel(ctx)` in a goroutine: cancellation is kept
  as it was, but the goroutine now holds the context's values, which may
  refer to request-scoped state that is gone when it runs.

There is no fix when the parameter's name is shadowed at the call by an
unrelated variable, when the function reassigns its context after starting
the goroutine (capturing it would race), or, for a goroutine, before Go 1.21.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, contexts, pools, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety

# Fresh contexts under the file's name for package context:
#   context.Background()    context.TODO()    stdctx.Background()
CALLS = """
(call_expression
  function: (selector_expression operand: (identifier) @package field: (field_identifier) @name)
  arguments: (argument_list) @arguments) @call
"""

FRESH = frozenset({b"Background", b"TODO"})
# Comments on or above the call, and doc comments, that say the fresh context is deliberate.
DELIBERATE_COMMENT = re.compile(
    r"(context|ctx|cancel|detach|outliv|independen|background|survive|deadline|on purpose|deliberate|intentional"
    r"|caller|regardless|even (?:when|if)|gives? up|shut ?down|clean ?up)",
    re.IGNORECASE,
)
DETACHED_DOC = re.compile(
    r"(outliv|detach|independen\w* of|survive|even (?:when|if) .{0,40}cancel"
    r"|regardless of .{0,30}(?:cancel|context|caller)|not (?:be )?cancel|without (?:the )?cancel"
    r"|ignor\w* .{0,20}(?:cancel|context)|background context|fresh context)",
    re.IGNORECASE,
)


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.is_test_file and not ctx.option("include-tests"):
        return  # tests: t.Context() (Go 1.24) is theirs to use, a fresh context there is rarely a leak
    package = contexts.import_name(ctx.source, "context")
    if package is None:
        return
    http = contexts.import_name(ctx.source, "net/http")
    plans: list[Plan] = []
    for call, name in captures_calls(ctx, package):
        top = scopes.top_level(call)
        if top.type == "function_declaration" and top.child_by_field_name("name").text in (b"main", b"init"):  # type: ignore[union-attr]
            continue  # the program's root context is made here
        origin = contexts.origin(call, package, http)
        if origin is None or _deliberate(ctx, call, origin):
            continue
        sinks = contexts.sinks_of(ctx, call, origin, package)
        if not sinks:
            continue  # the fresh context is kept, or meant for cleanup
        plans.append(_plan(ctx, call, name, origin, sinks, package))
    yield from _findings(ctx, plans, package)


def captures_calls(ctx: FileContext, package: str) -> list[tuple[Node, Node]]:
    found = []
    # The CALLS matches naming Background or TODO, looked up where those names are written.
    for call, pkg, _ in pools.method_calls(ctx.root, tuple(f.decode() for f in sorted(FRESH))):
        arguments = call.child_by_field_name("arguments")
        name = call.child_by_field_name("function").child_by_field_name("field")  # type: ignore[union-attr]
        if pkg.type != "identifier" or pkg.text != package.encode() or arguments.named_child_count:  # type: ignore[union-attr]
            continue
        if scopes.resolve(pkg) is not None:
            continue  # a variable named like the package
        found.append((call, name))
    return found


# -- fresh contexts made on purpose ---------------------------------------------


def _deliberate(ctx: FileContext, call: Node, origin: contexts.Origin) -> bool:
    """Whether the code shows the fresh context is meant: comments, done checks, nil checks."""
    if _commented(ctx, call, origin.function) or _documented(ctx, origin.function):
        return True
    return contexts.nil_or_done_at(call, origin)


def _commented(ctx: FileContext, call: Node, function: Node) -> bool:
    """A comment about contexts on the call's lines, or right above a statement around it.

    The statements looked at are each one holding the call up to the
    function's body, and the statements of the paragraph (no blank line
    between) each of them ends: a comment heading a paragraph explains it.
    """
    lines = ctx.source.data.split(b"\n")
    rows: set[int] = set(range(_statement(call).start_point.row, call.end_point.row + 1))
    for statement in _statements_around(call, function):
        current = statement
        rows |= _comment_rows_above(lines, current.start_point.row)
        previous = current.prev_named_sibling
        while previous is not None and previous.end_point.row == current.start_point.row - 1:
            rows |= _comment_rows_above(lines, previous.start_point.row)  # the paragraph the statement ends
            current, previous = previous, previous.prev_named_sibling
    for number in sorted(rows):
        line = lines[number].decode(errors="replace") if number < len(lines) else ""
        comment = line[line.index("//") + 2 :].strip() if "//" in line else ""
        if comment.startswith(("want ", "TODO", "FIXME", "XXX")):
            continue  # a test expectation, or a note that the context should change
        if DELIBERATE_COMMENT.search(comment):
            return True
    return False


def _statements_around(node: Node, function: Node) -> list[Node]:
    found = []
    for current in [node, *scopes.ancestors(node)]:
        if current == function:
            break
        if current.parent is not None and current.parent.type == "statement_list":
            found.append(current)
    return found


def _comment_rows_above(lines: list[bytes], row: int) -> set[int]:
    rows = set()
    row -= 1
    while row >= 0 and lines[row].strip().startswith(b"//"):
        rows.add(row)
        row -= 1
    return rows


def _documented(ctx: FileContext, function: Node) -> bool:
    """The doc comment of a declared function says its work outlives or ignores cancellation."""
    if function.type == "func_literal":
        return False
    lines = ctx.source.data.split(b"\n")
    row = function.start_point.row - 1
    doc = []
    while row >= 0 and lines[row].strip().startswith(b"//"):
        doc.append(lines[row].decode(errors="replace"))
        row -= 1
    return bool(DETACHED_DOC.search(" ".join(doc)))


def _statement(node: Node) -> Node:
    for current in [node, *scopes.ancestors(node)]:
        if current.parent is None or current.parent.type in ("statement_list", "source_file", "block"):
            return current
    return node


# -- the finding and its fix ----------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One finding before the file's import is looked at."""

    call: Node
    name: Node
    message: str
    replacement: str | None  # None: no fix, ``why`` says why
    why: str
    safety: Safety
    caveat: str
    drops_use: bool  # the fix removes a use of the context package and adds none (r.Context())


def _plan(
    ctx: FileContext, call: Node, name: Node, origin: contexts.Origin, sinks: list[contexts.Sink], package: str
) -> Plan:
    fresh = f"{package}.{name.text.decode()}()"  # type: ignore[union-attr]
    param = origin.decl.name
    own = f"{param}.Context()" if origin.kind == "request" else param
    detached = origin.goroutine is not None or any(s.kind == "go" for s in sinks)
    if detached:
        message = (
            f"{fresh} in a goroutine that outlives the function drops the values of {own} (trace ids, credentials)"
        )
    elif origin.kind == "request" and contexts.is_handler(origin.function):
        message = f"{fresh} in an HTTP handler ignores {own}, cancelled when the client goes away"
    elif origin.kind == "request":
        message = f"{fresh} ignores {own}, the context of the request the function is given"
    else:
        message = f"{fresh} ignores the cancellation of {own}, the function's context"
    replacement, why = _replacement(ctx, call, origin, package, own, detached)
    safety, caveat = _safety(ctx, call, name, origin, sinks, own, detached)
    drops = replacement is not None and origin.kind == "request" and not detached
    return Plan(call, name, message, replacement, why, safety, caveat, drops)


def _findings(ctx: FileContext, plans: list[Plan], package: str) -> Iterator[Finding]:
    """The findings with their fixes; when the fixes leave the context import unused, it goes with them.

    When several fixes each remove one of the package's last uses, each of
    them does them all (they overlap, so one applies): applied one at a time,
    each would see the ones before as uses of the request's context.
    """
    if not plans:
        return  # nothing to report: the package's uses need not be looked up
    uses = contexts.package_uses(ctx.source, package)
    dropping = [p for p in plans if p.drops_use]
    spec = contexts.import_spec(ctx.source, "context")
    calls = {p.call.id for p in dropping}
    together = spec is not None and bool(uses) and all(_call_of(u) in calls for u in uses)
    for plan in plans:
        if plan.replacement is None:
            yield ctx.finding(plan.name, f"{plan.message} (no fix: {plan.why})")
            continue
        message = f"Use {plan.replacement}"
        edits = [Edit(plan.call.start_byte, plan.call.end_byte, plan.replacement.encode())]
        safety, caveat = plan.safety, plan.caveat
        if together and plan.drops_use and spec is not None:
            others = [p for p in dropping if p is not plan]
            edits += [Edit(p.call.start_byte, p.call.end_byte, (p.replacement or "").encode()) for p in others]
            edits.append(contexts.remove_import(ctx.source, spec))
            if others:
                places = "place" if len(others) == 1 else "places"
                message += f" here and in {len(others)} other {places} of the file, dropping the unused import"
                unsafe = next((p for p in others if p.safety is Safety.UNSAFE), None)
                if unsafe is not None and safety is Safety.SAFE:
                    safety, caveat = Safety.UNSAFE, f"line {unsafe.call.start_point.row + 1}: {unsafe.caveat}"
        if caveat:
            message += f" (check: {caveat})"
        yield ctx.finding(plan.name, plan.message, ctx.fix(message, edits, safety))


def _call_of(package: Node) -> int | None:
    """The id of the ``context.X()`` call a use of the package stands in, if it is one."""
    selector = package.parent
    call = selector.parent if selector is not None else None
    return call.id if call is not None and call.type == "call_expression" else None


def _replacement(
    ctx: FileContext, call: Node, origin: contexts.Origin, package: str, own: str, detached: bool
) -> tuple[str | None, str]:
    param = origin.decl.name
    seen = contexts.visible(call, param)
    if seen != origin.decl and not (seen is not None and contexts.derived_from(seen, origin.decl)):
        return None, f"{param} is shadowed here by another variable"
    started = [concurrency.goroutine_start(g) for g in origin.goroutines]
    spawns = [s for s in started if s is not None]
    if spawns and any(
        w.start_byte > min(s.start_byte for s in spawns) for w in scopes.writes(origin.decl, origin.function)
    ):
        return None, f"the function reassigns {param} while the goroutine may read it"
    if not detached:
        return own, ""
    if not ctx.at_least(1, 21):
        return None, f"{package}.WithoutCancel needs Go 1.21"
    return f"{package}.WithoutCancel({own})", ""


def _safety(
    ctx: FileContext,
    call: Node,
    name: Node,
    origin: contexts.Origin,
    sinks: list[contexts.Sink],
    own: str,
    detached: bool,
) -> tuple[Safety, str]:
    if detached:
        return Safety.UNSAFE, (
            "the goroutine now holds the context's values; they must not refer to state that ends with the call"
        )
    if origin.unsure:
        return Safety.UNSAFE, origin.unsure
    if statements.on_error_path(call, origin.function):
        return Safety.UNSAFE, (
            f"this runs on an error path; with {own} it stops once the caller cancels, which compensating work must not"
        )
    if any(s.kind == "rebind" for s in sinks):
        return Safety.UNSAFE, (
            f"the function replaces {own} with a context made from a fresh one; it may mean to detach from its caller"
        )
    if any(s.kind == "kept" for s in sinks):
        return Safety.UNSAFE, (
            "what the call returns is kept or keeps running after the function returns; if it is a connection,"
            f" a client, a process or a request whose lifetime follows its context, it would now end with {own}"
        )
    if origin.kind == "request" and contexts.responded_before(call, origin.function):
        return Safety.UNSAFE, (
            f"this runs after the handler has written its response; {own} may be cancelled once the client has"
            " its answer, and work done after responding is often meant to finish regardless"
        )
    if origin.kind == "request" and not contexts.is_handler(origin.function):
        return Safety.UNSAFE, (
            f"{origin.decl.name} is a request the function is given, not one it serves (a RoundTrip, a client"
            f" helper): {own} belongs to whoever sends it, and the work may be shared beyond that request"
        )
    if name.text == b"TODO":
        return Safety.SAFE, ""
    aftermath = _aftermath(sinks)
    if aftermath is not None:
        return Safety.UNSAFE, (
            f"{aftermath} looks like it records or announces work already done; with {own} it is skipped"
            " when the caller cancels after that work, which an audit record or an event must not be"
        )
    handoff = _aftermath(sinks, HANDOFF_WORDS)
    if handoff is not None:
        return Safety.UNSAFE, (
            f"{handoff} hands work off to run later; if it keeps the context with the job, the job would now be"
            f" cancelled with {own}"
        )
    if contexts.uses_context_elsewhere(origin, call):
        return Safety.UNSAFE, (
            f"the function passes {own} to other calls but not to this one; the fresh context may be deliberate,"
            " for work that must finish even when the caller gives up"
        )
    return Safety.SAFE, ""


# Words of a callee that records or announces work already done.
AFTERMATH_WORDS = frozenset(
    {"audit", "auditor", "publish", "publisher", "emit", "notify", "notifier", "event", "events", "outbox"}
    | {"webhook", "webhooks", "journal", "record", "recorder", "ack", "acknowledge", "commit"}
)


# Words of a callee that hands work off to run later (it may keep the context with the job).
HANDOFF_WORDS = frozenset({"enqueue", "schedule", "submit", "dispatch", "defer", "queue", "later", "delay", "delayed"})


def _aftermath(sinks: list[contexts.Sink], words: frozenset[str] = AFTERMATH_WORDS) -> str | None:
    """The callee, when a sink's callee names an audit record, an event, a notification (or other ``words``)."""
    for sink in sinks:
        if sink.kind not in ("call", "kept"):
            continue
        function = sink.node.child_by_field_name("function")
        text = (function.text or b"").decode(errors="replace") if function is not None else ""
        if contexts.name_words(text) & words:
            return text
    return None


RULE = Rule(
    id="context-not-propagated",
    summary="context.Background() or context.TODO() in a function that has a context of its own to pass on",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    min_go_version=(1, 7),
    default_options={"include-tests": False},
    triggers=(b".Background()", b".TODO()"),
)
