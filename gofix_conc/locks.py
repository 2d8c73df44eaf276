"""Which mutexes are held where, as the source shows it: a general lock analysis rules share.

- :func:`held` reads the statements before a node in the blocks around it:
  ``mu.Lock()``/``mu.RLock()`` take a mutex, ``mu.Unlock()``/``mu.RUnlock()``
  release it, ``defer mu.Unlock()`` keeps it to the end of the function. A
  lock taken and released inside a branch before the node is left alone (the
  node is after the branch). A func literal called on the spot, deferred, or
  handed to a synchronous callee (``sort.Slice``, ``once.Do``) sees the locks
  of the code around it; a goroutine, or a callback the callee keeps
  (``time.AfterFunc``, ``http.HandleFunc``), sees none.
- :func:`by_convention` is the Go convention for helpers that expect their
  caller to hold the lock: a name ending in ``Locked`` (``flushLocked``), or a
  doc comment saying so ("c.mu must be held", "called with mu held", "the
  caller must hold the lock").
- :func:`struct_fields` and :func:`package_mutexes` name what a lock guards
  and the mutexes themselves.

Mutexes are named by the text of the expression locked: ``s.mu``, ``s``
(an embedded ``sync.Mutex``: ``s.Lock()``), ``mu`` (a package-level one).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, scopes
from gofix_conc.source import spelled

LOCKS = frozenset({"Lock", "RLock"})
UNLOCKS = frozenset({"Unlock", "RUnlock"})

# Callees that keep a func literal to call later, on another goroutine or after the caller returned.
_KEEPS_CALLBACK = frozenset(
    {"AfterFunc", "Go", "TryGo", "HandleFunc", "Handle", "Cleanup", "SetFinalizer", "AddCleanup", "NewTimer"}
)

# Doc comments of helpers that run with the lock held.
_HELD_DOC = re.compile(
    r"\b(must|should|to) (be )?(hold|held|holding|locked|have)\b"
    r"|\bcalled (with|while|under)\b"
    r"|\b(hold|holds|holding|held)\b[^.]*\b(lock|mu|mutex|\w*mu)\b"
    r"|\b(lock|mu|mutex|\w*[mM]u)\b[^.]*\b(held|locked)\b"
    r"|\brequires?\b[^.]*\block\b"
    r"|\bassumes?\b[^.]*\block",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LockCall:
    """``mu.Lock()`` and its kin as a statement: which mutex, which method, deferred or not."""

    mutex: str  # the text of the locked expression: s.mu, s, mu
    method: str  # Lock, RLock, Unlock, RUnlock
    deferred: bool
    node: Node  # the statement


def lock_call(statement: Node) -> LockCall | None:
    """The lock operation a statement is (``mu.Lock()``, ``defer mu.Unlock()``), or None."""
    deferred = statement.type == "defer_statement"
    if statement.type not in ("expression_statement", "defer_statement") or not statement.named_children:
        return None
    call = statement.named_children[0]
    function = call.child_by_field_name("function") if call.type == "call_expression" else None
    if function is None or function.type != "selector_expression":
        return None
    method, mutex = function.child_by_field_name("field"), function.child_by_field_name("operand")
    if method is None or mutex is None or method.text is None or mutex.text is None:
        return None
    name = method.text.decode()
    if name not in LOCKS | UNLOCKS:
        return None
    return LockCall(mutex.text.decode(), name, deferred, statement)


def held(node: Node, stop: Node | None = None, every_literal: bool = False) -> dict[str, str]:
    """The mutexes held when ``node`` runs: mutex text -> ``Lock`` or ``RLock``.

    The blocks around ``node`` are read up to its function (or ``stop``),
    through func literals that run where they stand (see the module doc), or
    through every func literal up to ``stop`` when ``every_literal``.
    """
    last = _LAST_HELD
    if last and last[0] == node and last[1] == stop and last[2] == every_literal:
        return dict(last[3])  # asked again for the node just answered (a precheck, then the access itself)
    blocks: list[tuple[Node, Node]] = []  # innermost first
    child, ancestor = node, node.parent
    while ancestor is not None:
        kind = ancestor.type
        if kind == "statement_list":
            blocks.append((ancestor, child))
        if kind in _DECLARATIONS or (stop is not None and ancestor == stop):
            break
        if kind == "func_literal" and not every_literal and not _runs_in_place(ancestor):
            break
        child, ancestor = ancestor, ancestor.parent
    taken: dict[str, str] = {}
    for block, inner in reversed(blocks):
        for mutex, method in scopes.remembered(_STATES, block, _lock_states)[inner.start_byte].items():
            if method is None:
                taken.pop(mutex, None)
            else:
                taken[mutex] = method
    _LAST_HELD[:] = [node, stop, every_literal, dict(taken)]
    return taken


_STATES = scopes.memo()
_DECLARATIONS = frozenset({"function_declaration", "method_declaration"})
_LAST_HELD: list = []  # node, stop, every_literal, what held() answered for them


def _lock_states(block: Node) -> dict[int, dict[str, str | None]]:
    """Before each statement of a block (by start offset): what the block's earlier statements locked (a
    method) or unlocked (None). ``defer mu.Unlock()`` keeps the lock to the end."""
    states: dict[int, dict[str, str | None]] = {}
    effect: dict[str, str | None] = {}
    for statement in block.named_children:
        states[statement.start_byte] = dict(effect)
        call = lock_call(statement)
        if call is not None and not call.deferred:
            effect[call.mutex] = call.method if call.method in LOCKS else None
    return states


def _runs_in_place(literal: Node) -> bool:
    """A func literal that runs while the code around it holds its locks."""
    if concurrency.goroutine_start(literal) is not None:
        return False
    if concurrency.called_on_the_spot(literal):
        return True
    call = concurrency.callback_caller(literal)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None:
        return False  # stored: runs later, with whatever is held then
    name = function.child_by_field_name("field") if function.type == "selector_expression" else function
    return name is not None and name.text is not None and name.text.decode() not in _KEEPS_CALLBACK


def locks_in(function: Node) -> list[LockCall]:
    """Every lock operation written as a statement anywhere in ``function``."""
    found = []
    stack = [function]
    while stack:
        node = stack.pop()
        if node.type in ("expression_statement", "defer_statement"):
            call = lock_call(node)
            if call is not None:
                found.append(call)
                continue
        stack.extend(node.named_children)
    return found


# -- helpers that run with the lock held ----------------------------------------


def doc_comment(declaration: Node) -> str:
    """The comment lines directly above a declaration."""
    lines: list[str] = []
    node = declaration.prev_sibling
    row = declaration.start_point[0]
    while node is not None and node.type == "comment" and node.end_point[0] == row - 1:
        lines.insert(0, node.text.decode() if node.text else "")
        row = node.start_point[0]
        node = node.prev_sibling
    return "\n".join(lines)


def by_convention(declaration: Node) -> bool:
    """Whether a function says its caller holds the lock: ``...Locked`` or a doc comment."""
    name = declaration.child_by_field_name("name")
    text = name.text.decode() if name is not None and name.text else ""
    if text.endswith(("Locked", "locked", "LOCKED")):
        return True
    doc = doc_comment(declaration)
    return bool(doc) and _HELD_DOC.search(" ".join(doc.replace("//", " ").split())) is not None


# -- what locks guard ------------------------------------------------------------


def struct_fields(type_spec: Node | None) -> dict[str, Node]:
    """The fields of a struct type declaration, by name (embedded ones by their type name), with their types."""
    if type_spec is None:
        return {}
    body = type_spec.child_by_field_name("type")
    if body is None or body.type != "struct_type":
        return {}
    fields: dict[str, Node] = {}
    declarations = next((c for c in body.named_children if c.type == "field_declaration_list"), None)
    for declaration in declarations.named_children if declarations is not None else []:
        if declaration.type != "field_declaration":
            continue
        kind = declaration.child_by_field_name("type")
        if kind is None or kind.text is None:
            continue
        names = [n.text.decode() for n in declaration.children_by_field_name("name") if n.text]
        if not names:
            names = [kind.text.decode().lstrip("*").split(".")[-1].split("[")[0]]
        for name in names:
            fields[name] = kind
    return fields


def is_sync_type(kind: Node | None) -> bool:
    """A type that synchronises itself: ``sync.*``, ``atomic.*`` (pointers to them too), a channel."""
    if kind is None or kind.text is None:
        return False
    text = kind.text.decode().lstrip("*")
    return text.startswith(("sync.", "atomic.")) or kind.type == "channel_type"


def mutex_kind(kind: Node | None) -> str | None:
    """``Mutex`` or ``RWMutex`` for a ``sync.Mutex``/``sync.RWMutex`` type (or pointer), else None."""
    if kind is None or kind.text is None:
        return None
    text = kind.text.decode().lstrip("*")
    return text[5:] if text in ("sync.Mutex", "sync.RWMutex") else None


def package_mutexes(specs: dict[str, list[Node]]) -> dict[str, str]:
    """Package-level mutexes among ``var`` specs (name -> Mutex/RWMutex): ``var mu sync.Mutex``."""
    found: dict[str, str] = {}
    for name, nodes in specs.items():
        for spec in nodes:
            kind = mutex_kind(spec.child_by_field_name("type"))
            if kind is None:
                value = spec.child_by_field_name("value")
                literal = value.named_children[0] if value is not None and value.named_children else None
                if literal is not None and literal.type == "composite_literal":
                    kind = mutex_kind(literal.child_by_field_name("type"))
            if kind is not None:
                found[name] = kind
    return found


# -- accesses of guarded state across a package -----------------------------------


@dataclass(frozen=True)
class Access:
    """A use of a struct field through a method's receiver (``s.f``) or of a package variable."""

    key: tuple[str, str]  # (struct type, field) or ("", package variable)
    node: Node  # the selector expression or identifier
    function: Node  # the function or method declaration holding it
    receiver: str  # the receiver's name in that method ("" for a package variable)
    locks: tuple[tuple[str, str], ...]  # mutexes held (normalised: field name, "" for embedded), with Lock/RLock
    any_lock: bool  # some mutex is held, guarding or not
    write: bool
    goroutine: bool  # inside a goroutine started in the function


