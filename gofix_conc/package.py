"""The other files of a file's Go package, as goroutine-without-recover reads them.

A thin view over :mod:`gofix_conc.index` (which parses and indexes each
package once): the ``.go`` files of the same directory with the same package
clause, ``_test.go`` files only for a test file, the file being checked left
out (the rule has its current text in its own context).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from gofix_conc import index
from gofix_conc.imports import Import
from gofix_conc.source import Source

# Functions and methods by name:  func name(...) {...}   func (r T) name(...) {...}
DECLARATIONS = "[(function_declaration name: (identifier) @name) (method_declaration name: (field_identifier) @name)]"

# Named types:  type name ...
TYPES = "(type_spec name: (type_identifier) @name)"

PACKAGE_CLAUSE = index.PACKAGE_CLAUSE


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
    types: dict[str, list[Node]] = field(default_factory=dict)  # type_spec (and type_alias) nodes
    facts: tuple[index.FileFacts, ...] = ()

    def imports(self) -> list[Import]:
        return [i for f in self.facts for i in f.imports]


EMPTY = Package("", ())


def package_name(source: Source) -> str:
    return index.package_name(source)


def siblings(path: Path, source: Source, view: index.PackageView | None = None) -> Package:
    """The other files of ``path``'s package (those a test file can see, for a test file)."""
    view = view or index.view(path, source)
    files = view.siblings
    functions: dict[str, list[Node]] = {}
    types: dict[str, list[Node]] = {}
    for f in files:
        for name, nodes in f.functions.items():
            functions.setdefault(name, []).extend(nodes)
        for methods in f.methods.values():
            for method in methods:
                functions.setdefault(method.name, []).append(method.node)
        for name, nodes in f.types.items():
            types.setdefault(name, []).extend(nodes)
    return Package(view.name, tuple(Sibling(f.path, f.source) for f in files), functions, types, tuple(files))
