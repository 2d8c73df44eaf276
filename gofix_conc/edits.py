"""Applying fixes: overlap detection, all-or-nothing edits, line endings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from gofix_conc.model import Edit, Fix


def merge_insertions(edits: Iterable[Edit]) -> tuple[Edit, ...]:
    """One fix's edits sorted, insertions at the same point joined in order."""
    merged: list[Edit] = []
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if merged and merged[-1].start == merged[-1].end == edit.start == edit.end:
            merged[-1] = Edit(edit.start, edit.end, merged[-1].text + edit.text)
        elif merged and edit.start < merged[-1].end:
            raise ValueError(f"edits of one fix overlap: {merged[-1]} and {edit}")
        else:
            merged.append(edit)
    return tuple(merged)


def _conflict(a: Edit, b: Edit) -> bool:
    # Touching ranges count: two insertions at one point have no defined order.
    return a.start <= b.end and b.start <= a.end


def overlaps(a: Fix, b: Fix) -> bool:
    return any(_conflict(x, y) for x in a.edits for y in b.edits)


def compatible(fixes: Iterable[Fix]) -> list[Fix]:
    """The fixes, in order, that overlap none chosen before them."""
    chosen: list[Fix] = []
    for fix in fixes:
        if not any(overlaps(fix, other) for other in chosen):
            chosen.append(fix)
    return chosen


def apply(data: bytes, fixes: Iterable[Fix], crlf: bool = False) -> bytes:
    """Apply non-overlapping fixes; ``\\n`` in new text follows the file's endings."""
    edits = sorted((e for f in fixes for e in f.edits), key=lambda e: (e.start, e.end))
    for a, b in itertools.pairwise(edits):
        if b.start < a.end:
            raise ValueError(f"overlapping edits {a} and {b}")
    out, pos = [], 0
    for edit in edits:
        text = edit.text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if crlf else edit.text
        out += [data[pos : edit.start], text]
        pos = edit.end
    out.append(data[pos:])
    return b"".join(out)
