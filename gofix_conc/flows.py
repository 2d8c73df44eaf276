"""Where a value goes within a function, and whether it outlives the call.

The callee a value is handed to; whether a func literal runs within the call
of the function around it (called on the spot, or a goroutine it waits for);
whether a value is stored beyond the function's locals (a field, an element,
a package variable, a composite literal), started, or used by a goroutine
nobody waits for. Whether a local array stays in the frame: its address is
not taken and its slices are not stored, returned or handed to code that may
keep them (a package function that keeps its parameter, another package, a
method through an interface).

conn, err := dial(ctx, addr); s.conn = conn   ⇒ result_kept: the connection outlives the call
cmd := exec.CommandContext(ctx, ...); cmd.Start() ⇒ outlives_call: it keeps running
var buf [N]byte; n := parse(buf[:])           ⇒ array_uses: "slice" when parse keeps nothing of it
"""

from __future__ import annotations

import re

from tree_sitter import Node

from gofix_conc import concurrency, index, scopes
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


# -- whether a slice of a local array stays within the call ---------------------------------

# Packages whose functions do not keep the slices they are handed (the compiler knows it).
NON_RETAINING_PACKAGES = frozenset(
    {"bytes", "strings", "strconv", "utf8", "utf16", "binary", "hex", "bits", "subtle", "slices", "sort", "unicode"}
)
# Builtins that do not keep a slice they are handed (append does, when it is appended onto).
NON_RETAINING_BUILTINS = frozenset({"copy", "len", "cap", "string", "clear", "min", "max"})


def array_uses(ident: Node, function: Node, view: index.PackageView) -> list[tuple[str, Node]]:
    """Each use of the local array declared as ``ident`` in ``function``, classified: index, slice, length,
    constant length, range, range value, value, or an escape (address, element address, escaping slice)."""
    decl = scopes.resolve(ident)
    body = function.child_by_field_name("body")
    if decl is None or body is None:
        return []
    found = []
    for ref in scopes.references(decl, body):
        if ref == decl.node:
            continue
        found.append((array_use(ref, function, view), ref))
    return found


def array_use(ref: Node, function: Node, view: index.PackageView) -> str:
    """How ``function`` uses a local array at ``ref``: one of the kinds :func:`array_uses` lists."""
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return "value"
    if scopes.enclosing_function(ref) != function:
        return "escaping slice"  # captured by a closure: may outlive the call
    if parent.type == "index_expression" and parent.child_by_field_name("operand") == node:
        outer = parent.parent
        if outer is not None and outer.type == "unary_expression" and unary_operator(outer) == "&":
            return "element address"
        return "index"
    if parent.type == "slice_expression" and parent.child_by_field_name("operand") == node:
        return "slice" if slice_stays(parent, view) else "escaping slice"
    if parent.type == "unary_expression" and unary_operator(parent) == "&":
        return "address"
    if parent.type == "argument_list" and identifier_callee(parent.parent) in ("len", "cap"):
        if scopes.enclosing(parent, ("const_spec", "array_type"), stop=_STATEMENT_ENDS):
            return "constant length"  # len of an array is a constant, of a slice it is not
        return "length"
    if parent.type == "range_clause" and parent.child_by_field_name("right") == node:
        left = parent.child_by_field_name("left")
        names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
        return "range value" if len(names) > 1 and names[1].text != b"_" else "range"  # ranging copies the array
    return "value"


# Where a search for the constant context of a len(x) stops.
_STATEMENT_ENDS = frozenset({"block", "function_declaration", "method_declaration", "func_literal"})


def slice_stays(slice_expr: Node, view: index.PackageView) -> bool:
    """A slice of the array that cannot leave the frame: handed to a builtin, a function of the package, ..."""
    parent = slice_expr.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "range_clause":
        return True
    if parent.type == "variadic_argument":
        parent = parent.parent
    if parent is None or parent.type != "argument_list" or parent.parent is None:
        return False
    call = parent.parent
    callee = call.child_by_field_name("function")
    if callee is None:
        return False
    if callee.type == "identifier":
        name = callee.text.decode() if callee.text else ""
        if name == "append":
            first = next((a for a in parent.named_children if a.type != "comment"), None)
            return first is not None and not scopes.contains(first, slice_expr)  # appended from, not onto
        if name in NON_RETAINING_BUILTINS:
            return True
        decl = scopes.resolve(callee)
        if decl is not None and decl.kind != "func":
            return False  # a func value: unknown code
        return not callee_retains(view, name, argument_index(parent, slice_expr))
    if callee.type in ("slice_type", "array_type", "parenthesized_type"):
        return True  # a conversion
    root = scopes.root_identifier(callee.child_by_field_name("operand") or callee)
    if root is None or scopes.resolve(root) is not None:
        return False  # a method of a value: maybe through an interface
    return root.text is not None and root.text.decode() in NON_RETAINING_PACKAGES


