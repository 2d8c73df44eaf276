"""Contexts in Go code: the ``context.Context`` (or ``*http.Request``) a
function receives and the one a call sees through the func literals around
it, where a fresh context flows (the calls it ends up in, unless something
keeps it) and whether one is needed there at all (a nil or done context),
whether a function of the package keeps a context it is given, whether an
HTTP handler has answered before a point, what a name means at a point
where no identifier stands yet, and the import of a package once its last
use is rewritten away.

func (s *S) Get(ctx context.Context, id string)   ⇒ ctx (a usable context parameter)
func handle(w http.ResponseWriter, r *http.Request) ⇒ r (its Context() is usable)
func (s *S) Get(_ context.Context, id string)      ⇒ blank: the function says it ignores its context
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, flows, imports, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit
from gofix_conc.source import Source, captures


@dataclass(frozen=True)
class Parameters:
    """The context-carrying parameters of one function."""

    kind: str  # "context" (context.Context) or "request" (*http.Request)
    usable: list[scopes.Declaration]  # named, not "_"
    blank: int  # "_" or unnamed parameters of that type


def import_name(source: Source, path: str) -> str | None:
    """The name the file uses for package ``path``; None when not imported or imported as ``_``/``.``."""
    found = next((i for i in imports.imports(source) if i.path == path and i.name not in ("_", ".")), None)
    return found.local_name if found is not None else None


def _is_qualified(type_node: Node | None, package: str | None, name: bytes) -> bool:
    if package is None or type_node is None or type_node.type != "qualified_type":
        return False
    pkg = type_node.child_by_field_name("package")
    ident = type_node.child_by_field_name("name")
    return pkg is not None and ident is not None and pkg.text == package.encode() and ident.text == name


def parameters(function: Node, context: str | None, http: str | None) -> Parameters | None:
    """The ``context.Context`` parameters of ``function``, else its ``*http.Request`` ones; None if neither."""
    params = function.child_by_field_name("parameters")
    found: dict[str, tuple[list[scopes.Declaration], int]] = {"context": ([], 0), "request": ([], 0)}
    for declaration in params.named_children if params is not None else []:
        type_node = declaration.child_by_field_name("type")
        if _is_qualified(type_node, context, b"Context"):
            kind = "context"
        elif (
            type_node is not None
            and type_node.type == "pointer_type"
            and _is_qualified(next(iter(type_node.named_children), None), http, b"Request")
        ):
            kind = "request"
        else:
            continue
        usable, blank = found[kind]
        names = [n for n in declaration.children_by_field_name("name") if n.is_named]
        blank += len([n for n in names if n.text == b"_"]) + (0 if names else 1)
        for name in names:
            decl = scopes.resolve(name) if name.text != b"_" else None
            if decl is not None:
                usable.append(decl)
        found[kind] = (usable, blank)
    for kind in ("context", "request"):
        usable, blank = found[kind]
        if usable or blank:
            return Parameters(kind, usable, blank)
    return None


def visible(at: Node, name: str) -> scopes.Declaration | None:
    """The declaration ``name`` would refer to if written where ``at`` stands (None: not in this file)."""
    child, node = at, at.parent
    while node is not None:
        if node.type == "statement_list":
            for statement in node.named_children:
                if statement.end_byte > child.start_byte:
                    break
                for decl in scopes.declared_by(statement):
                    if decl.name == name:
                        return scopes.resolve(decl.node)  # a := redeclaration is the earlier variable
        elif node.type == "source_file":
            return None
        else:
            for decl in scopes.header_declarations(node, child):
                if decl.name == name:
                    return decl
        child, node = node, node.parent
    return None


# Functions that call their func-literal argument before they return.
SYNC_CALLBACKS = frozenset(
    {
        b"Do",
        b"Slice",
        b"SliceStable",
        b"Search",
        b"SortFunc",
        b"SortStableFunc",
        b"IndexFunc",
        b"ContainsFunc",
        b"DeleteFunc",
        b"Walk",
        b"WalkDir",
        b"Range",
        b"Map",
        b"FieldsFunc",
        b"TrimFunc",
    }
)


# Calls that run their callback later, whatever else they receive.
LATER = frozenset({b"AfterFunc", b"OnceFunc", b"OnceValue", b"OnceValues", b"Go", b"TryGo"})


@dataclass(frozen=True)
class Origin:
    """The context the function around the call has."""

    decl: scopes.Declaration  # the context.Context or *http.Request parameter
    kind: str  # "context" or "request"
    function: Node  # the function declaring it
    goroutine: Node | None  # the start of a goroutine between, that the function does not wait for
    goroutines: tuple[Node, ...]  # the func literals run as goroutines between the call and the function
    unsure: str  # why the literals between may not run within the call ("" when they do)


def origin(call: Node, package: str, http: str | None) -> Origin | None:
    """The context the function around ``call`` has; None when it has none it may hand down to the call.

    None too when the call is deferred, or in a func literal that may run
    after the call of the function that has the context.
    """
    literals: list[Node] = []
    for ancestor in scopes.ancestors(call):
        if ancestor.type == "defer_statement":
            return None  # deferred work runs after the context may be done: cleanup
        if ancestor.type not in scopes.FUNCTIONS:
            continue
        params = parameters(ancestor, package, http)
        if params is not None:
            if len(params.usable) != 1 or params.blank:
                return None  # `_` says the context is ignored on purpose; two contexts: which one?
            return _through(params.usable[0], params.kind, ancestor, literals)
        if ancestor.type != "func_literal":
            return None
        literals.append(ancestor)
    return None


def _through(decl: scopes.Declaration, kind: str, function: Node, literals: list[Node]) -> Origin | None:
    """The origin, when each func literal between runs while the function's call does (or as a goroutine)."""
    detached: Node | None = None
    goroutines: list[Node] = []
    unsure = ""
    for literal in literals:
        start = concurrency.goroutine_start(literal)
        if start is not None:
            goroutines.append(literal)
            if not concurrency.joined(start):
                detached = detached or start
            elif not flows.is_waited_for(start, literal):
                unsure = unsure or "the function waits after starting the goroutine, but maybe not for it"
            continue
        if concurrency.called_on_the_spot(literal):
            continue
        caller = concurrency.callback_caller(literal)
        name = flows.callee_name(caller) if caller is not None else None
        if caller is None or name is None or name in LATER:
            return None  # stored or returned: it may run after the call returned
        arguments = caller.child_by_field_name("arguments")
        if name == b"Do" and arguments is not None and arguments.named_child_count == 1:
            return None  # once.Do: shared state made once must not hang on one caller's context
        if name == b"Do" and not flows.refers_to(arguments, decl):
            # group.Do(key, func() ...) (singleflight): one call serves every caller waiting on the key, and
            # cancelling it for the first caller fails them all; an unknown Do may be that or run it later.
            return None
        if name in SYNC_CALLBACKS:
            continue
        if flows.refers_to(caller.child_by_field_name("arguments"), decl):
            unsure = (
                unsure or f"{name.decode()} receives {decl.name} too; it must call the func literal before returning"
            )
            continue
        return None  # handed to a function that may keep it
    return Origin(decl, kind, function, detached, tuple(goroutines), unsure)


