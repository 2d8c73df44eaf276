"""`WaitGroup.Add` called inside the goroutine it counts, while the starter waits.

## What it does
Finds `wg.Add(n)` inside a goroutine (`go func() {...}()`) when the function
that starts the goroutine calls `wg.Wait()` on the same WaitGroup after the
`go` statement (or defers it). The finding is on the `Add(` call.

Not reported: `Add` before the `go` statement (the correct shape); an `Add`
inside a goroutine whose `Wait` is elsewhere (another method, another
goroutine); an `Add` on another WaitGroup than the one the starter waits on;
the `Add` of a nested goroutine that the goroutine itself waits for; a
starter that receives from the goroutine (`<-ready`) before it waits; an `Add`
in a goroutine the starter already counted with an `Add` before the `go` (the
count cannot reach zero while it runs). `errgroup.Group` and
`WaitGroup.Go` count their goroutines themselves and are out of scope.

## Why is this bad?
`Wait` returns as soon as the counter is zero. The starter usually reaches
`Wait` before the new goroutine has run a single statement, so the counter is
still zero and `Wait` returns at once: the caller goes on while the work is
still running, reads results that are not written yet (a data race), or
returns and lets the goroutines outlive it. The `sync` documentation says
calls with a positive delta that start when the counter is zero must happen
before a `Wait`; `go vet` has the same check for `wg.Add(1)` as the first
statement.

## Example
```go
var wg sync.WaitGroup
for _, job := range jobs {
        go func() {
                wg.Add(1)
                defer wg.Done()
                run(job)
        }()
}
wg.Wait()
```

Use instead:
```go
var wg sync.WaitGroup
for _, job := range jobs {
        wg.Add(1)
        go func() {
                defer wg.Done()
                run(job)
        }()
}
wg.Wait()
```

## What the fix does
Moves the `Add` statement (with the comments on its line and the comment
lines right above it) from the goroutine to the line just before the `go`
statement, so the count is raised before the goroutine exists and before
`Wait` can look at it.

## Fix safety
The fix is safe when the `Add` is certain to run once the goroutine starts:
it is a statement of the goroutine's own body, not inside an `if`, `switch`,
`select` or loop, and nothing before it can leave the goroutine (`return`,
`panic`, `runtime.Goexit`, `t.Fatal`, `os.Exit`). Then raising the count
earlier changes only when `Wait` sees it, which is the bug.

The fix is unsafe when a statement before the `Add` may leave the goroutine:
after the move the count is raised even when the goroutine returns before
its `Done`, and `Wait` then blocks forever. There is no fix when the `Add` is
conditional or in a loop (moving it changes the count when the condition is
false, or the number of iterations), when `n` is not a constant or a value
fixed before the `go` statement (`wg.Add(len(batch))` on a batch the goroutine
computes), or when the `Add` shares its line with other code.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures

# Add calls, the WaitGroup expression captured:
#   wg.Add(1)    s.wg.Add(n)    (*wg).Add(1)
ADDS = """
(call_expression
  function: (selector_expression operand: (_) @group field: (field_identifier) @method (#eq? @method "Add"))
  arguments: (argument_list)) @add
"""

# Calls of a method on the same WaitGroup in the starter: wg.Wait(), wg.Add(1), wg.Done()
CALLS = """
(call_expression
  function: (selector_expression operand: (_) @group field: (field_identifier) @method)) @call
"""

# Statements that may leave the goroutine before the Add runs.
_EXITS = frozenset({b"panic", b"runtime.Goexit", b"os.Exit", b"log.Fatal", b"log.Fatalf", b"log.Fatalln"})
_TEST_EXITS = frozenset({b"Fatal", b"Fatalf", b"FailNow", b"Skip", b"Skipf", b"SkipNow"})
_BRANCHES = frozenset(
    {
        "if_statement",
        "expression_switch_statement",
        "type_switch_statement",
        "select_statement",
        "for_statement",
        "communication_case",
        "expression_case",
        "type_case",
        "default_case",
    }
)


def check(ctx: FileContext) -> Iterator[Finding]:
    for match in _matches(ctx):
        add, group = match
        literal = scopes.enclosing_function(add)
        if literal is None or literal.type != "func_literal":
            continue  # not in a func literal
        if not _started_by_go(literal):
            continue  # not a goroutine started with `go` (errgroup and wg.Go count for themselves)
        spawn = literal.parent.parent  # type: ignore[union-attr]
        starter = scopes.enclosing_function(spawn)
        if starter is None:
            continue
        if not _same_group_outside(group, literal):
            continue  # the WaitGroup is the goroutine's own: it waits for its nested goroutines
        if not _waits_after(ctx, starter, spawn, group):
            continue  # the starter does not wait on this WaitGroup: Wait is elsewhere
        if _counted_before(starter, spawn, group):
            continue  # the starter's Add before the go keeps the count above zero while the goroutine runs
        fix, why = plan_fix(ctx, add, literal, spawn)
        name = ctx.text(group)
        message = f"{name}.Add inside the goroutine it counts: {name}.Wait() may return before the Add runs"
        if why:
            message += f" (no fix: {why})"
        yield ctx.finding(_add_position(add), message, fix)


def _matches(ctx: FileContext) -> list[tuple[Node, Node]]:
    """The Add calls (and their WaitGroups) inside func literals run by ``go``: only those are reported."""
    data = ctx.source.data
    found: list[tuple[Node, Node]] = []
    for literal in concurrency.outermost(concurrency.goroutine_literals(ctx.source)):
        if b"Add" not in data[literal.start_byte : literal.end_byte]:
            continue  # no call of a method named Add in it
        adds = captures(ADDS, literal)
        found += zip(adds.get("add", []), adds.get("group", []), strict=False)
    return found


def _started_by_go(literal: Node) -> bool:
    call = literal.parent
    return (
        call is not None
        and call.type == "call_expression"
        and call.child_by_field_name("function") == literal
        and call.parent is not None
        and call.parent.type == "go_statement"
    )


def _add_position(add: Node) -> Node:
    """The ``Add(`` of ``wg.Add(1)``."""
    function = add.child_by_field_name("function")
    field = function.child_by_field_name("field") if function is not None else None
    return field if field is not None else add


def _same_group_outside(group: Node, literal: Node) -> bool:
    """Whether the WaitGroup expression stands on a variable declared outside the goroutine."""
    root = scopes.root_identifier(group.named_children[-1] if group.type == "unary_expression" else group)
    if root is None:
        return False
    decl = scopes.resolve(root)
    return decl is None or not scopes.contains(literal, decl.node)


def _same_group(a: Node, b: Node) -> bool:
    if a.text != b.text:
        return False
    ra, rb = scopes.root_identifier(a), scopes.root_identifier(b)
    if ra is None or rb is None:
        return False
    return scopes.resolve(ra) == scopes.resolve(rb)


def _group_calls(starter: Node, group: Node, method: bytes) -> list[Node]:
    found = []
    for call, operand in zip(
        captures(CALLS, starter).get("call", []), captures(CALLS, starter).get("group", []), strict=False
    ):
        function = call.child_by_field_name("function")
        field = function.child_by_field_name("field") if function is not None else None
        if field is None or field.text != method or scopes.enclosing_function(call) != starter:
            continue  # another method, or inside a closure of its own
        if _same_group(operand, group):
            found.append(call)
    return found


def _waits_after(ctx: FileContext, starter: Node, spawn: Node, group: Node) -> bool:
    """``wg.Wait()`` in the starter after the go statement, or deferred."""
    for wait in _group_calls(starter, group, b"Wait"):
        deferred = scopes.enclosing(wait, ("defer_statement",)) is not None
        loop = scopes.enclosing(spawn, scopes.LOOPS)
        if wait.start_byte >= spawn.end_byte and concurrency.joined_between(spawn, wait):
            continue  # the starter hears from the goroutine (<-ready) before it waits: the Add ran by then
        if deferred or wait.start_byte >= spawn.end_byte or (loop is not None and scopes.contains(loop, wait)):
            return True
    return False


def _counted_before(starter: Node, spawn: Node, group: Node) -> bool:
    """An ``Add`` on the same WaitGroup in the starter before the go statement."""
    return any(add.end_byte <= spawn.start_byte for add in _group_calls(starter, group, b"Add"))


# -- the fix -------------------------------------------------------------------


def plan_fix(ctx: FileContext, add: Node, literal: Node, spawn: Node) -> tuple[Fix | None, str | None]:
    """The Add moved before the go statement; or no fix and why."""
    statement = add.parent
    if statement is None or statement.type != "expression_statement":
        return None, "the Add is part of a larger expression"
    for ancestor in scopes.ancestors(statement):
        if ancestor == literal:
            break
        if ancestor.type in _BRANCHES:
            kind = "a loop" if ancestor.type == "for_statement" else "a condition"
            return None, f"the Add depends on {kind}; moving it changes the count when it would not run"
    if not statements.alone_on_its_lines(ctx, statement) and _trailing_code(ctx, statement):
        return None, "the Add shares its line with other code"
    arguments = add.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
    if len(values) != 1 or not _fixed_before(ctx, values[0], literal, spawn):
        return None, "the count is computed by the goroutine"
    holder = statements.statement_holding(spawn)
    if holder is None:
        return None, "the go statement is not a statement of a block"
    leading = _leading_comments(ctx, statement)
    start = ctx.source.line_start(leading[0].start_byte if leading else statement.start_byte)
    end = ctx.source.data.index(b"\n", statement.end_byte) + 1
    moved = [ctx.source.data[ctx.source.line_start(n.start_byte) : n.end_byte].decode().strip() for n in leading]
    moved.append(ctx.source.data[statement.start_byte : end].decode().rstrip())
    insert = statements.insert_before(ctx, holder, moved)
    if insert is None:
        return None, "the go statement does not start its line"
    removal = _delete_lines(ctx, start, end)
    name = ctx.text(add.child_by_field_name("function").child_by_field_name("operand"))  # type: ignore[union-attr]
    message = f"Move {name}.Add before the go statement"
    exit_ = _exit_before(statement, literal)
    if exit_ is not None:
        message += (
            f" (check: the goroutine may leave before the Add ({exit_}); after the move the count is raised"
            " anyway and Wait blocks unless Done still runs)"
        )
        return ctx.fix(message, [insert, removal], Safety.UNSAFE), None
    return ctx.fix(message, [insert, removal], Safety.SAFE), None


def _delete_lines(ctx: FileContext, start: int, end: int) -> Edit:
    """Remove whole lines; between two blank lines one of them goes too (gofmt keeps one)."""
    data = ctx.source.data
    before = data[ctx.source.line_start(max(start - 1, 0)) : start]
    after_end = data.find(b"\n", end)
    if start > 0 and not before.strip() and after_end >= 0 and not data[end:after_end].strip():
        end = after_end + 1
    return Edit(start, end, b"")


def _trailing_code(ctx: FileContext, statement: Node) -> bool:
    """Code (not a comment) after the statement on its line, or before it."""
    if not ctx.source.starts_line(statement.start_byte):
        return True
    sibling = statement.next_sibling
    same_line = sibling is not None and sibling.start_point.row == statement.end_point.row
    return same_line and sibling.type != "comment"  # type: ignore[union-attr]


def _leading_comments(ctx: FileContext, statement: Node) -> list[Node]:
    """Comment lines right above a statement (no blank line between), which describe it."""
    found: list[Node] = []
    node = _previous(statement)
    row = statement.start_point.row
    while node is not None and node.type == "comment" and node.end_point.row == row - 1:
        if not ctx.source.starts_line(node.start_byte):
            break  # a trailing comment of the statement above
        found.insert(0, node)
        row = node.start_point.row
        node = _previous(node)
    return found


def _previous(node: Node) -> Node | None:
    """The node before, across statement_list (comments before a block's first statement sit outside it)."""
    if node.prev_sibling is not None:
        return node.prev_sibling
    parent = node.parent
    return parent.prev_sibling if parent is not None and parent.type == "statement_list" else None


def _fixed_before(ctx: FileContext, value: Node, literal: Node, spawn: Node) -> bool:
    """Whether ``value`` is the same at the go statement as when the goroutine runs the Add."""
    for ident in [value, *captures("(identifier) @id", value).get("id", [])]:
        if ident.type != "identifier":
            continue
        decl = scopes.resolve(ident)
        if decl is not None and scopes.contains(literal, decl.node):
            return False  # a value of the goroutine's own
    if value.type in ("int_literal", "identifier"):
        return value.type == "int_literal" or goroutines.is_stable(ctx, value, spawn)
    if value.type == "call_expression":
        function = value.child_by_field_name("function")
        arguments = value.child_by_field_name("arguments")
        args = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
        if function is not None and function.text in (b"len", b"cap") and len(args) == 1:
            return goroutines.is_stable(ctx, args[0], spawn)
        return False
    return goroutines.is_stable(ctx, value, spawn)


def _exit_before(statement: Node, literal: Node) -> str | None:
    """A statement before the Add in the goroutine that may leave it: ``return``, ``panic(...)``, ``t.Fatal``."""
    for earlier in scopes.statements_before(statement, literal):
        found = _exit_in(earlier, literal)
        if found is not None:
            return found
    return None


def _exit_in(node: Node, literal: Node) -> str | None:
    for ret in captures("(return_statement) @r", node).get("r", []):
        if scopes.enclosing_function(ret) == literal:
            return "return"
    for call in captures("(call_expression function: (_) @f)", node).get("f", []):
        if scopes.enclosing_function(call) != literal:
            continue
        field = call.child_by_field_name("field") if call.type == "selector_expression" else None
        if call.text in _EXITS or (field is not None and field.text in _TEST_EXITS):
            return f"{call.text.decode()}"  # type: ignore[union-attr]
    return None


RULE = Rule(
    id="waitgroup-add-in-goroutine",
    summary="WaitGroup.Add inside the goroutine it counts, so Wait may return before the work starts",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b".Add(",),
)
