"""Where a function can go from a statement: the exits it reaches before a call that releases something.

A walk over the statement tree (no control-flow graph), for rules that pair an
acquire with a release on every way out of a function (``LockOSThread`` and
``UnlockOSThread``). From a statement, every path is followed until it reaches:

- a call the caller names as a release (direct or nested in the statement,
  not inside a func literal; a ``defer`` of one counts from where it stands):
  the path is covered;
- a ``return``: an exit reached unreleased;
- the end of the function body: an exit too (for functions without results);
- a call that does not come back (``panic``, ``os.Exit``, ``log.Fatal``,
  ``runtime.Goexit``, ``t.Fatal``): the path ends, no exit.

Loops run their body zero or more times (a ``for`` without a condition only
ends through ``break``); ``switch`` and ``select`` cases are alternatives.
``goto``, labelled ``break``/``continue``, ``fallthrough``, a release inside an
``if`` header and a release guarded by an ``if`` of its own (``if ok {
release() }``: the condition decides, on purpose) make the answer
``unknown``: a rule should then stay silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.source import captures

# Calls that end the path without returning to the caller (the goroutine dies or the program stops).
_ENDS = frozenset(
    {"panic", "os.Exit", "log.Fatal", "log.Fatalf", "log.Fatalln", "log.Panic", "log.Panicf", "log.Panicln"}
    | {"runtime.Goexit"}
)
_TEST_ENDS = frozenset({"Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow"})


@dataclass
class Exits:
    """The exits reached unreleased from a statement, and the releasing calls met on the way."""

    leaks: list[Node]  # return statements, or the body's closing "}" for the end of the function
    released_by: list[Node]  # the releasing calls the paths went through
    unknown: bool  # flow the walk does not follow: trust no answer


def unreleased_exits(statement: Node, function: Node, releases: Callable[[Node], bool]) -> Exits:
    """The exits of ``function`` that paths from just after ``statement`` reach with no ``releases`` call."""
    walk = _Walk(releases)
    leaks = walk.from_statement(statement, function)
    return Exits(leaks, walk.released_by, walk.unknown)


def own_calls(node: Node) -> list[Node]:
    """The calls under ``node`` that run as part of it: not those inside a func literal."""
    calls = captures("(call_expression) @c", node).get("c", [])
    return [c for c in calls if not any(a.type == "func_literal" for a in _between(c, node))]


def _between(node: Node, stop: Node) -> Iterator[Node]:
    for ancestor in scopes.ancestors(node):
        if ancestor == stop:
            return
        yield ancestor


def ends_path(call: Node) -> bool:
    """``panic(...)``, ``os.Exit(1)``, ``t.Fatal(...)``: the path does not return to the caller."""
    if call.type != "call_expression":
        return False
    function = call.child_by_field_name("function")
    if function is None or function.text is None:
        return False
    if function.text.decode() in _ENDS:
        return True
    name = function.child_by_field_name("field") if function.type == "selector_expression" else None
    return name is not None and name.text is not None and name.text.decode() in _TEST_ENDS


@dataclass
class _Outcome:
    """How the statements run so far can end while still unreleased."""

    falls: bool = False  # past the last statement
    breaks: bool = False  # by an unlabelled break
    continues: bool = False  # by an unlabelled continue
    leaks: list[Node] = field(default_factory=list)  # by these returns

    def merge(self, other: _Outcome) -> None:
        self.falls |= other.falls
        self.breaks |= other.breaks
        self.continues |= other.continues
        self.leaks += other.leaks

    @property
    def going(self) -> bool:
        return self.falls or self.breaks or self.continues


_SWITCHES = frozenset({"expression_switch_statement", "type_switch_statement", "select_statement"})
_CASES = frozenset({"expression_case", "type_case", "default_case", "communication_case"})


class _Walk:
    """The paths from a statement to the function's exits, following only "unreleased" (see the module doc)."""

    def __init__(self, releases: Callable[[Node], bool]) -> None:
        self.releases = releases
        self.unknown = False
        self.released_by: list[Node] = []

    def from_statement(self, start: Node, function: Node) -> list[Node]:
        """The exits reached unreleased: return statements, or the body's closing ``}``."""
        body = function.child_by_field_name("body")
        leaks: list[Node] = []
        node, state = start, _Outcome(falls=True)
        while node != body and node.parent is not None and state.going and not self.unknown:
            parent = node.parent
            if parent.type == "statement_list":
                if state.falls:
                    items = [c for c in parent.named_children if c.type != "comment"]
                    out = self.run(items[items.index(node) + 1 :] if node in items else [])
                    leaks += out.leaks
                    state = _Outcome(out.falls, state.breaks | out.breaks, state.continues | out.continues)
                node = parent.parent  # type: ignore[assignment]
                continue
            if parent.type == "for_statement":
                again = self.run(_statements(node)) if state.falls or state.continues else _Outcome()
                leaks += again.leaks
                looping = state.falls or state.continues or again.falls or again.continues
                state = _Outcome(falls=state.breaks or again.breaks or (looping and _has_exit_condition(parent)))
            elif parent.type in _SWITCHES:
                state = _Outcome(falls=state.falls or state.breaks, continues=state.continues)
            elif parent.type in scopes.FUNCTIONS:
                break
            node = parent
        if self.unknown:
            return []
        if state.falls and node == body and function.child_by_field_name("result") is None:
            leaks.append(body.children[-1])  # the closing brace: the end of the function
        return leaks

    def run(self, items: list[Node]) -> _Outcome:
        """Run statements in order, unreleased."""
        result = _Outcome()
        for statement in items:
            out = self.step(statement)
            result.breaks |= out.breaks
            result.continues |= out.continues
            result.leaks += out.leaks
            if not out.falls or self.unknown:
                return result
        result.falls = True
        return result

    def step(self, statement: Node) -> _Outcome:
        kind = statement.type
        if kind == "return_statement":
            return _Outcome(leaks=[statement])
        if kind == "block":
            return self.run(_statements(statement))
        if kind == "labeled_statement":
            inner = statement.named_children[-1]
            return self.step(inner) if inner.type != "label_name" else _Outcome(falls=True)
        if kind == "if_statement":
            return self._if(statement)
        if kind in _SWITCHES:
            return self._switch(statement)
        if kind == "for_statement":
            return self._for(statement)
        if kind in ("goto_statement", "fallthrough_statement"):
            self.unknown = True
            return _Outcome()
        if kind in ("break_statement", "continue_statement"):
            if statement.named_children:
                self.unknown = True  # labelled: the rule does not follow it
                return _Outcome()
            return _Outcome(breaks=kind == "break_statement", continues=kind == "continue_statement")
        calls = own_calls(statement)
        if kind == "go_statement":
            return _Outcome(falls=True)
        for call in calls:
            if self.releases(call):
                self.released_by.append(call)
                return _Outcome()  # released from here on (by a deferred release too)
        if kind == "expression_statement" and ends_path(statement.named_children[0]):
            return _Outcome()
        return _Outcome(falls=True)

    def _if(self, statement: Node) -> _Outcome:
        for part in (statement.child_by_field_name("initializer"), statement.child_by_field_name("condition")):
            if part is not None and any(self.releases(c) for c in own_calls(part)):
                self.unknown = True  # a release in a condition: which paths it covers is beyond this walk
                return _Outcome()
        consequence = statement.child_by_field_name("consequence")
        alternative = statement.child_by_field_name("alternative")
        inside = _statements(consequence)
        if alternative is None and inside and all(self._release_statement(s) for s in inside):
            self.unknown = True  # `if ok { release() }`: the condition decides, on purpose
            return _Outcome()
        result = self.step(consequence) if consequence is not None else _Outcome(falls=True)
        if alternative is None:
            result.falls = True
        else:
            result.merge(self.step(alternative))
        return result

    def _release_statement(self, statement: Node) -> bool:
        call = statement.named_children[0] if statement.type == "expression_statement" else None
        return call is not None and call.type == "call_expression" and self.releases(call)

    def _switch(self, statement: Node) -> _Outcome:
        cases = [c for c in statement.named_children if c.type in _CASES]
        result = _Outcome()
        if statement.type != "select_statement":
            result.falls = not any(c.type == "default_case" for c in cases)
        for case in cases:
            out = self.run(_statements(case))
            result.falls |= out.falls or out.breaks
            result.continues |= out.continues
            result.leaks += out.leaks
        return result

    def _for(self, statement: Node) -> _Outcome:
        out = self.run(_statements(statement.child_by_field_name("body")))
        return _Outcome(falls=out.breaks or _has_exit_condition(statement), leaks=out.leaks)


def _has_exit_condition(loop: Node) -> bool:
    """A loop that can end without a break: a range, a condition (``for x {}``, ``for ; x; {}``)."""
    for child in loop.named_children:
        if child == loop.child_by_field_name("body") or child.type == "comment":
            continue
        if child.type == "for_clause":
            return child.child_by_field_name("condition") is not None
        return True
    return False


def _statements(block: Node | None) -> list[Node]:
    """The statements of a block or case clause, in order, comments left out."""
    if block is None:
        return []
    holder = next((c for c in block.named_children if c.type == "statement_list"), None)
    return [c for c in holder.named_children if c.type != "comment"] if holder is not None else []
