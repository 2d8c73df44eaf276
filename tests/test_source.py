"""Source: where the grammar gave up, and what still parsed around it."""

from __future__ import annotations

import pytest

from gofix_conc import gofmt
from gofix_conc.source import Source, SourceError

NEWER = b"""package p

func before() {}

func build() *int {
\treturn new(42)
}

type T struct{ a int }

func (t T) Get[U any](u U) U { return u }

func after() {}
"""


def test_broken_declarations_are_ranges_around_the_error() -> None:
    source = Source(NEWER)
    assert source.syntax_error() is not None
    broken = [NEWER[a:b].decode() for a, b in source.broken()]
    assert all("before" not in b and "after" not in b for b in broken)
    assert any("Get[U any]" in b for b in broken)


def test_first_error_is_not_line_one_when_the_root_gives_up() -> None:
    lines = [b"package p", b""] + [b"func f%d() {}" % i for i in range(30)] + [b"func g() { x := }", b""]
    source = Source(b"\n".join(lines))
    assert source.syntax_error() is not None
    assert not source.syntax_error().startswith("line 1,")  # type: ignore[union-attr]


def test_valid_file_has_no_broken_ranges() -> None:
    source = Source(b"package p\n\nfunc f() {}\n")
    assert source.broken() == []
    assert source.syntax_error() is None
    source.check()


def test_check_still_refuses_syntax_errors_and_bad_utf8() -> None:
    with pytest.raises(SourceError, match="syntax error"):
        Source(b"package p\nfunc f( {\n").check()
    with pytest.raises(SourceError, match="UTF-8"):
        Source(b"package p\n// \xff\n").check_encoding()


def test_gofmt_tells_newer_syntax_from_errors() -> None:
    assert gofmt.accepts(b"package p\n\nfunc f() *int { return new(42) }\n") is True
    assert gofmt.accepts(b"package p\nfunc f( {\n") is False
