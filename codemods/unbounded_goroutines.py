"""Goroutines started in a loop with no limit on how many run at once.

## What it does
Finds `go` statements inside `for` loops that nothing limits: no semaphore is
acquired before the `go` in the same iteration, the loop is not a fixed pool
of workers (a constant bound such as `runtime.NumCPU()`, or a counting loop
whose goroutines take nothing from the iteration: `for i := 0; i < n; i++ {
go w.run() }`), and the goroutines do not drain a shared channel.

Not reported, because they are not unbounded: an iteration that waits for its
goroutine (`go f(); <-done`, `wg.Wait()` in the same iteration), a goroutine
that can start only once (`if n == 1 { go ... }`, `if x == nil { x = ...; go
... }`), `go ...; return` or `break` right after, loops over a literal list or
a fixed-size array.

## Why is this bad?
Each iteration starts one more goroutine. With a large input, thousands of
goroutines run at once: memory grows with their stacks, downstream services
get every request at the same moment, and file descriptors or connections run
out. A semaphore acquired *inside* the goroutine does not help: the goroutines
are still all started, and each one parked on the semaphore still holds its stack.

## Example
```go
for _, u := range urls {
        wg.Add(1)
        go func() {
                defer wg.Done()
                fetch(u)
        }()
}
wg.Wait()
```

Use instead:
```go
sem := make(chan struct{}, 16)
for _, u := range urls {
        wg.Add(1)
        sem <- struct{}{}
        go func() {
                defer func() { <-sem }()
                defer wg.Done()
                fetch(u)
        }()
}
wg.Wait()
```

## What the fix does
Declares a semaphore channel before the outermost loop of the function (one
limit for nested loops), acquires it right before the `go`, and releases it in
a deferred call that the goroutine runs first. Safe fixes of one function
share one semaphore; a loop nest limited separately gets a name that says
what it limits (`keysSem`). `go f(x)` becomes `go func() { ...; f(x) }()`,
with arguments that could change bound before the `go` so they are still
evaluated there, named after the callee's parameters. A semaphore acquired
inside the goroutine is moved before the `go`. The size comes from `.gofix-conc.toml`:

```toml
[rules.unbounded-goroutines]
limit = 16           # semaphore size
max-pool-size = 1024 # constant loop bounds up to this are treated as worker pools
```

## Fix safety
The fix is safe only when the code shows that a limit keeps the behaviour:
every loop around the `go` walks a slice, map, array or string held in memory
(not a channel, not a count); the function waits for the goroutines after the
loop (`wg.Wait()` on a WaitGroup they use, or receiving every result); the
goroutines talk to nothing but that WaitGroup and a results channel with room
for every iteration (`make(chan T, len(xs))`); the file is not a test. Anything
else is unsafe, and the message names what a reviewer must check.

There is no fix at all where a semaphore breaks the program or overrides a
design decision:
- loops fed by a stream (`l.Accept()`, `for { select ... }`, `for v := range ch`,
  a receive in the iteration): concurrency is the design, and a semaphore caps
  the service at `limit` clients and blocks the loop (it no longer sees
  `ctx.Done()`); a limit there is a product decision (`netutil.LimitListener`);
- goroutines that live as long as the program (an endless loop waiting for
  events, `syncLoop`, `watch...`): capping them starves the rest;
- a lock held by the loop (`mu.Lock()`/`RLock()` before the loop or in the
  iteration): a goroutine that takes it, even in a deferred cleanup, deadlocks;
- goroutines that feed the loop (they send on a channel the loop reads, or
  call the function itself) or wait on a channel: deadlock once `limit`
  goroutines wait on the blocked loop; the same for sends on an unbuffered
  channel read only after the loop;
- another limiter in the function (`Acquire`, `SetLimit`, a token channel, a
  worker pool): a second one silently changes the configured limit;
- shutdown paths (`Stop`, `Close`, `Shutdown`, `Kill`... or goroutines sharing
  a deadline or timeout context): one timeout would become many.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import concurrency, fanout, goroutines, scopes, types
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import captures, matches, spelled
from gofix_conc.types import Types

# go statements, each checked against the loops around it:
#   for ... { ...; go f(x) }
GO_STATEMENTS = "(go_statement) @go"

# A semaphore already declared before a loop, reused by later fixes:
#   sem := make(chan struct{}, N)
SEMAPHORE_DECLARATION = """
(short_var_declaration
  left: (expression_list . (identifier) @name .)
  right: (expression_list . (call_expression
    function: (identifier) @make
    arguments: (argument_list . (channel_type value: (struct_type)) . (_) @size))) .)