def kept_by_callee(ctx: FileContext, call: Node, position: int, depth: int = 0) -> bool:
    """Whether a function of the package called here stores its context parameter or hands it to a goroutine.

    Followed through the package's functions that pass the parameter on
    (``warm(ctx)`` calling ``s.runWarmers(ctx)``, which starts a goroutine).
    """
    if depth > 3:
        return False
    function = call.child_by_field_name("function")
    if function is None:
        return False
    if function.type == "identifier":
        if scopes.resolve(function) is not None and scopes.resolve(function).kind != "func":  # type: ignore[union-attr]
            return False  # a function value
        candidates = ctx.package.functions(function.text.decode())  # type: ignore[union-attr]
    elif function.type == "selector_expression":
        operand = function.child_by_field_name("operand")
        field = function.child_by_field_name("field")
        if operand is None or field is None:
            return False
        if operand.type == "identifier" and scopes.resolve(operand) is None and _is_import(ctx, operand.text):
            return False  # another package's function: its name decided above
        candidates = [m.node for m in ctx.package.methods_named(field.text.decode())]  # type: ignore[union-attr]
    else:
        return False
    return any(_keeps_parameter(ctx, candidate, position, depth) for candidate in candidates)


def _is_import(ctx: FileContext, name: bytes | None) -> bool:
    return name is not None and any(i.local_name == name.decode() for i in ctx.package.own.imports)


