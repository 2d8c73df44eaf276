"""Maps written by goroutines that can run at the same time as another use of the map.

## What it does
Finds a map element written inside a goroutine (`go func() {...}()`,
`g.Go(func() error {...})`) with no lock held: `m[k] = v`, `m[k] += v`,
`m[k]++`, `delete(m, k)`, `clear(m)`, on a map the goroutine shares with
other code (a captured local or parameter, a struct field, a package-level
variable, declared in this file or another file of the package). It reports
the write when something else can use the map at the same time: the
goroutine is started in a loop (and not waited for in the same iteration) or
by a callback that may run many times, another goroutine uses the map while
this one may run, or the function reads or writes it before the join
(`wg.Wait()`, errgroup's `Wait()`, a receive of the goroutine's result).

Not reported: writes under a mutex the goroutine holds (`mu.Lock()` before,
`mu.Unlock()` after or deferred), `sync.Map`, maps made inside the
goroutine, one map per goroutine (`maps[i][k] = v`), a single goroutine
writing while its parent waits for it, and reads and writes after the join
(see `gofix_conc.concurrency` for the happens-before the rule reads).

## Why is this bad?
Go maps are not safe for concurrent use. A write at the same time as
another write or a read is a data race, and the runtime usually detects it
and stops the whole program with `fatal error: concurrent map writes`
(or `concurrent map read and map write`), which no `recover` can catch.
Where it does not detect it, the map is corrupted.

## Example
```go
counts := make(map[string]int)
var wg sync.WaitGroup
for _, doc := range docs {
        wg.Add(1)
        go func() {
                defer wg.Done()
                for _, w := range strings.Fields(doc) {
                        counts[w]++
                }
        }()
}
wg.Wait()
```

Use instead:
```go
counts := make(map[string]int)
var countsMu sync.Mutex
var wg sync.WaitGroup
for _, doc := range docs {
        wg.Add(1)
        go func() {
                defer wg.Done()
                for _, w := range strings.Fields(doc) {
                        countsMu.Lock()
                        counts[w]++
                        countsMu.Unlock()
                }
        }()
}
wg.Wait()
```

## What the fix does
For a map local to the function, it declares a `sync.Mutex` on the line
after the map (named after it: `countsMu`, a fresh name when taken; `sync`
imported, aliased when a name of the file takes it) and puts
`Lock()`/`Unlock()` around every statement that uses the map while the
goroutines run: the writes and the reads, in the goroutines and in the
function before the join. Consecutive statements share one critical
section. Uses before the first goroutine starts and after the join are left
alone. When the map is already guarded by a mutex in some places, that
mutex is used for the others instead of a new one. A call in the key or the
value of a write (`results[u] = fetch(u)`) is first moved into a fresh local
before the lock, so the goroutines still do their work at the same time and
only the map update is serialized. For a map parameter the mutex is
declared first in the function.

For a struct field, the fix uses the struct's own mutex (`s.mu`) when other
accesses of the field in the package already hold it; otherwise there is no
fix (which mutex guards the field is a design decision). Package-level maps
get no fix: their uses are spread over the package.

## Fix safety
The fix is safe when the rule sees every use of the map while the
goroutines run, wraps each of them, and holds the new lock only around map
operations and built-ins (nothing under it can block or take a lock). It is
unsafe when the map is a parameter or a field (the caller or other methods
may use it without the lock), when the map is handed to other code
(`f(m)`, `&m`, stored, returned before the join) or used in a function
value the rule does not see called, and when a wrapped statement runs
while another lock is held (two locks taken in different orders in
different places can deadlock).

There is no fix when a use that runs while the goroutines run cannot be
wrapped: it would call a function or block on a channel under the lock, it
is a `return`, `defer` or `go` statement, it shares its line with other
code, or it is an `if`/`for`/`switch` whose body does more than map
operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, index, layout, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures, matches
from gofix_conc.types import BASIC, Types

# Writes of a map element, the map captured:
#   m[k] = v    m[k] += v    m[k]++    m[k]--    delete(m, k)    clear(m)
WRITES = """
[(assignment_statement left: (expression_list (index_expression operand: (_) @map))) @write
 (inc_statement (index_expression operand: (_) @map)) @write
 (dec_statement (index_expression operand: (_) @map)) @write
 (expression_statement
   (call_expression function: (identifier) @builtin arguments: (argument_list . (_) @map))
   (#match? @builtin "^(delete|clear)$")) @write]
"""

# Calls that may run under the new lock: built-ins and conversions, which neither block nor lock.
_BUILTINS = frozenset({"len", "cap", "append", "copy", "delete", "clear", "make", "new", "min", "max", "complex"})
# Functions that call their func-literal argument before they return, and never keep it.
_SYNCHRONOUS = frozenset(
    {
        "sort.Slice",
        "sort.SliceStable",
        "sort.Search",
        "slices.SortFunc",
        "slices.SortStableFunc",
        "slices.IndexFunc",
        "slices.ContainsFunc",
        "slices.DeleteFunc",
        "strings.Map",
        "strings.FieldsFunc",
        "strings.IndexFunc",
    }
)


@dataclass(frozen=True)
class SharedMap:
    """The map a write writes: a variable (``m``) or a field (``s.m``)."""

    target: Node  # m or s.m at the write
    root: Node  # the identifier it stands on
    decl: scopes.Declaration | None  # None: package-level, declared in another file
    kind: str  # local, param, package or field
    path: tuple[str, ...]  # the field names after the root: () or ("m",)

    @property
    def shared(self) -> bool:
        return self.kind in ("package", "field")

    def describe(self, ctx: FileContext) -> str:
        return f"field {ctx.text(self.target)}" if self.kind == "field" else ctx.text(self.target)


def check(ctx: FileContext) -> Iterator[Finding]:
    fixes: dict[tuple[int, tuple[str, ...], int], Fix | None] = {}
    seen: set[int] = set()
    types: Types | None = None
    for match in candidate_writes(ctx):
        if types is None:
            types = Types(ctx.root, ctx.package)
        write = match["write"][0]
        if write.id in seen:
            continue  # m[a], m[b] = x, y: one finding for the statement
        builtin = match.get("builtin", [None])[0]
        if builtin is not None and scopes.resolve(builtin) is not None:
            continue  # a local function named delete or clear
        shared = map_of(ctx, types, _unparen(match["map"][0]), builtin is not None and builtin.text == b"delete")
        if shared is None:
            continue  # not a map variable or field we can follow
        goroutine = concurrency.goroutine_of(write, shared.decl, "write")
        if goroutine is None:
            continue  # not in a goroutine, or the map is the goroutine's own
        if concurrency.holds_lock(write, goroutine.literal):
            continue  # written under a mutex
        frame = scopes.top_level(goroutine.spawn)
        found = uses(ctx, shared, frame)
        reason = concurrency.race_reason(write, goroutine, found, shared.shared)
        if reason is None:
            continue  # nothing else uses the map while the goroutine runs
        seen.add(write.id)
        key = (shared.decl.node.start_byte if shared.decl else -1, shared.path, frame.start_byte)
        if key not in fixes:
            fixes[key] = plan_fix(ctx, shared, frame, found)
        message = f"map {shared.describe(ctx)} written in a goroutine without a lock: {reason}"
        yield ctx.finding(write, message, fixes[key])


def candidate_writes(ctx: FileContext) -> list[dict[str, list[Node]]]:
    """The matches of :data:`WRITES` inside goroutines, in source order.

    Only a write in a goroutine's func literal can be reported (see
    :func:`concurrency.goroutine_of`), so the query runs on those literals
    alone, and not on one whose text holds no ``[`` (every written element
    is ``m[k]``), ``delete`` or ``clear``.
    """
    data = ctx.source.data
    return [
        match
        for literal in concurrency.outermost(concurrency.goroutine_literals(ctx.source))
        if any(word in data[literal.start_byte : literal.end_byte] for word in (b"[", b"delete", b"clear"))
        for match in matches(WRITES, literal)
    ]


def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


# -- what is written -----------------------------------------------------------


def map_of(ctx: FileContext, types: Types, target: Node, is_delete: bool) -> SharedMap | None:
    """The map variable or field ``target`` names, None when it is something else."""
    if target.type == "identifier":
        root, path = target, ()
    elif target.type == "selector_expression":
        operand, name = target.child_by_field_name("operand"), target.child_by_field_name("field")
        if operand is None or operand.type != "identifier" or name is None:
            return None  # a.b.m, f().m: a path the rule does not follow
        root, path = operand, (name.text.decode(),)
    else:
        return None  # maps[i][k] and the like: one map per goroutine, or another value
    decl = scopes.resolve(root)
    if decl is None:
        if path or ctx.package.kind(root.text.decode()) != "var":
            return None  # pkg.M of an imported package, or not a variable
        kind = "package"
    elif decl.kind in ("var", "param", "receiver", "result"):
        package_level = scopes.enclosing_function(decl.node) is None
        kind = "field" if path else "package" if package_level else "param" if decl.kind != "var" else "local"
    else:
        return None
    if not is_delete:
        found = types.of_expression(target)
        if found is None and path and decl is not None and decl.kind == "receiver":
            outer = types.of_declaration(decl)
            found = (types.fields(outer) or {}).get(path[0]) if outer is not None else None
        if found is None or types.kind(found) != "map":
            return None  # a slice, or a type the source does not tell
    return SharedMap(target, root, decl, kind, path)


def uses(ctx: FileContext, shared: SharedMap, frame: Node) -> list[Node]:
    """The places in ``frame`` that use the map (``m``, or ``s.m`` for a field)."""
    name = shared.root.text
    found: list[Node] = []
    for ident in captures("(identifier) @id", frame).get("id", []):
        if ident.text != name or (shared.decl is not None and ident == shared.decl.node):
            continue
        if scopes.composite_key_kind(ident) in ("field", "unknown"):
            continue  # T{m: x}: a field name
        if scopes.resolve(ident) != shared.decl:
            continue
        node = ident
        if shared.path:
            parent = ident.parent
            field_node = parent.child_by_field_name("field") if parent is not None else None
            if parent is None or parent.type != "selector_expression" or field_node is None:
                continue  # the whole struct: not the map
            if field_node.text.decode() != shared.path[0]:
                continue
            node = parent
        found.append(node)
    return found


# -- the fix -------------------------------------------------------------------


@dataclass
class Plan:
    """The statements to put under the lock, and why the fix is unsafe (if it is)."""

    lock: str  # the mutex expression: countsMu, mu, s.mu
    wrap: list[Node] = field(default_factory=list)
    hoists: dict[int, list[tuple[Node, str]]] = field(default_factory=dict)  # statement -> (expression, hint)
    unsafe: list[str] = field(default_factory=list)


def plan_fix(ctx: FileContext, shared: SharedMap, frame: Node, found: list[Node]) -> Fix | None:
    """Lock every use of the map that runs while its goroutines run; None when one cannot be locked."""
    if shared.kind == "package":
        return None  # its uses are spread over the package
    spawns = {
        concurrency.outermost_start(concurrency.goroutine_start(g) or g, frame)
        for use in found
        if (g := concurrency.goroutine_around(use, frame)) is not None and _outside(shared, g)
    }
    running = [
        u for u in found if _in_goroutine(shared, u, frame) or any(concurrency.runs_alongside(u, s) for s in spawns)
    ]
    unsafe: list[str] = []
    for use in found:
        after_join = use not in running and all(use.start_byte > s.end_byte for s in spawns)
        if _escapes(use) and not after_join:
            unsafe.append(f"{ctx.text(use)} is handed to code the rule does not see")
        if _in_unseen_function(use, frame):
            unsafe.append(f"{ctx.text(use)} is used in a function value the rule does not see called")
    existing = _existing_lock(ctx, shared, running)
    if shared.kind == "field":
        if existing is None:
            return None  # no mutex of the struct guards the field yet: which one should is a design decision
        unsafe.append("other methods may use the field without the lock")
    if shared.kind == "param":
        unsafe.append("the caller may use the map at the same time")
    declare: list[Edit] = []
    import_edits: list[Edit] = []
    if existing is not None:
        lock = existing
    else:
        sync, import_edits = ctx.import_name("sync")
        if _shadowed(frame, sync):
            return None  # a local variable hides the package name sync
        lock = ctx.fresh_name(frame, f"{shared.root.text.decode()}Mu")
        edit = _declare_mutex(ctx, shared, f"var {lock} {sync}.Mutex")
        if edit is None:
            return None  # declared where a line cannot follow it (an if/for header, a shared line)
        declare = [edit]
    plan = Plan(lock, unsafe=unsafe)
    for use in running:
        held = concurrency.held_locks(use, scopes.enclosing_function(use) or frame)
        if lock in held:
            continue  # already under the lock
        statement = statements.statement_holding(use)
        if statement is None or not _lockable(ctx, plan, statement, use, shared):
            return None
        if held:
            plan.unsafe.append(f"{lock} would be taken while {', '.join(sorted(held))} is held")
    wraps = _wrap_edits(ctx, plan)
    if wraps is None:
        return None
    edits = [*import_edits, *declare, *wraps]
    padding = layout.realign_comments(ctx.source, edits)
    if padding is None:
        return None
    message = f"Guard {shared.describe(ctx)} with {lock}"
    safety = Safety.UNSAFE if plan.unsafe else Safety.SAFE
    if plan.unsafe:
        message += f" (check: {'; '.join(dict.fromkeys(plan.unsafe))})"
    try:
        return ctx.fix(message, [*edits, *padding], safety)
    except ValueError:
        return None  # overlapping edits: left to a human


def _outside(shared: SharedMap, literal: Node) -> bool:
    return shared.decl is None or shared.kind == "field" or not scopes.contains(literal, shared.decl.node)


def _in_goroutine(shared: SharedMap, use: Node, frame: Node) -> bool:
    literal = concurrency.goroutine_around(use, frame)
    return literal is not None and _outside(shared, literal)


def _escapes(use: Node) -> bool:
    """Whether this use hands the map itself to other code: ``f(m)``, ``x := m``, ``&m``, ``return m``."""
    parent = use.parent
    while parent is not None and parent.type == "parenthesized_expression":
        use, parent = parent, parent.parent
    if parent is None:
        return True
    if parent.type == "index_expression" and parent.child_by_field_name("operand") == use:
        return False  # m[k]
    if parent.type == "range_clause" and parent.child_by_field_name("right") == use:
        return False  # for k := range m
    if parent.type == "binary_expression":
        return False  # m == nil
    if parent.type == "argument_list" and parent.parent is not None:
        function = parent.parent.child_by_field_name("function")
        return not (function is not None and function.type == "identifier" and function.text.decode() in _BUILTINS)
    if parent.type == "expression_list" and parent.parent is not None:
        holder = parent.parent
        return not (holder.type == "assignment_statement" and holder.child_by_field_name("left") == parent)
    return True


def _in_unseen_function(use: Node, frame: Node) -> bool:
    """Whether ``use`` is in a func literal that is neither a goroutine nor called where the rule sees it."""
    for ancestor in scopes.ancestors(use):
        if ancestor == frame:
            return False
        if ancestor.type != "func_literal" or concurrency.goroutine_start(ancestor) is not None:
            continue
        if concurrency.called_on_the_spot(ancestor):
            continue
        call = concurrency.callback_caller(ancestor)
        function = call.child_by_field_name("function") if call is not None else None
        if function is None or function.text is None or function.text.decode() not in _SYNCHRONOUS:
            return True
    return False


def _existing_lock(ctx: FileContext, shared: SharedMap, running: list[Node]) -> str | None:
    """The mutex some uses of the map already hold, when one is common to all of them."""
    if shared.kind == "field":
        return _field_lock(ctx, shared)
    held = [concurrency.held_locks(u, scopes.enclosing_function(u) or u) for u in running]
    guarded = [h for h in held if h]
    if not guarded:
        return None
    common = frozenset.intersection(*guarded)
    candidates = sorted(m for m in common if m.isidentifier() and _visible_mutex(ctx, m, running))
    return candidates[0] if candidates else None


def _visible_mutex(ctx: FileContext, name: str, running: list[Node]) -> bool:
    """Whether the mutex ``name`` means the same variable at every use (declared outside the goroutines)."""
    decls = set()
    for use in running:
        found = scopes.names_in(scopes.top_level(use))
        if name not in found:
            return False
        statement = statements.statement_holding(use)
        calls = captures(_LOCK_CALLS, statement or use)
        decls.update(scopes.resolve(i) for i in calls.get("mu", []) if i.text == name.encode())
    decls.discard(None)
    return len(decls) <= 1


def _field_lock(ctx: FileContext, shared: SharedMap) -> str | None:
    """``s.mu`` when other uses of the field in the package hold one mutex field of the struct."""
    if shared.decl is None:
        return None
    found = Types(ctx.root, ctx.package).of_declaration(shared.decl)
    node = found.node if found is not None else None
    while node is not None and node.type in ("pointer_type", "parenthesized_type") and node.named_children:
        node = node.named_children[0]
    struct = node.text.decode() if node is not None and node.type == "type_identifier" else None
    mutexes = {m.name for m in ctx.package.mutex_fields(struct)} if struct else set()
    if not mutexes:
        return None
    used: set[str] = set()
    for facts in _package_files(ctx):
        for selector in captures("(selector_expression) @s", facts.source.root).get("s", []):
            field_node = selector.child_by_field_name("field")
            operand = selector.child_by_field_name("operand")
            if field_node is None or field_node.text.decode() != shared.path[0] or operand is None:
                continue
            function = scopes.enclosing_function(selector)
            for held in concurrency.held_locks(selector, function) if function is not None else ():
                owner, _, mutex = held.rpartition(".")
                if owner == operand.text.decode() and mutex in mutexes:
                    used.add(mutex)
                elif held == operand.text.decode() and {"Mutex", "RWMutex"} & mutexes:
                    used.add("")  # an embedded mutex: s.Lock()
    if len(used) != 1:
        return None
    mutex = used.pop()
    root = shared.root.text.decode()
    return f"{root}.{mutex}" if mutex else root


def _package_files(ctx: FileContext) -> list[index.FileFacts]:
    """Every file of the package: an adapter over the package index, whose API is still settling."""
    return [ctx.package.own, *ctx.package.siblings]


def _shadowed(frame: Node, name: str) -> bool:
    return any(
        i.text == name.encode() and scopes.resolve(i) is not None
        for i in captures("(identifier) @id", frame).get("id", [])
    )


def _declare_mutex(ctx: FileContext, shared: SharedMap, line: str) -> Edit | None:
    """The mutex's declaration on the line after the map's (first in the body for a parameter)."""
    decl = shared.decl
    if decl is None:
        return None
    if shared.kind == "param":
        function = scopes.enclosing_function(decl.node)
        body = function.child_by_field_name("body") if function is not None else None
        return goroutines.prepend(ctx, body, [line]) if body is not None else None
    statement = decl.construct
    while statement.parent is not None and statement.parent.type != "statement_list":
        if statement.type in ("if_statement", "for_statement", "switch_statement", "func_literal", "block"):
            return None
        statement = statement.parent
    if statement.parent is None or not _only_comment_after(ctx, statement):
        return None  # another statement shares the line
    end = ctx.source.data.index(b"\n", statement.end_byte) + 1
    return Edit(end, end, f"{ctx.indent(statement)}{line}\n".encode())


def _only_comment_after(ctx: FileContext, statement: Node) -> bool:
    data = ctx.source.data
    end = data.find(b"\n", statement.end_byte)
    rest = data[statement.end_byte : end].strip() if end >= 0 else b"x"
    return ctx.source.starts_line(statement.start_byte) and (not rest or rest.startswith(b"//"))


def _lockable(ctx: FileContext, plan: Plan, statement: Node, use: Node, shared: SharedMap) -> bool:
    """Add ``statement`` to the plan when it can run under the lock (its calls moved out first)."""
    if any(scopes.contains(w, statement) for w in plan.wrap):
        return True  # inside a statement already wrapped
    if not _only_comment_after(ctx, statement) or statement.type == "labeled_statement":
        return False
    simple = ("expression_statement", "assignment_statement", "inc_statement", "dec_statement")
    if statement.type in (*simple, "short_var_declaration"):
        blocking = _blocking(statement)
        if blocking:
            hoists = _hoists(statement, shared, blocking)
            if hoists is None:
                return False
            plan.hoists[statement.id] = hoists
    elif statement.type in ("if_statement", "for_statement", "expression_switch_statement"):
        if _blocking(statement) or _jumps(statement):
            return False
    else:
        return False  # return, defer, go, select, ...: the lock cannot be released after it
    plan.wrap = [w for w in plan.wrap if not scopes.contains(statement, w)] + [statement]
    return True


def _blocking(node: Node) -> list[Node]:
    """Calls and channel operations in ``node`` that may block or take a lock."""
    found = []
    for call in captures("(call_expression) @c", node).get("c", []):
        function = call.child_by_field_name("function")
        if function is None:
            continue
        builtin = function.type == "identifier" and function.text.decode() in _BUILTINS | BASIC.keys()
        if builtin and scopes.resolve(function) is None:
            continue
        if function.type in ("slice_type", "array_type", "map_type", "parenthesized_type", "type_identifier"):
            continue  # a conversion
        found.append(call)
    found += captures('[(unary_expression operator: "<-") (send_statement) (func_literal)] @c', node).get("c", [])
    return found


_EXITS = "[(return_statement) (goto_statement) (fallthrough_statement) (go_statement) (defer_statement)] @j"
_LOCK_CALLS = "(call_expression function: (selector_expression operand: (identifier) @mu))"


def _jumps(node: Node) -> bool:
    """Whether leaving ``node`` may skip the Unlock after it (return, goto, break, continue out of it)."""
    if captures(_EXITS, node):
        return True
    jumps = captures("[(break_statement) (continue_statement)] @j", node).get("j", [])
    return bool(jumps) and (node.type != "for_statement" or any(j.named_children for j in jumps))


def _hoists(statement: Node, shared: SharedMap, blocking: list[Node]) -> list[tuple[Node, str]] | None:
    """The key and value of a map write that hold the blocking calls, to bind before the lock; None if elsewhere."""
    parts: list[tuple[Node, str]] = []
    if statement.type == "assignment_statement":
        left, right = statement.child_by_field_name("left"), statement.child_by_field_name("right")
        targets = [c for c in left.named_children if c.type != "comment"] if left else []
        values = [c for c in right.named_children if c.type != "comment"] if right else []
        if len(targets) != 1 or len(values) != 1 or targets[0].type != "index_expression":
            return None
        index = targets[0].child_by_field_name("index")
        element = _singular(shared.path[-1] if shared.path else shared.root.text.decode())
        parts = [(index, "key"), (values[0], element)] if index is not None else []
    elif statement.type == "expression_statement":
        call = statement.named_children[0]
        function = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        args = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
        if function is None or function.text != b"delete" or len(args) != 2:
            return None
        parts = [(args[1], "key")]
    elif statement.type in ("inc_statement", "dec_statement"):
        element = statement.named_children[0]
        index = element.child_by_field_name("index") if element.type == "index_expression" else None
        parts = [(index, "key")] if index is not None else []
    chosen = [(p, hint) for p, hint in parts if any(scopes.contains(p, b) for b in blocking)]
    if any(not any(scopes.contains(p, b) for p, _ in chosen) for b in blocking):
        return None  # a call outside the key and the value (the map operand itself)
    if any(n.type == "func_literal" for n in blocking):
        return None
    return chosen


def _singular(name: str) -> str:
    singular = goroutines._singular(name)
    return singular if singular != name else "value"


def _wrap_edits(ctx: FileContext, plan: Plan) -> list[Edit] | None:
    """Lock before and Unlock after each run of consecutive wrapped statements."""
    edits: list[Edit] = []
    wrapped = sorted(plan.wrap, key=lambda s: s.start_byte)
    groups: list[list[Node]] = []
    for statement in wrapped:
        follows = groups and statements.next_statement(groups[-1][-1]) == statement
        if follows and statement.id not in plan.hoists:
            groups[-1].append(statement)
        else:
            groups.append([statement])
    for group in groups:
        first, last = group[0], group[-1]
        indent = ctx.indent(first)
        lines = []
        for expression, hint in plan.hoists.get(first.id, []):
            name = ctx.fresh_name(first, hint)
            lines.append(f"{name} := {ctx.text(expression)}")
            edits.append(Edit(expression.start_byte, expression.end_byte, name.encode()))
        lines.append(f"{plan.lock}.Lock()")
        edits.append(ctx.lines_before(first, lines, indent))
        end = ctx.source.data.find(b"\n", last.end_byte)
        if end < 0:
            return None
        edits.append(Edit(end + 1, end + 1, f"{indent}{plan.lock}.Unlock()\n".encode()))
    return edits


RULE = Rule(
    id="concurrent-map-write",
    summary="map elements written by goroutines that can run at the same time as another use of the map",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"go ", b"go\t", b".Go("),
)
