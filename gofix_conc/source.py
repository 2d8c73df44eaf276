"""Go source text: decoding checks, parsing with tree-sitter-go, positions."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from typing import Any

import tree_sitter_go
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

GO = Language(tree_sitter_go.language())
BOM = b"\xef\xbb\xbf"
# What a file's top level holds when it parsed; anything else there is debris of an error.
_DECLARATIONS = frozenset(
    {
        "package_clause",
        "import_declaration",
        "function_declaration",
        "method_declaration",
        "type_declaration",
        "var_declaration",
        "const_declaration",
        "comment",
    }
)
_GENERATED = re.compile(rb"^// Code generated .* DO NOT EDIT\.\r?$", re.MULTILINE)
# The node kinds of Go's basic literals and predeclared constants.
LITERALS = frozenset(
    {
        "int_literal",
        "float_literal",
        "imaginary_literal",
        "rune_literal",
        "interpreted_string_literal",
        "raw_string_literal",
        "true",
        "false",
        "nil",
    }
)


@functools.cache
def _parser() -> Parser:
    return Parser(GO)


@functools.cache
def query(source: str) -> Query:
    """Compile a query once per process."""
    return Query(GO, source)


# Captures of the file being checked, so that rules asking the same question
# (where are the go statements?) walk the tree once. Keyed by node id and holding
# the node, so a node of another tree is never mistaken for it; forget() clears it.
_CAPTURED: dict[tuple[str, int], tuple[Node, dict[str, list[Node]]]] = {}


def captures(query_source: str, node: Node) -> dict[str, list[Node]]:
    """Captures of a query under ``node``, each list in source order (the lists are the caller's)."""
    hit = _CAPTURED.get((query_source, node.id))
    if hit is not None and hit[0] == node:
        return {name: list(nodes) for name, nodes in hit[1].items()}
    found = QueryCursor(query(query_source)).captures(node)
    result = {name: sorted(nodes, key=lambda n: n.start_byte) for name, nodes in found.items()}
    if node.parent is None:  # whole-file queries are the ones asked again
        _CAPTURED[query_source, node.id] = (node, result)
        return {name: list(nodes) for name, nodes in result.items()}
    return result


def forget() -> None:
    """Drop the memo of whole-file captures (it holds the tree alive)."""
    _CAPTURED.clear()


def matches(query_source: str, node: Node) -> list[dict[str, list[Node]]]:
    return [m for _, m in QueryCursor(query(query_source)).matches(node)]


_IDENTIFIER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def spelled(data: bytes, word: bytes, start: int = 0, stop: int | None = None) -> Iterator[int]:
    """Where ``word`` is written in ``data[start:stop]`` as a whole word (no ASCII letter, digit or ``_`` next to it).

    A superset of where an identifier ``word`` stands (a non-ASCII letter next
    to it is let through), found with ``bytes.find``: a regex with look-arounds
    costs ten times more over a whole file. Offsets are into ``data``.
    """
    size = len(word)
    stop = len(data) if stop is None else stop
    at = data.find(word, start, stop)
    while at >= 0:
        end = at + size
        if (at == 0 or data[at - 1] not in _IDENTIFIER_BYTES) and (
            end == len(data) or data[end] not in _IDENTIFIER_BYTES
        ):
            yield at
        at = data.find(word, at + 1, stop)


class SourceError(Exception):
    """The file cannot be analysed (not UTF-8, syntax errors)."""


def is_generated(data: bytes) -> bool:
    """Whether a ``// Code generated ... DO NOT EDIT.`` line comes before the package clause (read before any parse)."""
    package = data.find(b"package ")
    head = data if package < 0 else data[:package]
    return _GENERATED.search(head) is not None


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


class Source:
    """One file's bytes (BOM split off), its tree and a line index."""

    def __init__(self, raw: bytes) -> None:
        self.bom = raw.startswith(BOM)
        self.data = raw[len(BOM) :] if self.bom else raw
        self.crlf = b"\r\n" in self.data
        self.tree = parse(self.data)
        self._lines: list[int] | None = None
        self.memo: dict[str, Any] = {}  # what modules read from this text once (holding nodes of its tree)

    @property
    def _line_starts(self) -> list[int]:
        # Built on first use: most files scanned have no finding to place.
        if self._lines is None:
            self._lines = [0] + [m.end() for m in re.finditer(rb"\n", self.data)]
        return self._lines

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def raw(self, data: bytes | None = None) -> bytes:
        """The file's bytes for ``data`` (default: this text), BOM restored."""
        body = self.data if data is None else data
        return BOM + body if self.bom else body

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode()

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and code-point column of a byte offset."""
        line = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[line]
        column = len(self.data[start:offset].decode(errors="replace")) + 1
        return line + 1, column

    def line_start(self, offset: int) -> int:
        return self._line_starts[bisect.bisect_right(self._line_starts, offset) - 1]

    def indent_at(self, offset: int) -> str:
        """The leading white space of the line holding ``offset``."""
        start = self.line_start(offset)
        line = self.data[start:offset]
        return line[: len(line) - len(line.lstrip(b" \t"))].decode()

    def starts_line(self, offset: int) -> bool:
        """Whether only white space stands between the line start and ``offset``."""
        return not self.data[self.line_start(offset) : offset].strip(b" \t")

    def is_generated(self) -> bool:
        return is_generated(self.data)

    def check(self) -> None:
        """Raise SourceError when the file is not valid UTF-8 Go syntax."""
        self.check_encoding()
        where = self.syntax_error()
        if where is not None:
            raise SourceError(f"{where}: syntax error (or Go syntax newer than the tree-sitter-go grammar)")

    def check_encoding(self) -> None:
        """Raise SourceError when the file is not valid UTF-8 (syntax is judged by :meth:`broken`)."""
        try:
            self.data.decode("utf-8")
        except UnicodeDecodeError as err:
            line, _ = self.position(err.start)
            raise SourceError(f"line {line}: not valid UTF-8 (byte 0x{self.data[err.start]:02x})") from None

    def broken(self) -> list[tuple[int, int]]:
        """The byte ranges of the top-level declarations the grammar could not parse.

        tree-sitter recovers around what it cannot parse: the declarations
        before and after an error still come out whole, so they can be analysed
        and fixed; only the ranges returned here must be left alone. An error
        that swallowed the whole file gives one range over all of it.
        """
        if not self.root.has_error:
            return []
        regions: list[tuple[int, int]] = []
        joined = False  # the previous child was broken too: one region
        for child in self.root.children:
            if child.type in _DECLARATIONS and not child.has_error:
                joined = False
                continue
            if joined:
                regions[-1] = (regions[-1][0], max(regions[-1][1], child.end_byte))
            else:
                regions.append((child.start_byte, child.end_byte))
            joined = True
        return regions or [(0, len(self.data))]

    def first_error_offset(self) -> int:
        """Where the first thing the grammar could not parse starts (0 when everything parsed)."""
        bad = first_error(self.root)
        return 0 if bad is None else bad.start_byte

    def syntax_error(self) -> str | None:
        """Where the first thing the grammar could not parse is, as ``line L, column C``."""
        if not self.root.has_error:
            return None
        line, column = self.position(self.first_error_offset())
        return f"line {line}, column {column}"


def first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node below ``node``, innermost first.

    When the file's root is itself an ERROR node (recovery gave up on the top
    level), the root is skipped: the interesting position is the first error
    inside it, not line 1.
    """
    for child in node.children:
        if child.is_missing:
            return child
        if child.has_error:
            return first_error(child) or child
        if child.is_error:
            return child
    return None