@dataclass(frozen=True)
class Call:
    """A call of a method through the receiver (``s.flush()``), or of a package function."""

    callee: tuple[str, str]  # (receiver type, method) or ("", function)
    caller: Node  # the declaration holding the call
    locked: bool  # a mutex is held at the call (or the caller runs with it held by convention)
    goroutine: bool  # the call starts a goroutine or is inside one


@dataclass
class FileAccesses:
    accesses: list[Access]
    calls: list[Call]
    started: set[str]  # functions and methods started with go or used as values (s.run, handler)


def normalised(mutex: str, receiver: str) -> str | None:
    """``s.mu`` -> ``mu``, ``s`` -> ``""`` (embedded), package mutex ``mu`` -> ``mu``; None for other locks."""
    if receiver and mutex == receiver:
        return ""
    if receiver and mutex.startswith(receiver + ".") and "." not in mutex[len(receiver) + 1 :]:
        return mutex[len(receiver) + 1 :]
    return None


def is_write(node: Node) -> bool:
    """Whether a use of ``s.f``/``v`` writes it or what it holds.

    ``s.f = x``, ``s.f[k]++``, ``&s.f``, ``delete(s.f, k)`` do; ``s.f.Close()`` does not.
    """
    current = node
    while current.parent is not None and current.parent.type in ("index_expression", "parenthesized_expression"):
        parent = current.parent
        if parent.type == "index_expression" and parent.child_by_field_name("operand") != current:
            break
        current = parent
    parent = current.parent
    if parent is None:
        return False
    if parent.type == "argument_list" and parent.parent is not None:
        function = parent.parent.child_by_field_name("function")
        first = parent.named_children[0] if parent.named_children else None
        if function is not None and function.text in (b"delete", b"clear") and first == current:
            return True
    return scopes.is_write(current)


