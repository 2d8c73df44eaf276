"""Where a value goes within a function, and whether it outlives the call.

The callee a value is handed to; whether a func literal runs within the call
of the function around it (called on the spot, or a goroutine it waits for);
whether a value is stored beyond the function's locals (a field, an element,
a package variable, a composite literal), started, or used by a goroutine
nobody waits for.

conn, err := dial(ctx, addr); s.conn = conn   ⇒ result_kept: the connection outlives the call
cmd := exec.CommandContext(ctx, ...); cmd.Start() ⇒ outlives_call: it keeps running
"""

from __future__ import annotations

import re

from tree_sitter import Node

from gofix_conc import concurrency, scopes
from gofix_conc.source import captures

# Callee names (their first word) of components that keep the context they are given.
KEEPERS = re.compile(
    r"^(?:new|start|spawn|launch|serve|listenAndServe|background|async|watch|subscribe|register|go)(?:[A-Z0-9_]|$)"
)
# ... but not a request made with one (NewRequestWithContext): it lives as long as the call.
REQUEST_SCOPED = re.compile(r"^[Nn]ewRequest")


def is_waited_for(start: Node, literal: Node) -> bool:
    """``g.Go(f)`` then ``g.Wait()``, or ``go func() { defer wg.Done() ... }()`` then ``wg.Wait()``."""
    if start.type == "call_expression":
        function = start.child_by_field_name("function")
        group = function.child_by_field_name("operand") if function is not None else None
    else:
        body = literal.child_by_field_name("body")
        group = None
        for statement in body.named_children[0].named_children if body is not None and body.named_children else []:
            text = statement.text or b""
            match = re.fullmatch(rb"defer\s+([\w.]+)\.Done\(\)", text)
            if statement.type == "defer_statement" and match:
                group = statement
                name = match.group(1)
                break
        else:
            return False
    if group is None:
        return False
    name = group.text if start.type == "call_expression" else name
    frame = scopes.enclosing_function(start)
    after = frame.text[start.end_byte - frame.start_byte :] if frame is not None and frame.text else b""
    return re.search(rb"(?<![\w.])" + re.escape(name or b"") + rb"\.Wait\(\)", after) is not None


def callee_name(call: Node) -> bytes | None:
    """The name a call calls: ``F`` of ``pkg.F(...)``, ``x.F(...)``, ``F[T](...)``; None for a func value."""
    function = call.child_by_field_name("function")
    while function is not None and function.type in ("parenthesized_expression", "generic_type", "index_expression"):
        function = function.named_children[0] if function.named_children else None  # get[T](...): get
    if function is None:
        return None
    if function.type == "selector_expression":
        field = function.child_by_field_name("field")
        return field.text if field is not None else None
    return function.text if function.type == "identifier" else None


def refers_to(node: Node | None, decl: scopes.Declaration) -> bool:
    """Whether an identifier in ``node`` names ``decl``."""
    if node is None:
        return False
    return any(
        scopes.resolve(i) == decl
        for i in captures("(identifier) @i", node).get("i", [])
        if i.text == decl.name.encode()
    )


def first_lower(name: str) -> str:
    """``StartWorker`` -> ``startWorker``: a callee name ready for the word patterns."""
    return name[:1].lower() + name[1:]


def runs_in_call(node: Node, function: Node) -> bool:
    """Whether the func literals around ``node`` run within the function's call."""
    for ancestor in scopes.ancestors(node):
        if ancestor == function:
            return True
        if ancestor.type == "defer_statement":
            return False
        if ancestor.type == "func_literal" and not concurrency.called_on_the_spot(ancestor):
            start = concurrency.goroutine_start(ancestor)
            if start is None or not concurrency.joined(start):
                return False
    return True


def result_stored(call: Node) -> bool:
    """``s.rows, err = db.QueryContext(...)``: what the call returns is assigned beyond the locals."""
    parent = call.parent
    if parent is None or parent.type != "expression_list" or parent.parent is None:
        return False
    holder = parent.parent
    if holder.type != "assignment_statement" or parent != holder.child_by_field_name("right"):
        return False
    return assigns_beyond(holder)


def assigns_beyond(assignment: Node) -> bool:
    """Whether an assignment writes a field, an element or a package variable (not only locals or ``_``)."""
    left = assignment.child_by_field_name("left")
    for target in left.named_children if left is not None else []:
        if target.type != "identifier":
            return True
        decl = scopes.resolve(target)
        if target.text != b"_" and (decl is None or scopes.top_level(decl.node).type == "var_declaration"):
            return True
    return False


def result_kept(call: Node, function: Node) -> bool:
    """``conn, err := dial(ctx)`` then ``s.conn = conn`` or ``p.conns = append(p.conns, conn)``: kept past the call."""
    parent = call.parent
    if parent is None or parent.type != "expression_list" or parent.parent is None:
        return False
    holder = parent.parent
    if holder.type not in ("short_var_declaration", "assignment_statement"):
        return False
    left = holder.child_by_field_name("left")
    for target in left.named_children if left is not None else []:
        if target.type != "identifier" or target.text == b"_" or (target.text or b"").startswith(b"err"):
            continue
        decl = scopes.resolve(target)
        if decl is None:
            continue
        for use in scopes.references(decl, function):
            if use.start_byte < holder.end_byte:
                continue
            if stored_beyond(use, function) or outlives_call(use, function):
                return True
    return False


def outlives_call(use: Node, function: Node) -> bool:
    """``cmd.Start()``, ``go cmd.Wait()``, a goroutine not waited for using it: it runs on after the call."""
    parent = use.parent
    if parent is not None and parent.type == "selector_expression" and parent.child_by_field_name("operand") == use:
        field = parent.child_by_field_name("field")
        text = first_lower((field.text or b"").decode()) if field is not None else ""
        if KEEPERS.match(text) and not REQUEST_SCOPED.match(text):
            return True  # cmd.Start(), srv.Serve(l): starts something that keeps running
    for ancestor in scopes.ancestors(use):
        if ancestor == function:
            return False
        if ancestor.type == "go_statement":
            return True
        if ancestor.type == "func_literal" and not concurrency.called_on_the_spot(ancestor):
            start = concurrency.goroutine_start(ancestor)
            if start is not None and not concurrency.joined(start):
                return True
    return False


def stored_beyond(use: Node, function: Node) -> bool:
    """Whether ``use`` is assigned to a field, an element or a package variable, or built into a composite literal."""
    child = use
    for ancestor in scopes.ancestors(use):
        if ancestor == function or ancestor.type in ("block", "func_literal"):
            return False
        if ancestor.type in ("literal_element", "keyed_element"):
            return True  # &Client{conn: conn}: a value built around it
        if ancestor.type == "assignment_statement":
            return child == ancestor.child_by_field_name("right") and assigns_beyond(ancestor)
        child = ancestor
    return False