def _keeps_parameter(ctx: FileContext, function: Node, position: int, depth: int) -> bool:
    params = function.child_by_field_name("parameters")
    names: list[Node | None] = []
    for declaration in params.named_children if params is not None else []:
        if declaration.type not in ("parameter_declaration", "variadic_parameter_declaration"):
            continue
        found = [n for n in declaration.children_by_field_name("name") if n.is_named]
        names += found or [None]
    if position >= len(names) or names[position] is None:
        return False
    decl = scopes.resolve(names[position])  # type: ignore[arg-type]
    body = function.child_by_field_name("body")
    if decl is None or body is None:
        return False
    for use in scopes.references(decl, body):
        parent = use.parent
        if parent is None:
            continue
        if parent.type in ("literal_element", "keyed_element", "send_statement", "return_statement"):
            return True
        if parent.type == "argument_list" and parent.parent is not None and parent.parent.type == "call_expression":
            name = flows.callee_name(parent.parent)
            text = flows.first_lower(name.decode()) if name is not None else ""
            if flows.KEEPERS.match(text) and not flows.REQUEST_SCOPED.match(text):
                return True  # handed on to a constructor or starter
            if kept_by_callee(ctx, parent.parent, parent.named_children.index(use), depth + 1):
                return True  # handed on to a function of the package that keeps it
        if parent.type == "expression_list" and parent.parent is not None:
            holder = parent.parent
            if holder.type in ("return_statement", "send_statement"):
                return True
            if holder.type == "assignment_statement" and parent == holder.child_by_field_name("right"):
                left = holder.child_by_field_name("left")
                if left is not None and any(t.type != "identifier" for t in left.named_children):
                    return True  # s.ctx = ctx
        for ancestor in scopes.ancestors(use):
            if ancestor == function:
                break
            if ancestor.type == "go_statement":
                return True
            if ancestor.type == "func_literal" and not concurrency.called_on_the_spot(ancestor):
                return True  # captured by a closure that may run later
    return False


def is_handler(function: Node) -> bool:
    """``func(w http.ResponseWriter, r *http.Request)``: a ResponseWriter among the parameters."""
    params = function.child_by_field_name("parameters")
    return params is not None and b"ResponseWriter" in (params.text or b"")


def responded_before(call: Node, function: Node) -> bool:
    """In an HTTP handler, whether the response is written (or flushed) on the way to ``call``.

    Statements before the call (in each block around it) count, except an
    ``if`` whose branch ends in a return (``http.Error(w, ...); return``).
    """
    if not is_handler(function):
        return False
    writer = response_writer(function)
    if writer is None:
        return False
    name = re.escape(writer)
    # w.WriteHeader(...), w.Write(...), f.Flush(), http.Error(w, ...), fmt.Fprintf(w, ...), json.NewEncoder(w)
    pattern = re.compile(
        rb"\b" + name + rb"\.(?:WriteHeader|Write|WriteString)\(|\.Flush\(\)|\(\s*" + name + rb"\s*[,)]"
    )
    child = call
    for ancestor in scopes.ancestors(call):
        if ancestor == function:
            break
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                if statement.type == "if_statement" and _returns(statement.child_by_field_name("consequence")):
                    continue
                if statement.text is not None and pattern.search(statement.text):
                    return True
        child = ancestor
    return False


