"""Build constraints decide which files of a directory a file's package index sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from gofix_conc import buildtags, index
from gofix_conc.source import Source


@pytest.mark.parametrize(
    ("name", "header", "terms"),
    [
        ("fd_unix.go", b"//go:build unix\n", ("unix",)),
        ("fd_windows.go", b"", ("windows",)),
        ("sys_linux_amd64_test.go", b"", ("linux", "amd64")),
        ("linux.go", b"", ()),  # a whole name is no constraint
        ("a_b.go", b"// Copyright\n\n//go:build go1.21 && (linux || darwin)\n", ("go1.21 && (linux || darwin)",)),
        ("x_arm64.go", b"// +build ignore\n", ("arm64",)),  # the legacy form is not read
    ],
)
def test_constraint_of_a_file(name: str, header: bytes, terms: tuple[str, ...]) -> None:
    assert buildtags.of_file(name, header + b"\npackage p\n") == terms


@pytest.mark.parametrize(
    ("first", "second", "together"),
    [
        (("unix",), ("windows",), False),
        (("unix",), ("linux",), True),
        (("plan9",), ("unix",), False),
        (("!unix",), ("windows",), True),
        (("linux && !cgo",), ("cgo",), False),
        (("!linux",), ("android",), False),  # android builds linux files
        (("darwin",), ("ios",), True),
        (("(amd64 || arm64) && !purego",), ("amd64",), True),
        (("amd64",), ("arm64",), False),
        (("linux", "amd64"), ("linux && 386",), False),
        (("go1.21 && !gccgo",), ("linux",), True),
        (("ignore",), ("linux",), True),  # a free tag
        ((), ("windows",), True),
        (("&& broken",), ("linux",), True),  # unreadable: never taken as exclusive
    ],
)
def test_files_build_together(first: tuple[str, ...], second: tuple[str, ...], together: bool) -> None:
    assert buildtags.compatible(first, second) is together
    assert buildtags.compatible(second, first) is together


def test_a_lookup_sees_only_the_variant_its_file_builds_with(tmp_path: Path) -> None:
    index.forget()
    files = {
        "fd_unix.go": "//go:build unix\n\npackage p\n\ntype fd struct{ buf [8192]byte }\n",
        "fd_windows.go": "package p\n\ntype fd struct{ handle uintptr }\n",
        "poll_linux.go": "package p\n\nfunc use(f *fd) {}\n",
        "poll.go": "package p\n\nfunc any(f *fd) {}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def types_seen_from(name: str) -> list[str]:
        path = tmp_path / name
        view = index.view(path, Source(path.read_bytes()))
        return sorted(n.text.decode() for n in view.types("fd"))  # type: ignore[union-attr]

    assert types_seen_from("poll_linux.go") == ["fd struct{ buf [8192]byte }"]
    assert types_seen_from("poll.go") == ["fd struct{ buf [8192]byte }", "fd struct{ handle uintptr }"]
    linux = index.view(tmp_path / "poll_linux.go", Source((tmp_path / "poll_linux.go").read_bytes()))
    assert linux.type_spec("fd") is not None  # one variant: its size can be read
    index.forget()