# Uses a package analysis reads:  s.f   v   go s.run()   s.flush()   go f()
_USES = """
[(selector_expression operand: (identifier) @receiver field: (field_identifier) @field) @selector
 (call_expression function: [(identifier) @callee
                             (selector_expression operand: (identifier) @on field: (field_identifier) @callee)]) @call]
"""
_IDENTIFIERS = "(identifier) @ident"
_HANDED = """
(call_expression
  arguments: (argument_list [(identifier) @value (selector_expression field: (field_identifier) @value)])) @call
"""


def collect(
    root: Node,
    fields: dict[str, set[str]],
    variables: Container[str],
    mutexes: set[str],
) -> FileAccesses:
    """The accesses of one file to ``fields`` (struct type -> guarded field names) and package ``variables``.

    Fields count when reached through the receiver of a method of their type;
    variables when the identifier is not declared in the file below the package
    level. ``mutexes`` are the package-level mutexes (they guard variables).
    """
    found = FileAccesses([], [], set())
    for declaration, body in declarations(root):
        receiver, kind = receiver_of(declaration)
        guarded = fields.get(kind, set()) if receiver else set()
        conventional = by_convention(declaration)
        for match in uses(body, bool(variables)):
            if "selector" in match:
                access = field_access(match, declaration, receiver, kind, guarded)
                if access is not None:
                    found.accesses.append(access)
            elif "call" in match:
                call = call_of(match, declaration, receiver, kind, conventional)
                if call is not None:
                    found.calls.append(call)
                    parent = match["call"][0].parent
                    if parent is not None and parent.type == "go_statement":
                        found.started.add(call.callee[1])
            elif "ident" in match:
                access = variable_access(match["ident"][0], declaration, variables, mutexes)
                if access is not None:
                    found.accesses.append(access)
    found.started |= handed(root)
    return found