def response_writer(function: Node) -> bytes | None:
    """The name of the function's ``http.ResponseWriter`` parameter (None: none, or ``_``)."""
    params = function.child_by_field_name("parameters")
    for declaration in params.named_children if params is not None else []:
        type_node = declaration.child_by_field_name("type")
        if type_node is not None and (type_node.text or b"").endswith(b"ResponseWriter"):
            names = [n for n in declaration.children_by_field_name("name") if n.is_named]
            return names[0].text if names and names[0].text != b"_" else None
    return None


def _returns(block: Node | None) -> bool:
    statements = block.named_children[0].named_children if block is not None and block.named_children else []
    return bool(statements) and statements[-1].type in ("return_statement", "goto_statement")


# context.WithX(parent, ...): the result carries the parent's cancellation.
DERIVE = frozenset(
    {
        b"WithCancel",
        b"WithCancelCause",
        b"WithTimeout",
        b"WithTimeoutCause",
        b"WithDeadline",
        b"WithDeadlineCause",
        b"WithValue",
    }
)


# Callee names (their first word) of work meant to survive a cancellation.
CLEANUP = re.compile(
    r"^(?:close|shutdown|stop|rollback|abort|release|unlock|cleanup|cancel|teardown|terminate|kill|drain|flush"
    r"|unregister|deregister|disconnect|finish|discard|revert|undo)(?:[A-Z0-9_]|$)"
)


# Words of a variable name that say the fresh context is deliberate.
DELIBERATE_WORDS = frozenset(
    {"bg", "background", "detach", "detached", "shutdown", "cleanup", "teardown", "base", "root", "long", "server"}
    | {"global", "fresh", "independent", "stop", "close", "closing", "app", "lifetime", "worker"}
)


DONE_CHECK = re.compile(rb"\.Err\(\)|\.Done\(\)|\bCanceled\b|\bDeadlineExceeded\b|\bCause\(")


def _branches(statement: Node) -> list[Node]:
    return [b for b in (statement.child_by_field_name(f) for f in ("consequence", "alternative")) if b is not None]


def nil_or_done_at(call: Node, origin: Origin) -> bool:
    """Whether ``call`` runs where its function has no live context to give it.

    The function allows a nil context (a fresh one is its default), or the
    call runs in a branch taken once the context is done or nil
    (``if ctx.Err() != nil``, ``case <-ctx.Done():``, ``if ctx == nil``) or
    after ``<-ctx.Done()``.
    """
    name = re.escape(origin.decl.name).encode()
    nil_check = re.compile(rb"\b" + name + rb"\s*[!=]=\s*nil\b|\bnil\s*[!=]=\s*" + name + rb"\b")
    if origin.function.text is not None and nil_check.search(origin.function.text):
        return True  # the function allows a nil context: a fresh one is its default
    child = call
    for ancestor in scopes.ancestors(call):
        if ancestor == origin.function:
            break
        condition = None
        if ancestor.type == "if_statement" and child in _branches(ancestor):
            condition = ancestor.child_by_field_name("condition")
        elif ancestor.type == "communication_case":
            condition = ancestor.child_by_field_name("communication")
        elif ancestor.type == "expression_case":
            condition = ancestor.named_children[0] if ancestor.named_children else None
        elif ancestor.type == "expression_switch_statement":
            condition = ancestor.child_by_field_name("value")
        text = condition.text if condition is not None else None
        if text is not None and (DONE_CHECK.search(text) or nil_check.search(text)):
            return True  # runs once the context is done, or when there is none
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                waits = statement.type == "expression_statement" and statement.text is not None
                if waits and re.match(rb"<-\s*[\w.]+\.Done\(\)\s*$", statement.text):  # type: ignore[arg-type]
                    return True  # after waiting for the context to end
        child = ancestor
    return False