"""

# A semaphore taken x/sync/semaphore style:
#   sem.Acquire(ctx, 1)
ACQUIRE_CALLS = """
(call_expression
  function: (selector_expression field: (field_identifier) @m (#match? @m "^(Acquire|TryAcquire)$"))) @c
"""

# The machine's size: runtime.NumCPU(), runtime.GOMAXPROCS(0) or GOMAXPROCS(-1) (a query, not a setting).
_CONSTANT_CALLS = re.compile(r"^runtime\.(?:NumCPU\(\)|GOMAXPROCS\((?:0|-1)\))$")
_COMMUNICATION = '[(send_statement channel: (_) @ch) (unary_expression operator: "<-" operand: (_) @ch)]'
_RANGES = "(range_clause right: (_) @ch)"
_CLOSES = '(call_expression function: (identifier) @fn (#eq? @fn "close") arguments: (argument_list . (_) @ch))'


def check(ctx: FileContext) -> Iterator[Finding]:
    types: Types | None = None
    planned: list[tuple[Node, Node | None, fanout.Verdict]] = []
    for go in concurrency.go_statements(ctx.source):
        loop = scopes.enclosing(go, scopes.LOOPS)
        if loop is None:
            continue  # not in a loop
        if is_worker_pool(ctx, loop, go):
            continue  # a fixed number of workers
        inner_acquire = acquired_inside(ctx, go)
        if inner_acquire is None and is_limited(ctx, loop, go):
            continue  # a semaphore is taken before the go in this iteration
        if types is None:
            types = Types(ctx.root)  # built for the go statements the cheaper tests above keep
        if fanout.not_unbounded(ctx, go, types, lambda loop: has_constant_bound(ctx, loop)):
            continue  # one goroutine at a time, or a handful in all
        planned.append((go, inner_acquire, verdict(ctx, go, inner_acquire, types)))
    names: dict[int, str] = {}  # declaration point -> semaphore name, shared by the fixes of this pass
    safe_anchors = [anchor_of(outermost_loop(go)) for go, _, v in planned if v.outcome is fanout.Outcome.SAFE]
    for go, inner_acquire, decision in planned:
        if inner_acquire is not None:
            message = "semaphore acquired inside the goroutine: every goroutine is still started at once"
        else:
            message = "goroutine started in a loop with no limit on how many run at once"
        if decision.outcome is fanout.Outcome.NO_FIX:
            yield ctx.finding(go, f"{message}; no automatic fix: {decision.reason}")
            continue
        if decision.outcome is fanout.Outcome.UNSAFE:
            message = f"{message}; a limit is unsafe until reviewed: {decision.reason}"
        yield ctx.finding(go, message, plan_fix(ctx, go, inner_acquire, decision, safe_anchors, names))


def verdict(ctx: FileContext, go: Node, inner_acquire: Node | None, types: Types) -> fanout.Verdict:
    """Whether a semaphore keeps the behaviour here, and if not, what stands in the way."""
    outer = outermost_loop(go)
    own = own_semaphores(ctx, go)
    if inner_acquire is not None:
        channel = inner_acquire.child_by_field_name("channel")
        own = own | ({ctx.text(channel)} if channel is not None else set())
    blocked = fanout.no_fix_reason(ctx, go, outer, types, own)
    if blocked is not None:
        return fanout.Verdict(fanout.Outcome.NO_FIX, blocked)
    unsafe = fanout.unsafe_reason(ctx, go, outer, types, own)
    if unsafe is not None:
        return fanout.Verdict(fanout.Outcome.UNSAFE, unsafe)
    return fanout.Verdict(fanout.Outcome.SAFE)


def plan_fix(  # type: ignore[no-untyped-def]
    ctx: FileContext,
    go: Node,
    inner_acquire: Node | None,
    decision: fanout.Verdict,
    safe_anchors: list[Node],
    names: dict[int, str],
):
    outer = outermost_loop(go)
    anchor = anchor_of(outer)
    if not (ctx.source.starts_line(go.start_byte) and ctx.source.starts_line(anchor.start_byte)):
        return None
    safe = decision.outcome is fanout.Outcome.SAFE
    edits: list[Edit] = []
    if inner_acquire is not None:
        acquire = ctx.text(inner_acquire)
        start = ctx.source.line_start(inner_acquire.start_byte)
        end = ctx.source.data.index(b"\n", inner_acquire.end_byte) + 1
        edits.append(Edit(start, end, b""))
        release_lines: list[str] = []
    else:
        sem = existing_semaphore(ctx, anchor, shared=safe)
        if sem is None:
            # Safe fixes of one function share one limit, declared before the first
            # of their loop nests that is in scope here: their declarations conflict,
            # so the fix loop applies one and the next pass reuses its semaphore.
            shared = [a for a in safe_anchors if a.parent is not None and scopes.contains(a.parent, anchor)]
            declared_at = min(shared, key=lambda a: a.start_byte) if safe and shared else anchor
            if declared_at.start_byte not in names:
                names[declared_at.start_byte] = semaphore_name(ctx, go, outer)
            sem = names[declared_at.start_byte]
            limit = int(ctx.option("limit"))
            edits.append(
                ctx.lines_before(
                    declared_at, [f"{sem} := make(chan struct{{}}, {limit})"], ctx.indent(loop_of(declared_at))
                )
            )
        acquire = f"{sem} <- struct{{}}{{}}"
        release_lines = [f"defer func() {{ <-{sem} }}()"]
    if release_lines:
        started = goroutines.start_goroutine_with(ctx, go, release_lines)
        if started is None:
            return None
        edits += started.edits
        before = [acquire, *started.before_go]
    else:
        before = [acquire]
    edits.append(ctx.lines_before(go, before))
    verb = (
        "Move the semaphore acquire before the go statement"
        if inner_acquire is not None
        else "Bound the goroutines with a semaphore"
    )
    return ctx.fix(verb, edits, Safety.SAFE if safe else Safety.UNSAFE)


def loop_of(anchor: Node) -> Node:
    """The loop of an anchor: a label stands at column 0, its loop at the code's indent."""
    return anchor.named_children[-1] if anchor.type == "labeled_statement" else anchor


def anchor_of(outer: Node) -> Node:
    """Where a declaration before the loop goes: above its label, if it has one."""
    parent = outer.parent
    return parent if parent is not None and parent.type == "labeled_statement" else outer


def semaphore_name(ctx: FileContext, go: Node, outer: Node) -> str:
    """``sem``; when the function has one already, a name that says what this one limits."""
    name = ctx.fresh_name(go, "sem")
    return name if name == "sem" else ctx.fresh_name(go, f"{limited_noun(ctx, go, outer)}Sem")


def limited_noun(ctx: FileContext, go: Node, outer: Node) -> str:
    """What the goroutines are started for: the collection the loop walks, else the callee."""
    clause = fanout.clause_of(outer)
    ranged = clause.child_by_field_name("right") if clause is not None and clause.type == "range_clause" else None
    root = scopes.root_identifier(ranged) if ranged is not None else None
    if root is None and ranged is not None and ranged.type == "selector_expression":
        root = ranged.child_by_field_name("field")
    if root is not None:
        return ctx.text(root)
    call = goroutines.call_of(go)
    function = call.child_by_field_name("function") if call is not None else None
    last = (
        function.child_by_field_name("field")
        if function is not None and function.type == "selector_expression"
        else function
    )
    if last is not None and last.type in ("identifier", "field_identifier"):
        return ctx.text(last)
    return "goroutine"


def outermost_loop(node: Node) -> Node:
    loop = scopes.enclosing(node, scopes.LOOPS)
    assert loop is not None
    while (outer := scopes.enclosing(loop, scopes.LOOPS)) is not None:
        loop = outer
    return loop


def own_semaphores(ctx: FileContext, go: Node) -> set[str]:
    """Semaphores of the shape this rule declares (``sem := make(chan struct{}, limit)``) in the function."""
    limit = str(ctx.option("limit"))
    function = scopes.enclosing_function(go)
    found: set[str] = set()
    for match in matches(SEMAPHORE_DECLARATION, function) if function is not None else []:
        name, size = match["name"][0], match["size"][0]
        if ctx.text(size) == limit and scopes.enclosing_function(name) == function:
            found.add(ctx.text(name))
    return found


def existing_semaphore(ctx: FileContext, anchor: Node, shared: bool) -> str | None:
    """The semaphore this rule declared right before the loop nest (or, when ``shared``, before an earlier one)."""
    limit = str(ctx.option("limit"))
    child = anchor
    for ancestor in scopes.ancestors(anchor):
        if ancestor.type in scopes.FUNCTIONS:
            return None
        if ancestor.type != "statement_list":
            child = ancestor
            continue
        earlier = [s for s in ancestor.named_children if s.end_byte <= child.start_byte and s.type != "comment"]
        candidates = earlier[::-1] if shared else earlier[-1:]
        for statement in candidates:
            for match in matches(SEMAPHORE_DECLARATION, statement):
                name, size = match["name"][0], match["size"][0]
                if ctx.text(size) == limit and name.parent is not None and name.parent.parent == statement:
                    return ctx.text(name)
        if not shared:
            return None
        child = ancestor
    return None


def is_limited(ctx: FileContext, loop: Node, go: Node) -> bool:
    """A semaphore acquired (send, Acquire, TryAcquire) before the go in the same iteration."""
    body = loop.child_by_field_name("body")
    if body is None:
        return False
    function = scopes.enclosing_function(go)

    def same_iteration(node: Node) -> bool:
        # Before the go, in this function, and not in an inner loop that ends before it.
        inner = scopes.enclosing(node, scopes.LOOPS)
        return (
            node.end_byte <= go.start_byte
            and scopes.enclosing_function(node) == function
            and inner is not None
            and scopes.contains(inner, go)
        )

    sends = captures("(send_statement) @s", body).get("s", [])
    acquires = captures(ACQUIRE_CALLS, body).get("c", [])
    taken = [n for n in [*sends, *acquires] if same_iteration(n)]
    if not taken:
        return False
    # The acquire nearest before the go is this goroutine's, unless another go took it.
    last = max(n.end_byte for n in taken)
    others = captures(GO_STATEMENTS, body).get("go", [])
    return not any(last <= g.start_byte and g.end_byte <= go.start_byte for g in others)


def acquired_inside(ctx: FileContext, go: Node) -> Node | None:
    """``sem <- x`` opening a goroutine's body (after its defers), with sem from outside."""
    literal = goroutines.literal_of(go)
    body = literal.child_by_field_name("body") if literal is not None else None
    if body is None or body.start_point.row == body.end_point.row:
        return None
    for statement in goroutines.statements(body):
        if statement.type in ("comment", "defer_statement"):
            continue
        if statement.type != "send_statement":
            return None
        channel = scopes.root_identifier(statement.child_by_field_name("channel"))  # type: ignore[arg-type]
        decl = scopes.resolve(channel) if channel is not None else None
        if decl is None or scopes.contains(literal, decl.node):  # type: ignore[arg-type]
            return None
        if statement.start_point.row != statement.end_point.row or not ctx.source.starts_line(statement.start_byte):
            return None
        released = _channel_decls(ctx, body, '(unary_expression operator: "<-" operand: (_) @ch)')
        return statement if decl in released else None
    return None


def _channel_decls(ctx: FileContext, node: Node, pattern: str) -> set[scopes.Declaration]:
    found = set()
    for channel in captures(pattern, node).get("ch", []):
        root = scopes.root_identifier(channel)
        decl = scopes.resolve(root) if root is not None else None
        if decl is not None:
            found.add(decl)
    return found


# -- worker pools -----------------------------------------------------------


def is_worker_pool(ctx: FileContext, loop: Node, go: Node) -> bool:
    return has_constant_bound(ctx, loop) or drains_shared_channel(ctx, go) or starts_identical_workers(ctx, loop, go)


def starts_identical_workers(ctx: FileContext, loop: Node, go: Node) -> bool:
    """A counting loop whose goroutines take nothing from the iteration: n copies of one worker.

        for i := 0; i < n; i++ { go w.run() }     for range workers { go func() { for { ... } }() }

    The count is the pool's size (a flag, a config value); the work comes from
    somewhere shared. A loop fed by data (range over items, an accept loop, a
    ticker) gives each goroutine something of its own, or has no count at all.
    """
    clause = next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)
    if clause is None:
        return False
    if clause.type == "for_clause" and clause.child_by_field_name("condition") is None:
        return False
    if clause.type == "range_clause":
        ranged = clause.child_by_field_name("right")
        slots = made_with_count(ctx, ranged) if ranged is not None else None
        if slots is not None:  # for i := range workers, workers := make([]*worker, n): each worker takes its slot
            size = constant_value(ctx, slots)
            return size is None or size <= int(ctx.option("max-pool-size"))
        if ranged is None or is_channel(ctx, ranged) or _names_data(ctx, ranged):
            return False
    bound = loop_bound(loop)
    count = constant_value(ctx, bound) if bound is not None else None
    if count is not None and count > int(ctx.option("max-pool-size")):
        return False  # a million copies of one worker is not a pool
    if bound is not None and bound.type == "call_expression" and ctx.text(bound).startswith("len("):
        return False  # for i := 0; i < len(xs); i++: a walk over data
    for ident in captures("(identifier) @id", go).get("id", []):
        decl = scopes.resolve(ident)
        if decl is None or not scopes.contains(loop, decl.node) or scopes.contains(go, decl.node):
            continue
        return False  # the goroutine uses a value of this iteration
    return True


def made_with_count(ctx: FileContext, expr: Node) -> Node | None:
    """n in ``xs := make([]T, n)`` when n is a count (not ``len(...)``) and xs never grows: xs has a slot per worker."""
    decl = scopes.resolve(expr) if expr.type == "identifier" else None
    value = scopes.initial_value(decl) if decl is not None else None
    if decl is None or value is None or value.type != "call_expression" or not ctx.text(value).startswith("make(["):
        return None
    arguments = value.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
    if len(values) != 2 or "len(" in ctx.text(values[1]):
        return None
    function = scopes.enclosing_function(expr)
    grown = [w for w in scopes.writes(decl, function) if w.parent is not None and w.parent.type == "expression_list"]
    return None if function is None or grown else values[1]


def _names_data(ctx: FileContext, ranged: Node) -> bool:
    """Whether a range expression is visibly a collection (a literal, a slice, a map) rather than a count."""
    if ranged.type in ("composite_literal", "slice_expression"):
        return True
    decl = scopes.resolve(ranged) if ranged.type == "identifier" else None
    if decl is None:
        return False  # n, cfg.Workers, another file's value: a count as far as we can see
    declared = scopes.declared_type(decl)
    if declared is not None:
        return declared.type in ("slice_type", "map_type", "array_type", "pointer_type", "qualified_type")
    value = scopes.initial_value(decl)
    return value is not None and (value.type == "composite_literal" or ctx.text(value).startswith("make("))


def has_constant_bound(ctx: FileContext, loop: Node) -> bool:
    """``for i := 0; i < K; i++`` or ``for range K`` with K a small compile-time or fixed value."""
    bound = loop_bound(loop)
    value = constant_value(ctx, bound) if bound is not None else None
    return value is not None and value <= int(ctx.option("max-pool-size"))


def loop_bound(loop: Node) -> Node | None:
    """K in ``for range K`` / ``for i := range K`` / ``for i := 0; i < K; i++``."""
    clause = next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)
    if clause is None:
        return None
    if clause.type == "range_clause":
        return clause.child_by_field_name("right")
    condition = clause.child_by_field_name("condition")
    if condition is None or condition.type != "binary_expression":
        return None
    operator = condition.child_by_field_name("operator")
    op = operator.type if operator is not None else ""
    if op in ("<", "<="):
        return condition.child_by_field_name("right")
    if op in (">", ">="):
        return condition.child_by_field_name("left")
    return None


def constant_value(ctx: FileContext, expr: Node, depth: int = 0) -> int | None:
    """The value of a constant-like integer expression; 0 when fixed but unknown (NumCPU, a constant elsewhere)."""
    exact = types.constant(expr)
    if exact is not None or depth > 8:
        return exact
    kind = expr.type
    if _CONSTANT_CALLS.match(ctx.text(expr).replace(" ", "")):
        return 0
    if kind == "parenthesized_expression":
        return constant_value(ctx, expr.named_children[0], depth + 1)
    if kind == "binary_expression":  # 2 * runtime.NumCPU()
        left = constant_value(ctx, expr.child_by_field_name("left"), depth + 1)  # type: ignore[arg-type]
        right = constant_value(ctx, expr.child_by_field_name("right"), depth + 1)  # type: ignore[arg-type]
        operator = expr.child_by_field_name("operator")
        if left is None or right is None or operator is None:
            return None
        return {"*": left * right, "+": left + right, "-": left - right, "/": left // right if right else 0}.get(
            operator.type
        )
    if kind == "identifier":
        decl = scopes.resolve(expr)
        if decl is None or decl.kind == "const":
            return 0  # a constant types.constant cannot evaluate (iota, another file): fixed in practice
        if decl.kind == "var" and decl.construct.type == "short_var_declaration":
            function = scopes.enclosing_function(expr)
            written = [w for w in scopes.writes(decl, function) if w != decl.node] if function else [None]
            right = decl.construct.child_by_field_name("right")
            if right is None or len(right.named_children) != 1:
                return None
            values = [right.named_children[0], *(_assigned(w) for w in written)]
            known = [constant_value(ctx, v, depth + 1) if v is not None else None for v in values]
            # N := 200; if testing.Short() { N = 20 }: only ever set to constants, fixed at the largest.
            return None if any(k is None for k in known) else max(k for k in known if k is not None)
    return None


def _assigned(written: Node) -> Node | None:
    """The value of ``x = v`` for the written ``x`` (None for ``x++``, ``x += v``, ``a, x = ...``)."""
    left = written.parent
    statement = left.parent if left is not None else None
    if left is None or statement is None or statement.type != "assignment_statement" or len(left.named_children) != 1:
        return None
    operator = statement.child_by_field_name("operator")
    right = statement.child_by_field_name("right")
    if operator is None or operator.type != "=" or right is None or len(right.named_children) != 1:
        return None
    return right.named_children[0]


def is_channel(ctx: FileContext, expr: Node) -> bool:
    """Whether an expression is declared with a channel type or made with make(chan ...)."""
    if expr.type == "selector_expression":
        field = expr.child_by_field_name("field")
        return field is not None and bool(field.text) and _declares_channel_field(ctx, field.text)  # type: ignore[arg-type]
    if expr.type != "identifier":
        return False
    decl = scopes.resolve(expr)
    if decl is None:
        return False
    construct = decl.construct
    kind_type = construct.child_by_field_name("type")
    if kind_type is not None and kind_type.type == "channel_type":
        return True
    value: Node | None = None
    if construct.type == "short_var_declaration":
        left = construct.child_by_field_name("left")
        right = construct.child_by_field_name("right")
        if left is not None and right is not None:
            names = [c for c in left.named_children if c.type == "identifier"]
            values = right.named_children
            if len(names) == len(values):
                value = values[names.index(decl.node)] if decl.node in names else None
    elif construct.type == "var_spec":
        right = construct.child_by_field_name("value")
        value = right.named_children[0] if right is not None and right.named_children else None
    return value is not None and ctx.text(value).replace(" ", "").startswith("make(chan")


def _declares_channel_field(ctx: FileContext, name: bytes) -> bool:
    """Whether the file declares a struct field ``name`` of a channel type (``name chan T``, ``a, name chan T``):
    the matches of ``(field_declaration name: (field_identifier) @f type: (channel_type))``, looked for where
    the name is written."""
    for at in spelled(ctx.source.data, name):
        node = ctx.root.descendant_for_byte_range(at, at + len(name))
        declaration = node.parent if node is not None and node.type == "field_identifier" else None
        if declaration is None or declaration.type != "field_declaration" or node.text != name:  # type: ignore[union-attr]
            continue
        kind = declaration.child_by_field_name("type")
        if kind is not None and kind.type == "channel_type" and node in declaration.children_by_field_name("name"):
            return True
    return False


def _function_body(ctx: FileContext, go: Node) -> tuple[Node | None, dict[str, Node]]:
    """The body the goroutine runs, and for a named function the arguments by parameter name."""
    literal = goroutines.literal_of(go)
    if literal is not None:
        return literal.child_by_field_name("body"), {}
    call = goroutines.call_of(go)
    function = call.child_by_field_name("function") if call else None
    if function is None:
        return None, {}
    name_node = function.child_by_field_name("field") if function.type == "selector_expression" else function
    word = name_node.text if name_node is not None else None
    # The first function or method declared with that name, found where the name is written.
    for at in spelled(ctx.source.data, word) if word else ():
        decl_name = ctx.root.descendant_for_byte_range(at, at + len(word))  # type: ignore[arg-type]
        decl = decl_name.parent if decl_name is not None else None
        if (
            decl is not None
            and decl.type in ("function_declaration", "method_declaration")
            and decl_name.type == ("identifier" if decl.type == "function_declaration" else "field_identifier")  # type: ignore[union-attr]
            and decl.child_by_field_name("name") == decl_name
            and decl_name.text == word  # type: ignore[union-attr]
        ):
            params = [
                p.text.decode()
                for pd in (decl.child_by_field_name("parameters") or decl).named_children
                for p in pd.children_by_field_name("name")
            ]
            args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]  # type: ignore[union-attr]
            return decl.child_by_field_name("body"), dict(zip(params, args, strict=False))
    return None, {}


