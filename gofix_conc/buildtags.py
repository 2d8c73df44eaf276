"""Build constraints: which files of a directory can be compiled together.

A file is constrained by its ``//go:build`` line (in the comments before the
package clause) and by its name (``_linux``, ``_amd64``, ``_windows_arm64``,
before an optional ``_test``), as ``go/build`` reads them. Two files belong to
the same build when one choice of GOOS, GOARCH and the other tags they name
satisfies both: ``fd_unix.go`` and ``fd_windows.go`` never do, so a lookup
from one must not answer with a declaration of the other.

Release tags (``go1.21``) and ``gc`` are taken as true, ``gccgo`` as false;
``unix`` follows GOOS, and ``linux`` holds on android, ``darwin`` on ios,
``solaris`` on illumos, as in ``go/build``. Other tags (``cgo``, ``purego``,
``race``...) are free. The legacy ``// +build`` form is not read: gofmt has
written ``//go:build`` beside it since Go 1.17.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# go/build's lists (syslist.go): the names a file name suffix or a build tag can use.
KNOWN_OS = _words(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 "
    "windows zos"
)
UNIX_OS = _words("aix android darwin dragonfly freebsd hurd illumos ios linux netbsd openbsd solaris")
KNOWN_ARCH = _words(
    "386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc "
    "ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm"
)
IMPLIED_OS = {"android": "linux", "ios": "darwin", "illumos": "solaris"}  # GOOS -> the tag it also sets
_TOO_MANY_FREE = 8  # more free tags than this: taken as compatible (never seen in practice)

_PACKAGE = re.compile(rb"^package[ \t]", re.MULTILINE)
_TOKEN = re.compile(r"\s*(\(|\)|!|&&|\|\||[\w.]+)")

Expr = Callable[[Callable[[str], bool]], bool]


def name_terms(name: str) -> tuple[str, ...]:
    """The GOOS and GOARCH a file's name requires: ``x_linux.go`` linux, ``x_windows_arm64_test.go`` both."""
    stem = name.removesuffix(".go").removesuffix("_test")
    if "_" not in stem:
        return ()
    parts = stem[stem.index("_") :].split("_")
    if len(parts) >= 3 and parts[-2] in KNOWN_OS and parts[-1] in KNOWN_ARCH:
        return (parts[-2], parts[-1])
    if parts[-1] in KNOWN_OS or parts[-1] in KNOWN_ARCH:
        return (parts[-1],)
    return ()


def header(data: bytes) -> tuple[str | None, list[str]]:
    """The ``//go:build`` expression and the old ``// +build`` lines of a file's header (before the package clause)."""
    expression, plus = None, []
    in_block = False
    for raw in data.decode(errors="replace").splitlines():
        line = raw.strip()
        if in_block:
            in_block = "*/" not in line
            continue
        if line.startswith("/*"):
            in_block = "*/" not in line[2:]
            continue
        if line and not line.startswith("//"):
            break  # the package clause: constraints come before it
        if line.startswith("//go:build") and expression is None:
            expression = line.removeprefix("//go:build").strip()
        elif line.startswith("// +build"):
            plus.append(line.removeprefix("// +build").strip())
    return expression, plus


@functools.lru_cache(maxsize=4096)
def constraint(name: str, head: bytes) -> tuple[str, ...]:
    """The terms constraining a file: its ``//go:build`` expression and its name's OS/arch (each a term)."""
    expression, _ = header(head)
    return ((expression,) if expression else ()) + name_terms(name)


def of_file(name: str, raw: bytes) -> tuple[str, ...]:
    """:func:`constraint` of a file's text: only the comments before the package clause are read."""
    clause = _PACKAGE.search(raw)
    return constraint(name, raw[: clause.start()] if clause else raw[:4096])


def evaluate(expression: str, holds: Callable[[str], bool]) -> bool:
    """A ``//go:build`` expression under ``holds`` (tag -> set or not); a malformed one holds nowhere."""
    try:
        return _parse(expression)(holds)
    except ValueError:
        return False


@functools.lru_cache(maxsize=65536)
def compatible(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """Whether some GOOS, GOARCH and tag choice satisfies both constraints (unparsable ones always do)."""
    if not first or not second:
        return True
    try:
        exprs = [_parse(term) for term in (*first, *second)]
    except ValueError:
        return True
    names = {n for term in (*first, *second) for n in _TOKEN.findall(term) if n not in ("(", ")", "!", "&&", "||")}
    free = sorted(n for n in names - KNOWN_OS - KNOWN_ARCH - {"unix"} if _fixed(n) is None)
    if len(free) > _TOO_MANY_FREE:
        return True
    for goos, goarch in itertools.product(_choices_of_os(names), [*sorted(names & KNOWN_ARCH), ""]):
        for values in itertools.product((False, True), repeat=len(free)):
            chosen = dict(zip(free, values, strict=True))

            def holds(tag: str, goos: str = goos, goarch: str = goarch, chosen: dict = chosen) -> bool:  # type: ignore[type-arg]
                if tag in chosen:
                    return bool(chosen[tag])
                if tag in KNOWN_OS:
                    return tag == goos or IMPLIED_OS.get(goos) == tag
                if tag in KNOWN_ARCH:
                    return tag == goarch
                if tag == "unix":
                    return goos in UNIX_OS
                return bool(_fixed(tag))

            if all(e(holds) for e in exprs):
                return True
    return False


def _choices_of_os(names: set[str]) -> list[str]:
    """The GOOS values worth trying: those named, those implying them, and one unnamed unix and non-unix OS."""
    named = names & KNOWN_OS
    named |= {child for child, parent in IMPLIED_OS.items() if parent in named}
    others = [sorted(UNIX_OS - named)[:1], sorted(KNOWN_OS - UNIX_OS - named)[:1]]
    return sorted(named) + [os for group in others for os in group]


def _fixed(tag: str) -> bool | None:
    """The value of a tag that does not depend on the choice: release tags and the compiler."""
    if re.fullmatch(r"go1\.\d+", tag) or tag == "gc":
        return True
    if tag == "gccgo":
        return False
    return None


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Expr:
    """A ``//go:build`` expression (or a single tag) as a function of a tag -> bool lookup."""
    tokens = _TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != text.replace(" ", "").replace("\t", ""):
        raise ValueError(f"not a build expression: {text!r}")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"unexpected end of build expression: {text!r}")
        position += 1
        return tokens[position - 1]

    def either() -> Expr:
        left = both()
        while peek() == "||":
            take()
            left = _or(left, both())
        return left

    def both() -> Expr:
        left = unary()
        while peek() == "&&":
            take()
            left = _and(left, unary())
        return left

    def unary() -> Expr:
        token = take()
        if token == "!":
            inner = unary()
            return lambda holds: not inner(holds)
        if token == "(":
            inner = either()
            if take() != ")":
                raise ValueError(f"unbalanced build expression: {text!r}")
            return inner
        if token in (")", "&&", "||"):
            raise ValueError(f"unexpected {token!r} in build expression: {text!r}")
        return lambda holds: holds(token)

    found = either()
    if position != len(tokens):
        raise ValueError(f"trailing tokens in build expression: {text!r}")
    return found


def _or(left: Expr, right: Expr) -> Expr:
    return lambda holds: left(holds) or right(holds)


def _and(left: Expr, right: Expr) -> Expr:
    return lambda holds: left(holds) and right(holds)