@dataclass(frozen=True)
class Sink:
    """A place the fresh context ends up."""

    node: Node  # the call receiving it
    kind: str  # "call", "go" (go f(ctx)), "wait" (c.Done(), c.Err()), "kept" (its result is stored later)


def sinks_of(ctx: FileContext, value: Node, origin: Origin, package: str, depth: int = 0) -> list[Sink]:
    """The calls the fresh context (or one derived from it) ends up in; empty when it is kept or made on purpose."""
    parent = value.parent
    while parent is not None and parent.type == "parenthesized_expression":
        value, parent = parent, parent.parent
    if parent is None or depth > 3:
        return []
    if parent.type == "argument_list" and parent.parent is not None and parent.parent.type == "call_expression":
        call = parent.parent
        first = parent.named_children[0] if parent.named_children else None
        function = call.child_by_field_name("function")
        name = flows.callee_name(call)
        if name is None and function is not None and function.type == "func_literal":
            # go func(c context.Context) { ... }(context.Background()): like go f(context.Background())
            go = call.parent is not None and call.parent.type == "go_statement"
            return [Sink(call, "go")] if go and depth == 0 else []
        if name is None:
            return []
        if _is_package_call(function, package) and name in DERIVE | {b"WithoutCancel"}:
            return (
                sinks_of(ctx, call, origin, package, depth + 1) if first == value and name != b"WithoutCancel" else []
            )
        if name == b"NotifyContext" and first == value:
            return sinks_of(ctx, call, origin, package, depth + 1)
        if call.parent is not None and call.parent.type == "go_statement":
            return [Sink(call, "go")] if depth == 0 else []
        if call.parent is not None and call.parent.type == "defer_statement":
            return []  # deferred: runs after the context may be done
        text = flows.first_lower(name.decode())
        if CLEANUP.match(text) or (flows.KEEPERS.match(text) and not flows.REQUEST_SCOPED.match(text)):
            return []  # cleanup meant to survive, or a component that keeps the context
        if kept_by_callee(ctx, call, parent.named_children.index(value)):
            return []
        if flows.result_stored(call):
            return []  # what it returns (a connection, rows, a command) outlives the call: a long-lived component
        return [Sink(call, "kept" if flows.result_kept(call, origin.function) else "call")]
    if parent.type == "selector_expression" and depth > 0:
        field = parent.child_by_field_name("field")
        holder = parent.parent
        if (
            field is not None
            and field.text in (b"Done", b"Err")
            and holder is not None
            and holder.type == "call_expression"
        ):
            return [Sink(holder, "wait")]
        return []
    if parent.type == "expression_list" and parent.parent is not None:
        return _assigned(ctx, value, parent, origin, package, depth)
    return []  # returned, stored in a literal, sent, compared: kept, or not a context handed down


def _assigned(ctx: FileContext, value: Node, values: Node, origin: Origin, package: str, depth: int) -> list[Sink]:
    holder = values.parent
    if holder is None or holder.type not in ("short_var_declaration", "assignment_statement"):
        return []
    if values != holder.child_by_field_name("right"):
        return []
    left = holder.child_by_field_name("left")
    targets = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    items = [c for c in values.named_children if c.type != "comment"]
    if not targets or value not in items:
        return []
    target = targets[items.index(value)] if len(targets) == len(items) else targets[0]
    if target.type != "identifier" or target.text == b"_":
        return []  # stored in a field, an element: kept
    decl = scopes.resolve(target)
    if decl is not None and decl == origin.decl:
        # ctx, cancel := context.WithTimeout(context.Background(), d): the function drops its own context;
        # plain ctx = context.Background() replaces it on purpose (if ctx == nil { ... }).
        return [Sink(holder, "rebind")] if depth > 0 else []
    if decl is None or decl.kind != "var":
        return []  # a package variable
    if not scopes.contains(origin.function, decl.node) or name_words(decl.name) & DELIBERATE_WORDS:
        return []
    if any(w != target for w in scopes.writes(decl, origin.function)):
        return []  # chosen between several contexts
    sinks: list[Sink] = []
    for use in scopes.references(decl, origin.function):
        if use == decl.node or use == target:
            continue
        if use.start_byte < holder.end_byte:
            return []  # used before: in a loop, or another variable
        if not flows.runs_in_call(use, origin.function):
            return []
        found = sinks_of(ctx, use, origin, package, depth + 1)
        if not found:
            return []
        sinks += found
    return sinks