def drains_shared_channel(ctx: FileContext, go: Node) -> bool:
    """The goroutine loops over a channel that it did not create: a worker."""
    body, args = _function_body(ctx, go)
    if body is None:
        call = goroutines.call_of(go)
        arguments = call.child_by_field_name("arguments") if call else None
        return arguments is not None and any(is_channel(ctx, a) for a in arguments.named_children)
    drained = list(captures(_RANGES, body).get("ch", []))
    for loop in captures("(for_statement) @l", body).get("l", []):
        drained += [
            c for c in captures(_COMMUNICATION, loop).get("ch", []) if c.parent and c.parent.type == "unary_expression"
        ]
    for channel in drained:
        if channel.type == "identifier" and ctx.text(channel) in args:
            if is_channel(ctx, args[ctx.text(channel)]) or goroutines.literal_of(go) is None:
                return True
            continue
        decl = scopes.resolve(channel) if channel.type == "identifier" else None
        if decl is not None and decl.kind == "param" and goroutines.literal_of(go) is None:
            return True
        if decl is not None and not scopes.contains(body, decl.node) and is_channel(ctx, channel):
            return True
        if channel.type == "selector_expression" and is_channel(ctx, channel):
            return True
    return False


RULE = Rule(
    id="unbounded-goroutines",
    summary="goroutines started in a loop with no concurrency limit",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    default_options={"limit": 16, "max-pool-size": 1024},
    triggers=(b"go ", b"go\t"),
)
