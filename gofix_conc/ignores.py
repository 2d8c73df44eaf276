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

DIRECTIVE = "gofix-conc:ignore"
SYNTAX = f"//{DIRECTIVE} <rule-id> [reason]"
_LINE = re.compile(r"//\s*gofix-conc:ignore(?P<rest>.*)", re.DOTALL)
_BLOCK = re.compile(r"/\*\s*gofix-conc:ignore\b")
_IDS = re.compile(r"\s+(?P<ids>[\w,-]+)")


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