def name_words(name: str) -> set[str]:
    """``shutdownCtx`` -> {"shutdown", "ctx"}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)}


def _is_package_call(function: Node | None, package: str) -> bool:
    operand = (
        function.child_by_field_name("operand")
        if function is not None and function.type == "selector_expression"
        else None
    )
    return operand is not None and operand.text == package.encode() and scopes.resolve(operand) is None


def derived_from(decl: scopes.Declaration, origin: scopes.Declaration) -> bool:
    """``ctx, cancel := context.WithTimeout(ctx, d)`` in a nested block: a context made from the parameter."""
    construct = decl.construct
    right = construct.child_by_field_name("right") or construct.child_by_field_name("value")
    return right is not None and flows.refers_to(right, origin)


def uses_context_elsewhere(origin: Origin, call: Node) -> bool:
    """Whether the function hands its context to other code (``r.Context()`` for a request)."""
    for use in scopes.references(origin.decl, origin.function):
        if use == origin.decl.node or scopes.contains(call, use):
            continue
        if origin.kind == "context":
            return True
        parent = use.parent
        field = (
            parent.child_by_field_name("field") if parent is not None and parent.type == "selector_expression" else None
        )
        if field is not None and field.text in (b"Context", b"WithContext"):
            return True
    return False


def package_uses(source: Source, name: str) -> list[Node]:
    """Every ``name.X`` of the file that names the imported package (not a local variable of that name)."""
    found = []
    for ident in captures("(selector_expression operand: (identifier) @p)", source.root).get("p", []):
        if ident.text == name.encode() and scopes.resolve(ident) is None:
            found.append(ident)
    for ident in captures("(qualified_type package: (package_identifier) @p)", source.root).get("p", []):
        if ident.text == name.encode():
            found.append(ident)
    return found


def import_spec(source: Source, path: str) -> Node | None:
    return next((i.node for i in imports.imports(source) if i.path == path and i.name not in ("_", ".")), None)


def remove_import(source: Source, spec: Node) -> Edit:
    """The edit deleting an import spec (its whole declaration when it is the only one), gofmt-clean."""
    holder = spec.parent
    if holder is not None and holder.type == "import_spec_list":
        siblings = [c for c in holder.named_children if c.type == "import_spec"]
        if len(siblings) > 1:
            return _delete_line(source, spec)
        holder = holder.parent
    return _delete_line(source, holder if holder is not None else spec)


def _delete_line(source: Source, node: Node) -> Edit:
    """Delete the lines ``node`` covers; where blank lines would pile up (or open/close a block), one goes too."""
    data = source.data
    start = source.line_start(node.start_byte)
    newline = data.find(b"\n", node.end_byte)
    end = len(data) if newline < 0 else newline + 1
    previous = data[source.line_start(max(start - 1, 0)) : start].strip() if start > 0 else b"("
    after = data.find(b"\n", end)
    following = data[end : len(data) if after < 0 else after].strip()
    if not following and after >= 0 and (not previous or previous.endswith(b"(")):
        end = after + 1
    elif not previous and start > 0 and following == b")":
        start = source.line_start(start - 1)
    return Edit(start, end, b"")
