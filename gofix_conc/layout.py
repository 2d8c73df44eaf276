"""Keeping gofmt's layout around edits: trailing comments aligned in columns.

gofmt aligns the trailing comments of consecutive lines of one section:

    a++             // one          a.Add(1)        // one
    bbbbbbbb.Add(1) // two    ⇒     bbbbbbbb.Add(1) // two

An edit that changes the code before such a comment must move the comments
of its whole block. The block is read off the original layout (gofmt-clean
input): the neighbouring lines of the same indentation whose comments start
in the same column. gofmt puts them one space after the widest code.
"""

from __future__ import annotations

from collections.abc import Iterable

from tree_sitter import Node

from gofix_conc.model import Edit
from gofix_conc.source import Source, captures


def _trailing_comments(source: Source) -> dict[int, Node]:
    """Line comments that follow code on their line, by row."""
    found: dict[int, Node] = {}
    for comment in captures("(comment) @c", source.root).get("c", []):
        if comment.start_point.row == comment.end_point.row and not source.starts_line(comment.start_byte):
            found[comment.start_point.row] = comment
    return found


def _cells(source: Source, comment: Node) -> tuple[str, int, int] | None:
    """(indentation, code start, code end) of a trailing comment's line; None when not laid out by gofmt."""
    start = source.line_start(comment.start_byte)
    line = source.data[start : comment.start_byte]
    code = line.lstrip(b"\t")
    indent = line[: len(line) - len(code)]
    gap = len(code) - len(code.rstrip(b" "))
    if not code.strip() or b"\t" in code or gap < 1:
        return None
    return indent.decode(), start + len(indent), comment.start_byte - gap


def _width(text: bytes) -> int:
    return len(text.decode(errors="replace"))


def realign_comments(source: Source, edits: Iterable[Edit]) -> list[Edit] | None:
    """Padding edits that keep trailing comments aligned after ``edits``; None when it cannot be done.

    It cannot when an edit on such a line adds or removes line breaks: the
    block would split or merge in ways the original layout does not tell.
    """
    edits = list(edits)
    trailing = _trailing_comments(source)
    rows = sorted({r for e in edits for r in _rows(source, e) if r in trailing})
    padding: dict[int, Edit] = {}
    for row in rows:
        if row in padding:
            continue
        block = _block(source, trailing, row)
        if block is None:
            continue  # not gofmt's layout: leave it
        widths: dict[int, int] = {}
        for member, (code_start, code_end) in block.items():
            text = source.data[code_start:code_end]
            for edit in sorted(edits, key=lambda e: e.start, reverse=True):
                if code_start <= edit.start and edit.end <= code_end:
                    text = text[: edit.start - code_start] + edit.text + text[edit.end - code_start :]
                elif edit.start < code_end + 1 and edit.end > code_start and edit.start != edit.end:
                    return None  # an edit reaching past the code of an aligned line
            if b"\n" in text:
                return None
            widths[member] = _width(text)
        column = max(widths.values()) + 1
        for member, (_, code_end) in block.items():
            comment = trailing[member]
            spaces = b" " * (column - widths[member])
            padding[member] = Edit(code_end, comment.start_byte, spaces)
    return [e for e in padding.values() if source.data[e.start : e.end] != e.text]


def _rows(source: Source, edit: Edit) -> range:
    first = source.position(edit.start)[0] - 1
    last = source.position(edit.end)[0] - 1
    return range(first, last + 1)


def _block(source: Source, trailing: dict[int, Node], row: int) -> dict[int, tuple[int, int]] | None:
    """The rows aligned with ``row``'s comment, with their code ranges."""
    cells = _cells(source, trailing[row])
    if cells is None:
        return None
    indent, code_start, code_end = cells
    column = _width(source.data[code_start : trailing[row].start_byte])
    block = {row: (code_start, code_end)}
    for step in (-1, 1):
        other = row + step
        while other in trailing:
            found = _cells(source, trailing[other])
            if found is None or found[0] != indent:
                break
            if _width(source.data[found[1] : trailing[other].start_byte]) != column:
                break
            block[other] = (found[1], found[2])
            other += step
    widths = [_width(source.data[start:end]) for start, end in block.values()]
    if max(widths) + 1 != column:
        return None  # the comments are not where gofmt would put them
    return block