def argument_index(arguments: Node, slice_expr: Node) -> int:
    """The position of the argument that holds ``slice_expr``; -1 when none does."""
    found = [a for a in arguments.named_children if a.type != "comment"]
    return next((i for i, a in enumerate(found) if scopes.contains(a, slice_expr)), -1)


# Where a slice parameter is only read in place:  b[i]   len(b)   range b   copy(dst, b)   string(b)
IN_PLACE_CALLS = frozenset({"len", "cap", "copy", "string", "clear", "min", "max"})


def callee_retains(view: index.PackageView, name: str, position: int) -> bool:
    """The package function ``name`` may keep its ``position``-th parameter: stored, returned, sent, passed on.

    Unknown callees (not declared in the package, build-variant declarations that disagree) count as keeping it: a
    slice that escapes puts the array on the heap, and then the frame holds no array to copy.
    """
    if position < 0:
        return True
    declarations = view.functions(name)  # parses only the files that hold the name
    if not declarations:
        return True
    for declaration in declarations:
        parameter = parameter_at(declaration, position)
        body = declaration.child_by_field_name("body")
        if parameter is None or body is None:
            return True
        decl = scopes.resolve(parameter)
        if decl is None:
            return True
        for ref in scopes.references(decl, body):
            if ref != decl.node and not read_in_place(ref, declaration):
                return True
    return False


def parameter_at(declaration: Node, position: int) -> Node | None:
    """The name of the ``position``-th parameter of a function declaration; None when it has none there."""
    parameters = declaration.child_by_field_name("parameters")
    names: list[Node] = []
    for item in parameters.named_children if parameters is not None else []:
        if item.type == "variadic_parameter_declaration":
            if position >= len(names):  # f(a, b[:]...): the variadic parameter is the slice itself
                return item.child_by_field_name("name")
            break
        if item.type == "parameter_declaration":
            found = [n for n in item.children_by_field_name("name") if n.type == "identifier"]
            names += found or [item]  # an unnamed parameter: nothing reads it
    if position >= len(names):
        return None
    return names[position] if names[position].type == "identifier" else None


def read_in_place(ref: Node, function: Node) -> bool:
    """Whether ``function`` only reads the slice parameter at ``ref`` where it is: see :data:`IN_PLACE_CALLS`."""
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None or scopes.enclosing_function(ref) != function:
        return False
    if parent.type == "index_expression" and parent.child_by_field_name("operand") == node:
        return True
    if parent.type == "range_clause" and parent.child_by_field_name("right") == node:
        return True
    if parent.type == "argument_list" and identifier_callee(parent.parent) in IN_PLACE_CALLS:
        return True
    if parent.type == "argument_list" and parent.parent is not None:
        callee = parent.parent.child_by_field_name("function")
        operand = (
            callee.child_by_field_name("operand")
            if callee is not None and callee.type == "selector_expression"
            else None
        )
        if operand is not None and operand.type == "identifier" and scopes.resolve(operand) is None:
            return operand.text is not None and operand.text.decode() in NON_RETAINING_PACKAGES
    return False


def unary_operator(unary: Node) -> str:
    """The operator of a unary expression: ``&``, ``*``, ``-``, ``<-``, ...; "" when it has none."""
    operator = unary.child_by_field_name("operator")
    return operator.type if operator is not None else ""


def identifier_callee(call: Node | None) -> str:
    """The name of a call whose callee is written as a bare identifier: ``len(b)``, ``copy(d, b)``, ``f(b)``; "" for
    any other callee.

    Not :func:`callee_name`, which also answers ``F`` for ``x.F(...)``, ``pkg.F(...)``, ``(F)(...)`` and ``F[T](...)``:
    here a method or package function named ``len``, ``copy`` or ``string`` must not pass for the builtin.
    """
    function = call.child_by_field_name("function") if call is not None else None
    return function.text.decode() if function is not None and function.type == "identifier" and function.text else ""
