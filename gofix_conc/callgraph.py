"""Which functions of a package call which, read from the source: enough to tell recursion.

The nodes are the package's functions (``walk``) and methods (``Tree.walk``),
across all its files; declarations of the same name in build-constrained
variants are one node. An edge is a call the source names:

- ``f(...)`` where ``f`` is a function of the package (not a local variable
  or parameter that shadows it);
- ``x.m(...)`` where ``x`` is a method's receiver, or a variable, parameter
  or field whose declared type is a type of the package (``T`` or ``*T``)
  that declares ``m``.

Calls in a func literal count for the function that holds it (the literal
runs on the same stack), except in a literal started with ``go`` and the call
of a ``go`` statement itself (a new goroutine has a stack of its own). Calls
through func values and interfaces are no edges: where they lead is unknown.

Before anything is parsed, the text alone tells a superset: whether a name
is called more often than it is declared (``may_be_called``,
``called_by_name``), and whether some chain of calls by name leads back to
it (``may_recurse``), so that most functions are passed over without a graph.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import concurrency, index, scopes
from gofix_conc.context import FileContext
from gofix_conc.index import PackageView
from gofix_conc.source import captures, is_generated, spelled
from gofix_conc.types import Type, Types

# Calls:  f(x)   r.m(x)   s.child.walk(x)
CALLS = "(call_expression function: [(identifier) (selector_expression)] @callee) @call"


class Graph:
    """Callees by caller, as keys (``f``, ``T.m``); a function's calls are read when a search first reaches it."""

    def __init__(self, view: PackageView, files: list[index.FileFacts]) -> None:
        self.view = view
        self.functions = {name for f in files for name in f.functions}
        self.methods = {f"{receiver}.{m.name}" for f in files for receiver, ms in f.methods.items() for m in ms}
        self.method_names = {key.rsplit(".", 1)[1] for key in self.methods}
        self.declarations: dict[str, list[tuple[Node, index.FileFacts]]] = {}
        for facts in files:
            nodes = [n for ns in facts.functions.values() for n in ns]
            nodes += [m.node for ms in facts.methods.values() for m in ms]
            for node in nodes:
                key = key_of(node)
                if key is not None:
                    self.declarations.setdefault(key, []).append((node, facts))
        self._edges: dict[str, dict[str, Node]] = {}
        self._types: dict[int, tuple[Types, set[str]]] = {}

    def callees(self, key: str) -> dict[str, Node]:
        """The package functions ``key`` calls on its own stack, each with one call site."""
        found = self._edges.get(key)
        if found is None:
            found = self._edges[key] = {}
            for declaration, facts in self.declarations.get(key, []):
                body = declaration.child_by_field_name("body")
                if body is None:
                    continue
                types, imported = self._file(facts)
                for call, callee in _calls(body):
                    target = self._target(types, imported, callee)
                    if target is not None:
                        found.setdefault(target, call)
        return found

    def cycle(self, key: str) -> list[str] | None:
        """The shortest chain of calls from ``key`` back to itself (``[f, g, f]``), or None."""
        parents: dict[str, str] = {}
        queue = deque([key])
        while queue:
            caller = queue.popleft()
            for callee in self.callees(caller):
                if callee == key:
                    chain = [caller]
                    while chain[-1] != key:
                        chain.append(parents[chain[-1]])
                    return [*reversed(chain), key]
                if callee not in parents:
                    parents[callee] = caller
                    queue.append(callee)
        return None

    def _file(self, facts: index.FileFacts) -> tuple[Types, set[str]]:
        kept = self._types.get(id(facts))
        if kept is None:
            kept = self._types[id(facts)] = (Types(facts.source.root, self.view), {i.local_name for i in facts.imports})
        return kept

    def _target(self, types: Types, imported: set[str], callee: Node) -> str | None:
        if callee.type == "identifier":
            name = callee.text.decode() if callee.text else ""
            if name not in self.functions:
                return None
            decl = scopes.resolve(callee)
            return name if decl is None or decl.kind == "func" else None  # not a local func value
        operand = callee.child_by_field_name("operand")
        field = callee.child_by_field_name("field")
        method = field.text.decode() if field is not None and field.text else ""
        if operand is None or method not in self.method_names:
            return None  # no type of the package has a method of that name
        qualifier = operand.text.decode() if operand.type == "identifier" and operand.text is not None else ""
        if qualifier in imported and scopes.resolve(operand) is None:
            return None  # pkg.F(...): another package
        receiver = _named(_type_of(types, operand))
        key = f"{receiver}.{method}"
        return key if receiver is not None and key in self.methods else None


