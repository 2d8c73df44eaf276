"""What is wrong with an ignore comment, ``//gofix-conc:ignore <rule-id>[,<rule-id>...] [reason]``.

The grammar is the engine's: ``//``, optional spaces, the directive, spaces,
then ids made of word characters, ``-`` and ``,``; the rest is the reason.
``all`` silences every rule. A comment the engine would skip or that names
no rule it knows silences nothing, silently: this module says why.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gofix_conc.source import Source, captures

DIRECTIVE = "gofix-conc:ignore"
SYNTAX = f"//{DIRECTIVE} <rule-id> [reason]"
_LINE = re.compile(r"//\s*gofix-conc:ignore(?P<rest>.*)", re.DOTALL)
_BLOCK = re.compile(r"/\*\s*gofix-conc:ignore\b")
_IDS = re.compile(r"\s+(?P<ids>[\w,-]+)")
_IGNORE = re.compile(r"//\s*gofix-conc:ignore\s+([\w,-]+)\s*(.*)")


@dataclass
class Ignore:
    """One ignore comment: it silences ``rules`` on its line and the next."""

    line: int
    rules: frozenset[str]
    reason: str
    node_start: int
    node_end: int
    used: bool = False


def by_line(source: Source) -> dict[int, list[Ignore]]:
    """The file's ignore comments by line."""
    found: dict[int, list[Ignore]] = {}
    if DIRECTIVE.encode() not in source.data:
        return found
    for comment in captures("(comment) @c", source.root).get("c", []):
        match = _IGNORE.match(source.text(comment))
        if match:
            line = comment.start_point.row + 1
            entry = Ignore(line, frozenset(match[1].split(",")), match[2].strip(), comment.start_byte, comment.end_byte)
            found.setdefault(line, []).append(entry)
    return found


def silences(source: Source, line: int, rule: str) -> bool:
    """Whether an ignore comment silences ``rule``'s finding on ``line`` (1-based), as the engine reads them."""
    comments = by_line(source)
    return any(rule in ig.rules or "all" in ig.rules for n in (line, line - 1) for ig in comments.get(n, []))


def check_ignore_comment(text: str, known_ids: Iterable[str]) -> str | None:
    """The problem with comment ``text`` (as written, with its ``//``), or None.

    None also for a comment that is not an ignore comment at all.
    """
    if _BLOCK.match(text):
        return f"an ignore comment must be a // line comment: {SYNTAX}"
    line = _LINE.match(text)
    if line is None:
        return None
    rest = line["rest"]
    if rest and not rest[0].isspace():
        return f"malformed ignore comment; expected {SYNTAX}"
    named = _IDS.match(rest)
    ids = [i for i in named["ids"].split(",") if i] if named else []
    if not ids:
        return f"ignore comment names no rule; expected {SYNTAX} (or 'all')"
    known = set(known_ids)
    unknown = [i for i in dict.fromkeys(ids) if i != "all" and i not in known]
    if not unknown:
        return None
    if len(unknown) == 1:
        close = _closest(unknown[0], known)
        hint = f"did you mean {close!r}?" if close else f"the rule id comes first: {SYNTAX}"
        return f"unknown rule {unknown[0]!r} in ignore comment; {hint}"
    hints = [f"{i!r}: did you mean {c!r}?" for i in unknown if (c := _closest(i, known))]
    names = ", ".join(repr(i) for i in unknown)
    return f"unknown rules {names} in ignore comment" + (f" ({'; '.join(hints)})" if hints else "")


def _closest(rule_id: str, known: set[str]) -> str | None:
    close = difflib.get_close_matches(rule_id, sorted(known), n=1)
    return close[0] if close else None