def declarations(root: Node) -> Iterator[tuple[Node, Node]]:
    """The function and method declarations of a file with a body, with that body."""
    for declaration in root.named_children:
        if declaration.type in ("function_declaration", "method_declaration"):
            body = declaration.child_by_field_name("body")
            if body is not None:
                yield declaration, body


def receiver_of(declaration: Node) -> tuple[str, str]:
    """The receiver's name and base type of a method declaration (``s``, ``Server``); empty for a function."""
    if declaration.type != "method_declaration":
        return "", ""
    params = declaration.child_by_field_name("receiver")
    param = params.named_children[0] if params is not None and params.named_children else None
    name = param.child_by_field_name("name") if param is not None else None
    type_node = param.child_by_field_name("type") if param is not None else None
    if name is None or not name.text or type_node is None:
        return "", ""
    from gofix_conc import index

    return name.text.decode(), index.receiver_base(type_node)[1]


def uses(body: Node, identifiers: bool) -> list[dict[str, list[Node]]]:
    """The matches :func:`field_access`, :func:`call_of` and (with ``identifiers``) :func:`variable_access` read."""
    from gofix_conc.source import matches

    return matches(_USES, body) + (matches(_IDENTIFIERS, body) if identifiers else [])


def field_access(
    match: dict[str, list[Node]], declaration: Node, receiver: str, kind: str, guarded: Container[str]
) -> Access | None:
    """A ``selector`` match of :func:`uses` as an access to a ``guarded`` field of the receiver, or None."""
    selector, field = match["selector"][0], match["field"][0]
    if not guarded or match["receiver"][0].text != receiver.encode():
        return None
    if field.text is None or field.text.decode() not in guarded:
        return None
    if not scopes.remembered(_UNSHADOWED, declaration, _receiver_unshadowed):
        decl = scopes.resolve(match["receiver"][0])
        if decl is None or decl.kind != "receiver":
            return None  # the name is shadowed here
    if _locks_through(selector):
        return None  # s.in.Lock(), s.db.mu.Lock(): the path to a mutex, not guarded data
    return _access(selector, (kind, field.text.decode()), declaration, receiver)