def key_of(declaration: Node) -> str | None:
    """``f`` for a function declaration, ``T.m`` for a method (pointer or not), None otherwise."""
    name = declaration.child_by_field_name("name")
    if name is None or name.text is None:
        return None
    if declaration.type == "function_declaration":
        return name.text.decode()
    if declaration.type != "method_declaration":
        return None
    receiver = declaration.child_by_field_name("receiver")
    params = [p for p in receiver.named_children if p.type == "parameter_declaration"] if receiver else []
    kind = params[0].child_by_field_name("type") if params else None
    base = index.receiver_base(kind)[1] if kind is not None else ""
    return f"{base}.{name.text.decode()}" if base else None


_GRAPHS: OrderedDict[tuple, Graph] = index.package_cache(OrderedDict())  # type: ignore[type-arg]


def graph(view: PackageView) -> Graph:
    """The call graph of the package ``view`` belongs to (kept for the last few packages, by content).

    Generated files are left out: recursion through generated code is rare,
    and parsing it (the compiler's rewrite rules are 8 MB) would dominate.
    """
    files = list(view.files(generated=False))
    key = tuple(sorted((str(f.path), hash(f.source.data)) for f in files))
    found = _GRAPHS.get(key)
    if found is None:
        found = _GRAPHS[key] = Graph(view, files)
        while len(_GRAPHS) > 4:
            _GRAPHS.popitem(last=False)
    else:
        _GRAPHS.move_to_end(key)
    return found


def _calls(body: Node) -> list[tuple[Node, Node]]:
    matched = captures(CALLS, body)
    pairs = zip(matched.get("call", []), matched.get("callee", []), strict=False)
    return [(call, callee) for call, callee in pairs if _same_stack(call, body)]


def _same_stack(call: Node, body: Node) -> bool:
    """The call runs on the stack of ``body``'s function: not in a goroutine started inside it."""
    if call.parent is not None and call.parent.type == "go_statement":
        return False
    for ancestor in scopes.ancestors(call):
        if ancestor == body:
            return True
        if ancestor.type == "func_literal" and concurrency.goroutine_start(ancestor) is not None:
            return False
    return True


def _type_of(types: Types, expr: Node, depth: int = 0) -> Type | None:
    """The type of a receiver, a variable or a field chain on them (``n``, ``n.left``, ``w.tree.root``)."""
    if expr.type == "identifier":
        decl = scopes.resolve(expr)
        if decl is not None and decl.kind == "receiver":
            return types.of_declaration(decl)
    elif expr.type == "selector_expression" and depth < 8:
        operand = expr.child_by_field_name("operand")
        field = expr.child_by_field_name("field")
        outer = _type_of(types, operand, depth + 1) if operand is not None else None
        fields = types.fields(outer) if outer is not None else None
        return fields.get(field.text.decode()) if fields is not None and field is not None and field.text else None
    return types.of_expression(expr)


def _named(t: Type | None) -> str | None:
    """``T`` for a value of type ``T`` or ``*T`` declared by name; None for anything else."""
    if t is None or t.pointers > 1:
        return None
    node = t.node
    while node.type in ("parenthesized_type", "pointer_type") and node.named_children:
        node = node.named_children[0]
    if node.type == "generic_type":
        node = node.child_by_field_name("type") or node
    return node.text.decode() if node.type == "type_identifier" and node.text else None


# -- calls as the text tells them, before anything is parsed -------------------------------


@dataclass
class _PackageText:
    """The Go files of a package as on disk (with its tests for a test file; generated ones too), as indexed."""

    texts: dict[str, bytes]  # by file name
    callers: dict[bytes, list[str]] = field(default_factory=dict)  # name -> the first two files that may call it
    regions: dict[bytes, list[tuple[str, bytes, int, int]]] | None = None  # _regions of the hand-written files


def _package_text(ctx: FileContext) -> _PackageText:
    """The files of the package (every file the call graph and called_by_name may read: a superset)."""
    view = ctx.package
    package = index.package(view.path.parent, view.name, view.is_test)  # read once per directory by the index
    return package.remembered("callgraph.texts", _texts)


def _texts(package: index.Package) -> _PackageText:
    return _PackageText({member.path.name: member.raw for member in package.members})


def called_by_name(ctx: FileContext, key: str) -> bool:
    """The function's name followed by ``(`` appears in the package's text other than where it is declared."""
    name = key.rsplit(".", 1)[-1].encode()
    view = ctx.package
    members = index.package(view.path.parent, view.name, view.is_test).members
    texts = [ctx.source.data, *(m.raw for m in members if m.path != view.path)]
    return sum(_net_calls(t, name) for t in texts) > 0


