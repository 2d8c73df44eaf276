"""What sizes the array types of a package may have, read from its text before anything is parsed.

Types (gofix_conc.types) tells the size of a type from the parsed declarations
of the package; these read the text alone, to pass over the files and the
declarations where no array of a given size or more can be written, and to
tell the size Types will give without parsing other files when literals and
constants written as one literal are enough (64-bit layouts, as Types counts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from gofix_conc import index, scopes
from gofix_conc.context import FileContext
from gofix_conc.source import spelled
from gofix_conc.types import BASIC, QUALIFIED, constant, operate

Values = frozenset[int | None]  # what a constant or a size may be (None: Types gives none)

# -- what the text allows ------------------------------------------------------------

# An array type as written: [N]T, [4 << 10]byte, [n][m]int, [N]*T, [N](T), [N]<-chan T; also a[i]*b, f[i](x) and
# T[P any] int, which the tree tells apart. A length the size is computed from holds no brackets (only literals,
# operators and constant names evaluate).
_ARRAY_TEXT = re.compile(rb"\[([^\]\[\n]+)\][ \t]*([\w*\[(<]\w*)")
# Sizes of predeclared element types, to pass over [4]byte and [64]uint32 by their text.
_BASIC_SIZES = {name.encode(): size for name, (kind, size, _) in BASIC.items() if kind != "interface"}
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DOT = ord(".")


def array_types_at(data: bytes, minimum: int) -> list[int]:
    """The offsets of the ``[`` of each array type written in ``data`` that may be ``minimum`` bytes or more.

    Passed over: ``[4]byte``-like types whose size the text gives (a decimal length of a predeclared element type)
    under ``minimum``, ``[...]T`` (a literal's implicit length: no declaration of such a type is looked at) and
    ``map[K]V``.
    """
    found = []
    for match in _ARRAY_TEXT.finditer(data):
        at = match.start()
        if match.group(1) == b"..." or (data[at - 3 : at] == b"map" and (at < 4 or data[at - 4] not in _WORD_CHARS)):
            continue
        if not _small(match, minimum):
            found.append(at)
    return found


def _small(array: re.Match[bytes], minimum: int) -> bool:
    """The text gives the array's size, under ``minimum``: ``[64]uint32``."""
    length, size = array.group(1), _BASIC_SIZES.get(array.group(2))
    return size is not None and length.isdigit() and int(length) * size < minimum


# The package-level type declarations, as gofmt writes them: `type page [512]uint64` at the start of a line, or
# `page [512]uint64` on a line of a `type ( ... )` group (which ends at a line starting with `)`).
# (The name is followed by a space or `=`: `type tree[T any] struct` declares a generic type, never an array.)
_TYPE_DECLARATION = re.compile(rb"\ntype(?:[ \t]*(\()|[ \t]+([A-Za-z_]\w*)(?:[ \t]+(?:=[ \t]*)?|=[ \t]*))")
_GROUP_MEMBER = re.compile(rb"[ \t]*([A-Za-z_]\w*)(?:[ \t]+(?:=[ \t]*)?|=[ \t]*)")
_GROUP_LINE = re.compile(rb"\n[ \t]*([A-Za-z_]\w*)(?:[ \t]+(?:=[ \t]*)?|=[ \t]*)")
# A type declared as another name: `type page block`, `type page = (block)`; or as one of another package.
_QUALIFIED_NAME = re.compile(rb"([A-Za-z_]\w*\.[A-Za-z_]\w*)[ \t]*(?:;|//|\n)")
_OTHER_NAME = re.compile(rb"[( \t]*([A-Za-z_]\w*)(?![\w.\[])")
# Types whose size does not depend on what they refer to, by how they start (as Types counts them).
_REFERENCE_SIZES = ((b"*", 8), (b"[]", 24), (b"map[", 8), (b"chan", 8), (b"<-", 8), (b"func", 8), (b"interface", 16))

Declaration = tuple[bytes, int]  # a file's text, and where the type of one of its type declarations starts


def _type_declarations(data: bytes) -> list[tuple[bytes, int]]:
    """(name, offset of the type) of each type declaration of the text's top level; with every line of a group
    (fields of its structs too: a superset)."""
    found = []
    for match in _TYPE_DECLARATION.finditer(data):
        if match.group(2) is not None:
            found.append((match.group(2), match.end()))
            continue
        end = data.find(b"\n)", match.end())
        end = len(data) if end < 0 else end
        first = _GROUP_MEMBER.match(data, match.end(), end)  # `type (page [512]uint64)` on one line
        if first is not None:
            found.append((first.group(1), first.end()))
        found += [(m.group(1), m.end()) for m in _GROUP_LINE.finditer(data, match.end(), end)]
    return found


class TypeTexts:
    """The type declarations of the files of a package, read from their text (see _type_declarations)."""

    def __init__(self, texts: list[tuple[bytes, list[tuple[bytes, int]]]]) -> None:
        self.declared: dict[bytes, list[Declaration]] = {}
        for text, names in texts:
            for name, at in names:
                self.declared.setdefault(name, []).append((text, at))
        self._sizes: dict[bytes, Values | None] = {}

    def sizes(self, name: bytes, depth: int = 0) -> Values:
        """The sizes Types may give the package's type ``name`` (None: none; it may not see a declaration, or not
        one alone); raises Unknown when the text does not tell (a struct's layout, an array, a type of another
        package)."""
        if name not in self._sizes:
            self._sizes[name] = None  # while it is worked out: a declaration naming itself is not read
            try:
                found: set[int | None] = {None}
                for text, at in self.declared.get(name) or []:
                    found |= self._size_at(text, at, depth)
                self._sizes[name] = frozenset(found) if name in self.declared else None
            except Unknown:
                del self._sizes[name]
                raise
        known = self._sizes[name]
        if known is None:
            raise Unknown  # declared nowhere the text shows, or through itself
        return known

    def _size_at(self, text: bytes, at: int, depth: int) -> Values:
        for start, size in _REFERENCE_SIZES:
            if text.startswith(start, at):
                return frozenset({size})
        array = _ARRAY_TEXT.match(text, at)
        if array is not None:
            length, element = array.group(1), _NAMED_SIZES.get(array.group(2))
            if length.isdigit() and element is not None:
                return frozenset({int(length) * element})
            raise Unknown
        qualified = _QUALIFIED_NAME.match(text, at)
        if qualified is not None:  # Types knows the layout of a few types of other packages, no other
            known = QUALIFIED.get(qualified.group(1).decode())
            return frozenset({known[1] if known is not None else None})
        other = _other_name(text, at)
        if other is None or depth > 8:
            raise Unknown  # a struct, a generic type
        if other.group(1) in _NAMED_SIZES:
            return frozenset({_NAMED_SIZES[other.group(1)]})
        return self.sizes(other.group(1), depth + 1)


class _FileTypes:
    """One file's type declarations (see _type_declarations), and the names they may give a large array type."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.declarations = _type_declarations(raw) if b"\ntype" in raw else []
        self._roots: dict[int, frozenset[bytes]] = {}  # by minimum size
        self._others: list[tuple[bytes, bytes]] | None = None

    def roots(self, minimum: int) -> frozenset[bytes]:
        """The names declared [N]T, not one the text shows under ``minimum`` bytes."""
        found = self._roots.get(minimum)
        if found is None:
            found = self._roots[minimum] = frozenset(
                name for name, at in self.declarations if _may_be_large_array(self.raw, at, minimum)
            )
        return found

    def others(self) -> list[tuple[bytes, bytes]]:
        """(name, other) for each name declared as another name: ``type page block``."""
        if self._others is None:
            self._others = [(n, o.group(1)) for n, at in self.declarations if (o := _other_name(self.raw, at))]
        return self._others


def large_array_names(ctx: FileContext, here: Directory, minimum: int) -> frozenset[bytes]:
    """The names of the package that may stand for an array of ``minimum`` bytes or more (with this file's text as
    it is now): declared ``[N]T`` (not one the text shows smaller), or as such a name (``type page block``), and so
    on."""
    if here.texts.get(ctx.path.name) == ctx.source.data:
        found = here.arrays.get(minimum)
        if found is None:
            found = here.arrays[minimum] = _grown(list(here.files.values()), minimum)
        return found
    rest = [f for n, f in here.files.items() if n != ctx.path.name]
    return _grown([_FileTypes(ctx.source.data), *rest], minimum)  # the fix loop changed this file


def _grown(files: list[_FileTypes], minimum: int) -> frozenset[bytes]:
    found = set().union(*(f.roots(minimum) for f in files))
    if not found:
        return frozenset()  # no array type declared: no name declared as one either
    others = [pair for f in files for pair in f.others()]
    grown = True
    while grown:
        grown = False
        for name, other in others:
            if other in found and name not in found:
                found.add(name)
                grown = True
    return frozenset(found)


def _may_be_large_array(text: bytes, at: int, minimum: int) -> bool:
    if not text.startswith(b"[", at) or text.startswith(b"[]", at):
        return False
    array = _ARRAY_TEXT.match(text, at)
    return array is None or not _small(array, minimum)  # (no match: a length the text does not show whole)


def _other_name(text: bytes, at: int) -> re.Match[bytes] | None:
    return _OTHER_NAME.match(text, at) if not text.startswith((b"[", b"*"), at) else None


@dataclass
class Directory:
    """The Go files of the package as on disk (with its tests for a test file; generated ones too), as indexed."""

    texts: dict[str, bytes]  # by file name
    files: dict[str, _FileTypes]  # by file name, those that declare types
    arrays: dict[int, frozenset[bytes]] = field(default_factory=dict)  # large_array_names of the files as on disk
    types: TypeTexts | None = None  # of the files as on disk
    constants: dict[bytes, Values | None] = field(default_factory=dict)  # _literal_definitions


# Each file's type declarations, shared by the package with and without its tests (the index empties it when
# the engine leaves a directory).
_FILES: dict[Path, _FileTypes] = index.package_cache({})


def directory(ctx: FileContext) -> Directory:
    """The files of the package (every file Types may read: a superset)."""
    view = ctx.package
    package = index.package(view.path.parent, view.name, view.is_test)  # read once per directory by the index
    return package.remembered("sizes.directory", _directory)


def _directory(package: index.Package) -> Directory:
    texts, files = {}, {}
    for member in package.members:
        name, raw = member.path.name, member.raw
        texts[name] = raw
        known = _FILES.get(member.path)
        if known is None or known.raw is not raw:
            known = _FILES[member.path] = _FileTypes(raw)
        if known.declarations:
            files[name] = known
    return Directory(texts, files)


def type_texts(ctx: FileContext, here: Directory) -> TypeTexts:
    """The package's type declarations, with this file's as it is now."""
    data = ctx.source.data
    if here.texts.get(ctx.path.name) == data:
        if here.types is None:
            here.types = TypeTexts([(f.raw, f.declarations) for f in here.files.values()])
        return here.types
    rest = [(f.raw, f.declarations) for n, f in here.files.items() if n != ctx.path.name]
    return TypeTexts([(data, _type_declarations(data)), *rest])  # the fix loop changed this file


def mentions(data: bytes, names: frozenset[bytes]) -> list[tuple[int, int]]:
    """Where ``data`` names one of ``names`` as a whole word, not as a field or qualified name (``x.name``)."""
    return [(at, at + len(name)) for name in names for at in spelled(data, name) if at == 0 or data[at - 1] != _DOT]


# -- sizes the text gives ------------------------------------------------------------------


class Unknown(Exception):
    """The text alone does not tell a size: Types decides (reading the declarations of other files)."""


# Sizes of element kinds whose size does not depend on what they refer to (as Types counts them).
_KIND_SIZES = {"pointer_type": 8, "map_type": 8, "channel_type": 8, "function_type": 8, "slice_type": 24}
_KIND_SIZES |= {"interface_type": 16}
_NAMED_SIZES = {name.encode(): size for name, (_, size, _) in BASIC.items()}


def text_size(ctx: FileContext, here: Directory, texts: TypeTexts, kind: Node) -> Values:
    """The sizes Types may give an array type (None: no size), told by literals, this file's constants and those
    of other files written as one literal; raises Unknown when only other files' declarations tell.

    A single size is the one Types gives: every part is known exactly (a package's constant may also give none).
    """
    lengths = _text_constant(ctx, here, kind.child_by_field_name("length"))
    element = kind.child_by_field_name("element")
    while element is not None and element.type == "parenthesized_type" and element.named_children:
        element = element.named_children[0]
    if element is None or not lengths - {None, 0}:
        return frozenset({None}) if element is None else lengths  # Types gives 0 or None: no finding either way
    if element.type == "array_type":
        inner = text_size(ctx, here, texts, element)
    elif element.type == "type_identifier" and element.text in _NAMED_SIZES:
        inner = frozenset({_NAMED_SIZES[element.text]})
    elif element.type == "type_identifier":
        inner = texts.sizes(element.text or b"")  # a type of the package
    elif element.type in _KIND_SIZES:
        inner = frozenset({_KIND_SIZES[element.type]})
    else:
        raise Unknown  # a struct: its layout
    return _combine(lambda n, m: n * m, lengths, inner)


def _combine(op: Callable[[int, int], int | None], left: Values, right: Values) -> Values:
    if len(left) * len(right) > 256:
        raise Unknown
    return frozenset(None if n is None or m is None else op(n, m) for n in left for m in right)


def _text_constant(ctx: FileContext, here: Directory, expr: Node | None, depth: int = 0) -> frozenset[int | None]:
    """The values types.constant may give ``expr``, with the package's constants read from their text."""
    if depth > 16:
        raise Unknown
    if expr is None:
        return frozenset({None})
    if expr.type == "parenthesized_expression" and expr.named_children:
        return _text_constant(ctx, here, expr.named_children[0], depth + 1)
    if expr.type == "identifier":
        decl = scopes.resolve(expr)
        if decl is None:
            return _package_constant(here, expr.text or b"")
        value = constant(expr)  # declared in this file: no other file is read
        if value is None and decl.kind == "const":
            raise Unknown  # its value may name the package's constants
        return frozenset({value})
    if expr.type != "binary_expression":
        return frozenset({constant(expr)})  # a literal, or a kind Types gives no value
    left = _text_constant(ctx, here, expr.child_by_field_name("left"), depth + 1)
    right = _text_constant(ctx, here, expr.child_by_field_name("right"), depth + 1)
    operator = expr.child_by_field_name("operator")
    if operator is None:
        return frozenset({None})
    return _combine(lambda n, m: operate(operator.type, n, m), left, right)


# After a constant's name on its line: ` = 16`, ` uint = 0x10 // ...` (a single literal to the end of the line);
# after a name in a list: `, b = 4, 5` (several at once: not read).
_GIVEN = re.compile(rb"[ \t]*(?:[A-Za-z_][\w.]*[ \t]*)?=(?!=)")
_LISTED = re.compile(rb"[ \t]*,[^\n]*?(?<![=!<>:])=(?!=)")
_SELECTOR_TO_END = re.compile(rb"[ \t]*[A-Za-z_]\w*\.[A-Za-z_]\w*[ \t]*;?[ \t]*(?://[^\n]*)?(?:\n|$)")
_LITERAL_TO_END = re.compile(rb"[ \t]*([0-9][0-9A-Za-z_]*)[ \t]*;?[ \t]*(?://[^\n]*)?(?:\n|$)")


def _package_constant(here: Directory, name: bytes) -> frozenset[int | None]:
    """The values a constant declared in another file may have: those of the lines of the directory that give
    ``name`` a single literal (``name = 16``, ``name uint = 16``), or none (its declaration may not be the one
    the file sees, nor the only one); raises Unknown when a line gives it anything else."""
    if name not in here.constants:
        here.constants[name] = _literal_definitions(here, name)
    found = here.constants[name]
    if found is None:
        raise Unknown
    return found


def _literal_definitions(here: Directory, name: bytes) -> frozenset[int | None] | None:
    values: set[int | None] = {None}
    for text in here.texts.values():
        for at in spelled(text, name):
            if at > 0 and text[at - 1] == _DOT:
                continue  # x.name
            given = _GIVEN.match(text, at + len(name))
            if given is None:
                if _LISTED.match(text, at + len(name)) is not None:
                    return None  # `name, other = ...`
                continue  # a use
            if _SELECTOR_TO_END.match(text, given.end()) is not None:
                continue  # `= C.PATH_MAX`: Types gives such a constant no value
            literal = _LITERAL_TO_END.match(text, given.end())
            if literal is None:
                return None  # an expression
            try:
                values.add(int(literal.group(1).decode().replace("_", ""), 0))
            except ValueError:
                values.add(None)
            if len(values) > 16:
                return None
    return frozenset(values) if len(values) > 1 else None  # no line gives it a value: not read here


# Per package (directory, name, tests or not) and type name: a file on disk declares the name with an array type.
_DECLARED_AS_ARRAY: dict[tuple[Path, str, bool, bytes], bool] = index.package_cache({})


def declared_as_array(ctx: FileContext, name: bytes) -> bool:
    """A line of this file or of a file of its package declares ``name`` with an array type: ``name [..]T``, with
    ``type`` or in a block (or a field or a var: a superset of the array types that can be looked up)."""
    if _declares_array(ctx.source.data, name):
        return True
    view = ctx.package
    key = (view.path.parent, view.name, view.is_test, name)
    found = _DECLARED_AS_ARRAY.get(key)
    if found is None:
        members = index.package(view.path.parent, view.name, view.is_test).members
        found = _DECLARED_AS_ARRAY[key] = any(_declares_array(m.raw, name) for m in members)
    return found


# A line's start up to a name it may declare, and what follows the name when it is declared an array type.
_LINE_BEFORE = re.compile(rb"[ \t]*(?:type[ \t]+)?")
_ARRAY_AFTER = re.compile(rb"[ \t]+(?:=[ \t]*)?\[[^\]\n]+\]")


def _declares_array(text: bytes, name: bytes) -> bool:
    """A line of ``text`` is ``name [..]T``, after ``type`` or not (see declared_as_array)."""
    for at in spelled(text, name):
        line = text.rfind(b"\n", 0, at) + 1
        if _ARRAY_AFTER.match(text, at + len(name)) and _LINE_BEFORE.fullmatch(text, line, at):
            return True
    return False
