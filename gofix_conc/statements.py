"""Statements in blocks: which loop runs a node on every iteration, the block
statement that holds a node, and whole-line insertions and deletions around
statements, laid out as gofmt would (labels sit one indent level out).
"""

from __future__ import annotations

import re

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit


def loop_running(node: Node) -> Node | None:
    """The innermost ``for`` whose body holds ``node``, in the same function.

    A loop's header runs once per entry into the loop, so ``for range
    time.Tick(d)`` is per iteration of the loop around it, not of itself.
    """
    child = node
    for parent in scopes.ancestors(node):
        if parent.type in scopes.FUNCTIONS:
            return None
        if parent.type == "for_statement" and child == parent.child_by_field_name("body"):
            return parent
        child = parent
    return None


def outermost_loop(loop: Node) -> Node:
    """The outermost loop of the function that runs ``loop`` (``loop`` itself if none)."""
    while (outer := loop_running(loop)) is not None:
        loop = outer
    return loop


def with_label(statement: Node) -> Node:
    """``L: for ...`` for the ``for`` of a labeled statement: what to insert before."""
    parent = statement.parent
    return parent if parent is not None and parent.type == "labeled_statement" else statement


def statement_holding(node: Node) -> Node | None:
    """The statement directly in a block that holds ``node`` (its label included), in the same function."""
    for current in [node, *scopes.ancestors(node)]:
        if current.type in scopes.FUNCTIONS:
            return None
        if current.parent is not None and current.parent.type == "statement_list":
            return current
    return None


def insert_before(ctx: FileContext, statement: Node, lines: list[str]) -> Edit | None:
    """Lines above a statement, indented like it; None when it does not start its line."""
    inner = statement.named_children[-1] if statement.type == "labeled_statement" else statement
    if not (ctx.source.starts_line(statement.start_byte) and ctx.source.starts_line(inner.start_byte)):
        return None
    return ctx.lines_before(statement, lines, ctx.indent(inner))


def alone_on_its_lines(ctx: FileContext, statement: Node, line_comment: bool = False) -> bool:
    """Nothing else (a trailing comment included, unless ``line_comment`` lets one follow) shares the
    statement's lines."""
    data = ctx.source.data
    end = data.find(b"\n", statement.end_byte)
    rest = data[statement.end_byte : end].strip() if end >= 0 else b"x"
    return ctx.source.starts_line(statement.start_byte) and (not rest or (line_comment and rest.startswith(b"//")))


def next_statement(statement: Node) -> Node | None:
    """The statement after ``statement`` in its block, comments passed over."""
    following = statement.next_named_sibling
    while following is not None and following.type == "comment":
        following = following.next_named_sibling
    return following


def delete_lines(ctx: FileContext, statement: Node) -> Edit:
    """Remove a statement alone on its lines; between two blank lines, one of them too (gofmt keeps one)."""
    data = ctx.source.data
    start = ctx.source.line_start(statement.start_byte)
    end = data.index(b"\n", statement.end_byte) + 1
    before = data[ctx.source.line_start(max(start - 1, 0)) : start]
    after_end = data.find(b"\n", end)
    if start > 0 and not before.strip() and after_end >= 0 and not data[end:after_end].strip():
        end = after_end + 1
    return Edit(start, end, b"")


def on_error_path(node: Node, stop: Node) -> bool:
    """Whether ``node`` runs in the body of an ``if err != nil`` (any ``err…`` name) below ``stop``, its function."""
    child = node
    for ancestor in scopes.ancestors(node):
        if ancestor == stop:
            return False
        if ancestor.type == "if_statement" and child == ancestor.child_by_field_name("consequence"):
            condition = ancestor.child_by_field_name("condition")
            if (
                condition is not None
                and condition.text is not None
                and re.search(rb"\berr\w*\s*!=\s*nil", condition.text)
            ):
                return True
        child = ancestor
    return False