def may_be_called(ctx: FileContext, name: str) -> bool:
    """This file's text, or another of the directory, calls ``name`` more often than it declares it (see
    called_by_name: for the package's count to be positive, one file's must be)."""
    word = name.encode()
    if _calls_more(ctx.source.data, word):
        return True
    here = _package_text(ctx)
    callers = here.callers.get(word)
    if callers is None:
        found = (n for n, t in here.texts.items() if _calls_more(t, word))
        callers = here.callers[word] = list(itertools.islice(found, 2))  # one of two is another file
    return any(n != ctx.path.name for n in callers)


# After a name: its call, with type arguments or not: `(`, `[T](`.
_CALL_AFTER = re.compile(rb"(?:\[[^\]\n]*\])?\(")
# Before a declared name: `func `, `func (r *T) `.
_FUNC_BEFORE = re.compile(rb"func[ \t]+(?:\([^)]*\)[ \t]*)?")
_BOUNDARY = re.compile(rb"\b")


def _net_calls(text: bytes, name: bytes) -> int:
    """How many more times ``text`` calls ``name`` than it declares it (see _text_calls and _text_declarations)."""
    return _text_calls(text, name) - _text_declarations(text, name) if name in text else 0


def _calls_more(text: bytes, name: bytes) -> bool:
    """``_net_calls(text, name) > 0``, counting the declarations only while they may reach the calls."""
    calls = _text_calls(text, name) if name in text else 0
    return calls > 0 and _text_declarations(text, name, calls) < calls


def _text_calls(text: bytes, name: bytes) -> int:
    """The calls of ``name`` in ``text`` (``name(``, ``x.name(``, ``name[T](``, not after a letter, digit or ``_``),
    counted as a regex pass counts matches (no overlaps), found by word search: a pattern per name costs its
    compilation."""
    calls, end = 0, 0
    for at in spelled(text, name):
        if at >= end and (call := _CALL_AFTER.match(text, at + len(name))) is not None:
            calls, end = calls + 1, call.end()
    return calls


def _text_declarations(text: bytes, name: bytes, limit: int | None = None) -> int:
    """The declarations of ``name`` in ``text`` (``func name``, ``func (r T) name``), counted as a regex pass counts
    matches (no overlaps), up to ``limit``."""
    found, at = 0, text.find(b"func")
    while at >= 0 and (limit is None or found < limit):
        before = _FUNC_BEFORE.match(text, at)
        start = before.end() if before is not None else -1
        if start > 0 and text.startswith(name, start) and _BOUNDARY.match(text, start + len(name)) is not None:
            found, at = found + 1, text.find(b"func", start + len(name))
        else:
            at = text.find(b"func", at + 1)
    return found


# -- recursion as the text tells it ------------------------------------------------------

# A function's or method's declaration as gofmt writes it, at the start of a line: `func (r *T) name`.
_FUNCTION = re.compile(rb"\nfunc[ \t]*(?:\((?:[^()\n]|\([^()\n]*\))*\)[ \t]*)?([A-Za-z_]\w*)")
# A call by name: `name(`, `x.name(`, `name[T](` (and keywords before a parenthesis: no function has their names).
_NAMED_CALL = re.compile(rb"\b([A-Za-z_]\w*)[ \t]*(?:\[[^\]\n]*\][ \t]*)?\(")


def _regions(text: bytes) -> dict[bytes, list[tuple[bytes, int, int]]]:
    """The text of each function and method declaration, by name: from after its name to the next `func`."""
    starts = [(m.start(), m.end(), m.group(1)) for m in _FUNCTION.finditer(text)]
    found: dict[bytes, list[tuple[bytes, int, int]]] = {}
    for i, (_, start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        found.setdefault(name, []).append((text, start, end))
    return found


def may_recurse(ctx: FileContext, name: str) -> bool:
    """Some chain of calls by name (``f(``, ``x.f(``) from the functions and methods named ``name`` leads back to
    one of them, across the directory's hand-written files: a superset of the call graph's edges, which go from
    a declaration's body to a function or method of the package called by its name."""
    here = _package_text(ctx)
    if here.regions is None:
        here.regions = {}
        for file, text in here.texts.items():
            if not is_generated(text):  # the call graph leaves them out too
                for key, found in _regions(text).items():
                    here.regions.setdefault(key, []).extend((file, *r) for r in found)
    own = _regions(ctx.source.data)
    target = name.encode()
    seen: set[bytes] = set()
    todo = [target]
    while todo:
        current = todo.pop()
        mine = [r for r in here.regions.get(current, []) if r[0] != ctx.path.name]
        for text, start, end in [*own.get(current, []), *(r[1:] for r in mine)]:
            for called in _NAMED_CALL.findall(text, start, end):
                if called == target:
                    return True
                if called not in seen:
                    seen.add(called)
                    todo.append(called)
    return False