_UNSHADOWED = scopes.memo()


def _receiver_unshadowed(declaration: Node) -> bool:
    """Whether every use of a method's receiver name in its body names the receiver (what scopes.resolve says
    of it), shown without resolving: a declaration that could shadow it writes the name with no ``.`` after it
    (``r :=``, ``var r``, ``func(r T)``), so a signature and body where each ``r`` is followed by ``.`` has none."""
    receiver = declaration.child_by_field_name("receiver")
    name = receiver_of(declaration)[0]
    if receiver is None or not name or name == "_" or declaration.text is None:
        return False
    text, word, base = declaration.text, name.encode(), declaration.start_byte
    start = receiver.end_byte - base  # the receiver list declares it; a parameter after it may redeclare it
    return all(text[at + len(word) : at + len(word) + 1] == b"." for at in spelled(text, word, start))


def call_of(
    match: dict[str, list[Node]], declaration: Node, receiver: str, kind: str, conventional: bool
) -> Call | None:
    """A ``call`` match of :func:`uses` as a call of a package function or of a method through the receiver."""
    callee = match["callee"][0].text.decode()  # type: ignore[union-attr]
    on = match.get("on")
    if on and on[0].text != receiver.encode():
        return None
    call = match["call"][0]
    key = (kind, callee) if on else ("", callee)
    start = call.parent is not None and call.parent.type == "go_statement"
    inside = concurrency.goroutine_around(call, declaration) is not None
    locked = conventional or bool(held(call, declaration))
    return Call(key, declaration, locked, start or inside)


def variable_access(
    ident: Node, declaration: Node, variables: Container[str], mutexes: Container[str]
) -> Access | None:
    """An ``ident`` match of :func:`uses` as an access to a package variable, or None."""
    name = ident.text.decode() if ident.text else ""
    parent = ident.parent
    if parent is not None and parent.type == "selector_expression":
        return None
    if name not in variables or name in mutexes or name == "_":
        return None
    decl = scopes.resolve(ident)
    package_level = decl is None or (decl.kind == "var" and scopes.enclosing_function(decl.node) is None)
    if package_level and scopes.composite_key_kind(ident) not in ("field", "unknown"):
        return _access(ident, ("", name), declaration, "")
    return None


def handed(root: Node) -> set[str]:
    """Functions and method values handed to a call: ``http.HandleFunc("/", s.serve)``, ``time.AfterFunc(d, tick)``;
    not ``once.Do(s.init)``, which runs an initialiser once."""
    from gofix_conc.source import matches

    found = set()
    for match in matches(_HANDED, root):
        function = match["call"][0].child_by_field_name("function")
        if function is not None and function.type == "selector_expression" and (function.text or b"").endswith(b".Do"):
            continue
        found.add(match["value"][0].text.decode())  # type: ignore[union-attr]
    return found


def _locks_through(selector: Node) -> bool:
    """Whether an expression is the start of the operand of a lock call: ``s.in`` in ``s.in.Lock()``."""
    node = selector
    while node.parent is not None and node.parent.type == "selector_expression":
        node = node.parent
    field = node.child_by_field_name("field")
    call = node.parent
    return (
        field is not None
        and field.text in (b"Lock", b"Unlock", b"RLock", b"RUnlock", b"TryLock", b"TryRLock")
        and call is not None
        and call.type == "call_expression"
    )


def _access(node: Node, key: tuple[str, str], declaration: Node, receiver: str) -> Access:
    goroutine = concurrency.goroutine_around(node, declaration)
    taken = held(node, declaration)
    locks = []
    for mutex, method in taken.items():
        name = normalised(mutex, receiver) if receiver else (mutex if "." not in mutex else None)
        if name is not None:
            locks.append((name, method))
    return Access(key, node, declaration, receiver, tuple(locks), bool(taken), is_write(node), goroutine is not None)
