"""The other files of a file's Go package, parsed once per package directory.

A rule that follows a name out of the file it checks (the function ``go f()``
runs, a recover helper, a struct's fields) looks here: the ``.go`` files of
the same directory with the same package clause. Non-test code cannot see
``_test.go`` files, so those count only for a test file. The file being
checked is left out: the rule has its current text (which the fix loop may
have changed) in its own context.

Each file is parsed once per (path, modification time), and the index of a
directory is built once per set of such keys, however many files and
findings of the directory ask.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from gofix_conc.imports import Import, imports
from gofix_conc.source import Source, captures

# Functions and methods by name:  func name(...) {...}   func (r T) name(...) {...}
DECLARATIONS = "[(function_declaration name: (identifier) @name) (method_declaration name: (field_identifier) @name)]"

# Named types:  type name ...
TYPES = "(type_spec name: (type_identifier) @name)"

PACKAGE_CLAUSE = "(package_clause (package_identifier) @p)"


@dataclass(frozen=True)
class Sibling:
    path: Path
    source: Source


@dataclass(frozen=True)
class Package:
    """The sibling files of one package and what they declare at the top level."""

    name: str
    files: tuple[Sibling, ...]
    functions: dict[str, list[Node]] = field(default_factory=dict)  # function/method declarations
    types: dict[str, list[Node]] = field(default_factory=dict)  # type_spec nodes

    def imports(self) -> list[Import]:
        return [i for f in self.files for i in imports(f.source)]


EMPTY = Package("", ())


def package_name(source: Source) -> str:
    clause = captures(PACKAGE_CLAUSE, source.root).get("p", [])
    return clause[0].text.decode() if clause and clause[0].text else ""


def siblings(path: Path, source: Source) -> Package:
    """The other files of ``path``'s package (those a test file can see, for a test file)."""
    name = package_name(source)
    with_tests = path.name.endswith("_test.go")
    try:
        entries = tuple(
            sorted(
                (entry.name, entry.stat().st_mtime_ns)
                for entry in os.scandir(path.parent)
                if entry.name.endswith(".go")
                and entry.name != path.name
                and (with_tests or not entry.name.endswith("_test.go"))
                and entry.is_file()
            )
        )
    except OSError:
        return EMPTY
    return _index(path.parent, name, entries)


@functools.lru_cache(maxsize=16)
def _index(directory: Path, name: str, entries: tuple[tuple[str, int], ...]) -> Package:
    files: list[Sibling] = []
    functions: dict[str, list[Node]] = {}
    types: dict[str, list[Node]] = {}
    for filename, mtime in entries:
        source = _parsed(directory / filename, mtime)
        if source is None or package_name(source) != name:
            continue  # another package (x_test beside x), or unreadable
        files.append(Sibling(directory / filename, source))
        for ident in captures(DECLARATIONS, source.root).get("name", []):
            if ident.parent is not None and ident.text:
                functions.setdefault(ident.text.decode(), []).append(ident.parent)
        for ident in captures(TYPES, source.root).get("name", []):
            if ident.parent is not None and ident.text:
                types.setdefault(ident.text.decode(), []).append(ident.parent)
    return Package(name, tuple(files), functions, types)


@functools.lru_cache(maxsize=512)
def _parsed(path: Path, mtime_ns: int) -> Source | None:
    try:
        source = Source(path.read_bytes())
    except (OSError, UnicodeDecodeError):
        return None
    return None if source.root.has_error else source
