"""Plain data shared by the engine, the codemods and the reporters.

Offsets are bytes into the file's text (after a UTF-8 BOM, if any), half-open
``[start, end)``. Lines and columns are 1-based; columns count code points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gofix_conc.context import FileContext


class Safety(str, Enum):
    """Whether a fix keeps the program's meaning in every case."""

    SAFE = "safe"
    UNSAFE = "unsafe"


class FixKind(str, Enum):
    """What a rule offers, as listed by ``gofix-conc rules``."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    SOMETIMES_UNSAFE = "safe or unsafe"
    NONE = "detection only"


@dataclass(frozen=True)
class Edit:
    """Replace ``[start, end)`` with ``text``; an insertion has start == end."""

    start: int
    end: int
    text: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad edit range [{self.start}, {self.end})")


@dataclass(frozen=True)
class Fix:
    """A verb-phrase message and edits applied all together or not at all."""

    message: str
    edits: tuple[Edit, ...]
    safety: Safety = Safety.SAFE
    # A change to a declaration that other files of the package use is one fix
    # per file, all with the same ``group`` (unique in the package), each
    # knowing how many ``files`` the change spans. ``fix`` applies them all
    # or none: see ``engine`` (grouped fixes).
    group: str = ""
    files: int = 1

    def span(self) -> tuple[int, int]:
        return min(e.start for e in self.edits), max(e.end for e in self.edits)


@dataclass(frozen=True)
class Finding:
    rule: str
    path: Path
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fix: Fix | None = None
    ignore_reason: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something that kept a file, or part of it, from being analysed; shown in every output format.

    ``severity`` is ``error`` (the run exits 2: a syntax error, an unreadable
    file) or ``warning`` (valid Go the grammar cannot parse yet: the rest of
    the file is analysed and the exit code is unaffected).
    """

    path: Path
    message: str
    severity: str = "error"
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Rule:
    """A rule's metadata plus the one function that checks a file."""

    id: str
    summary: str
    doc: str
    check: Callable[[FileContext], Iterable[Finding]]
    fix_kind: FixKind
    default_enabled: bool = True
    min_go_version: tuple[int, int] = (1, 0)
    default_options: Mapping[str, Any] = field(default_factory=dict)
    # Per-option check of a configured value, run after its type matched the
    # default's: the problem as a message, or None. Without one, an int must be >= 1.
    option_checks: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    # The rule only runs on files holding one of these byte strings (none: every
    # file). A cheap filter before any query: most files start no goroutine.
    triggers: tuple[bytes, ...] = ()
