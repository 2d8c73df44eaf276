"""Which files to scan, and the Go version of the module each belongs to."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

SKIPPED_DIRS = frozenset({"vendor", "testdata", "node_modules"})
# Files outside any module: treat as the oldest Go still common, so that fixes
# make no use of newer features and keep pre-1.22 loop-variable semantics.
DEFAULT_GO_VERSION = (1, 21)
_GO_DIRECTIVE = re.compile(rb"^go\s+(\d+)\.(\d+)", re.MULTILINE)


def _excluded(path: Path, root: Path, patterns: Iterable[str]) -> bool:
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(
        fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path.name, p) or rel.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def go_files(paths: Iterable[Path], exclude: Iterable[str] = (), root: Path | None = None) -> Iterator[Path]:
    """Go files under ``paths`` in a stable order, each once.

    Named files are always taken; directories are walked without vendor/,
    testdata/, hidden or underscore directories (the go tool skips those too)
    and without files matching an ``exclude`` glob.
    """
    exclude = tuple(exclude)
    root = root or Path.cwd()
    seen: set[Path] = set()
    for path in paths:
        found = sorted(_walk(path, exclude, root)) if path.is_dir() else [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def _walk(directory: Path, exclude: tuple[str, ...], root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(directory):
        base = Path(current)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.startswith((".", "_")) and not _excluded(base / d, root, exclude)
        ]
        for name in files:
            if name.endswith(".go") and not name.startswith((".", "_")):
                file = base / name
                if not _excluded(file, root, exclude):
                    yield file


@functools.cache
def _module_version(directory: Path) -> tuple[int, int] | None:
    gomod = directory / "go.mod"
    if gomod.is_file():
        try:
            match = _GO_DIRECTIVE.search(gomod.read_bytes())
        except OSError:
            return DEFAULT_GO_VERSION
        return (int(match[1]), int(match[2])) if match else (1, 16)
    return None if directory.parent == directory else _module_version(directory.parent)


def go_version(file: Path) -> tuple[int, int]:
    """The language version of the nearest go.mod's ``go`` directive."""
    return _directory_version(os.path.dirname(file))


@functools.cache
def _directory_version(directory: str) -> tuple[int, int]:
    return _module_version(Path(os.path.abspath(directory))) or DEFAULT_GO_VERSION
