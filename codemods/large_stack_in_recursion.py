"""A large array on the stack of a recursive function: every stack growth copies it once per active call.

## What it does
Finds a local array of 8 KiB or more (`var buf [16 << 10]byte`,
`t := [4096]uint64{}`, a variable of a named array type), or an array
parameter of that size, in a function that calls itself: directly or through
other functions and methods of the same package, in any of its files. Sizes
come from the declarations (constants and element types declared anywhere in
the package; 64-bit layouts). The finding is on the array's declaration, or
on the `func` line for a parameter; the message names the chain of calls.

Not reported: arrays under 8 KiB; arrays over 128 KiB (the compiler already
puts such variables on the heap); arrays whose address is taken, or whose
slices are stored, returned, or passed to code that may keep them (a method
through an interface, another package's function, a function of the
package that stores, returns, sends or passes on that parameter): they escape to the heap
anyway, or may; arrays in functions that do not recurse, or recurse only
through a func value or an interface (where a call goes is unknown), or
through a generated file (not read: the compiler's rewrite rules alone are
8 MB); arrays in func literals; a recursion that goes through a `go` statement (a new
goroutine has a stack of its own); locals of struct type and receivers, however
large (only arrays are looked at).

## Why is this bad?
A goroutine's stack starts small and grows by copying: when it runs out, the
runtime allocates one twice the size and copies every frame into it. A
recursive function with a large frame fills the stack quickly and pays for
the copy of all of its active frames at each doubling, and the stack, once
grown, is kept until the collector shrinks it. With a 16 KiB buffer per call,
a depth of 100 is a 1.6 MiB stack copied several times over.

## Example
```go
func walk(dir string) error {
        var buf [96 << 10]byte
        n, err := readDir(dir, buf[:])
        ...
        for _, sub := range subdirs(buf[:n]) {
                walk(sub)
        }
}
```

Use instead:
```go
func walk(dir string) error {
        buf := make([]byte, 96<<10)
        n, err := readDir(dir, buf[:])
        ...
}
```

## What the fix does
For an array over 64 KiB declared as `var x [N]T` or `x := [N]T{}` and used
only by index, slice, `len`/`cap` and `range` over its indexes, it declares
`x := make([]T, N)` instead: the backing array goes to the heap, the frame
keeps a slice header. Below 64 KiB a `make` of constant size stays on the
stack too (the compiler's limit for implicit allocations), so there is no
fix, only the finding: make the buffer smaller, allocate it once for the
whole recursion and pass it down, or turn the recursion into a loop.

## Fix safety
The fix is always unsafe: the heap allocation happens on every call (a
reviewer weighs garbage against stack copying), and the variable becomes a
reference, which is the same for the uses the fix accepts but not a
decision a tool should take for a hot path. There is no fix for parameters,
named array types, literals with elements, grouped declarations, or arrays
copied, compared or ranged over by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from gofix_conc import callgraph, gofmt, index, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import spelled
from gofix_conc.types import QUALIFIED, Type, Types, constant, operate

# Declarations in function bodies and signatures that can hold an array, found from the type's text:
#   var buf [N]byte      t := [N]T{}      var t = block{}      func f(a [N]T)
# the type is the `type` of a var_spec or parameter_declaration, or of a composite literal that is a value of a
# var_spec or the right side of a short_var_declaration.
# Predeclared type names, never arrays: skipped before any lookup.
_PREDECLARED = frozenset(
    {"bool", "byte", "rune", "string", "error", "any", "int", "int8", "int16", "int32", "int64", "uint", "uint8"}
    | {"uint16", "uint32", "uint64", "uintptr", "float32", "float64", "complex64", "complex128", "comparable"}
)
_MIN = 8 << 10  # smaller frames are not worth a finding
_STACK_LIMIT = 128 << 10  # larger declared variables are put on the heap by the compiler
_IMPLICIT_LIMIT = 64 << 10  # make([]T, n) of constant size up to this stays on the stack
# Packages whose functions do not keep the slices they are handed (the compiler knows it).
_NON_RETAINING = frozenset(
    {"bytes", "strings", "strconv", "utf8", "utf16", "binary", "hex", "bits", "subtle", "slices", "sort", "unicode"}
)
_BUILTINS = frozenset({"copy", "len", "cap", "string", "clear", "min", "max"})
Values = frozenset[int | None]  # what a constant or a size may be (None: Types gives none)


@dataclass(frozen=True)
class Candidate:
    name: str
    ident: Node  # the declared name
    construct: Node  # var_spec, short_var_declaration, parameter_declaration
    function: Node  # the function_declaration / method_declaration
    type: Node  # the array type as written (or the name of an array type)
    size: int


def check(ctx: FileContext) -> Iterator[Finding]:
    data = ctx.source.data
    here = _directory(ctx)
    arrays = _hits(data)
    mentions = _mentions(data, _array_names(ctx, here))
    if not arrays and not mentions:
        return  # most files: no [N]T written that may be large, no type of the package that may be one named
    graph: callgraph.Graph | None = None
    types = _type_texts(ctx, here)
    for candidate in _large_arrays(ctx, here, types, _constructs(ctx.root, arrays, mentions)):
        parameter = candidate.construct.type == "parameter_declaration"
        uses = [] if parameter else _uses(candidate, ctx.package)
        if any(kind in ("address", "element address", "escaping slice") for kind, _ in uses):
            continue  # its address or a slice of it may leave the frame: the array is (or may be) on the heap
        key = callgraph.key_of(candidate.function)
        if key is None or not callgraph.called_by_name(ctx, key):
            continue  # nothing in the package calls it by name: no recursion to look for
        if not callgraph.may_recurse(ctx, key.rsplit(".", 1)[-1]):
            continue  # no chain of names called leads back to it: the graph (which parses the package) has none
        graph = graph or callgraph.graph(ctx.package)
        chain = graph.cycle(key)
        if chain is None:
            continue  # not recursive, or only through func values and interfaces
        yield _finding(ctx, candidate, chain, uses)


def _finding(ctx: FileContext, candidate: Candidate, chain: list[str], uses: list[tuple[str, Node]]) -> Finding:
    what = "parameter" if candidate.construct.type == "parameter_declaration" else "local"
    calls = " -> ".join(chain)
    message = (
        f"{what} {candidate.name} ({ctx.text(candidate.type)}, {_kib(candidate.size)}) is in the frame of "
        f"recursive {_name(candidate.function)} ({calls}): every stack growth copies it once per active call"
    )
    fix, why = _plan_fix(ctx, candidate, uses)
    if why:
        message += f" (no fix: {why})"
    node = candidate.function if what == "parameter" else candidate.ident
    return ctx.finding(node, message, fix)


# -- the arrays ----------------------------------------------------------------------


def _large_arrays(ctx: FileContext, here: _Directory, texts: _TypeTexts, constructs: list[Node]) -> Iterator[Candidate]:
    types: Types | None = None
    called: dict[str, bool] = {}  # by function name: callgraph.may_be_called
    for construct in constructs:
        function = scopes.enclosing_function(construct)
        if function is None or function.type not in ("function_declaration", "method_declaration"):
            continue  # package level, or a func literal (its recursion would go through a func value)
        parameter = construct.type == "parameter_declaration"
        if parameter and construct.parent != function.child_by_field_name("parameters"):
            continue  # a result, a receiver, or a func type's parameter inside the body
        pairs: list[tuple[Node, Node, int | None]] = []
        for ident, kind in _declared(construct):
            if kind is None or ident.text == b"_" or kind.text is None:
                continue
            if kind.type == "type_identifier":
                if kind.text.decode() not in _PREDECLARED:
                    pairs.append((ident, kind, None))  # looked up below
                continue
            try:
                sizes = _text_size(ctx, here, texts, kind)
            except _Unknown:
                pairs.append((ident, kind, None))
                continue
            if not any(s is not None and s >= _MIN and (parameter or s <= _STACK_LIMIT) for s in sizes):
                continue  # the size Types gives is not in the range of a finding
            known = next(iter(sizes)) if len(sizes) == 1 else None
            pairs.append((ident, kind, known))  # with the size Types gives, when the text tells it exactly
        if not pairs:
            continue
        key = callgraph.key_of(function)
        name = key.rsplit(".", 1)[-1] if key is not None else ""
        if name not in called:
            called[name] = bool(name) and callgraph.may_be_called(ctx, name)
        if not called[name]:
            continue  # nothing calls it by name: no recursion (checked before the sizes, which read other files)
        for ident, kind, known in pairs:
            if kind.type == "type_identifier" and not _declared_as_array(ctx, kind.text or b""):
                continue  # no declaration of the package gives that name an array type
            if known is None:
                types = types or Types(ctx.root, ctx.package)
                if types.kind(Type(kind)) != "array":
                    continue
                size = types.size(Type(kind))
            else:
                size = known
            if size is None or size < _MIN:
                continue
            if not parameter and size > _STACK_LIMIT:
                continue  # the compiler puts it on the heap already
            yield Candidate(ident.text.decode(), ident, construct, function, kind, size)  # type: ignore[union-attr]


def _constructs(root: Node, arrays: list[int], mentions: list[tuple[int, int]]) -> list[Node]:
    """The declarations (var_spec, short_var_declaration, parameter_declaration) whose type is written at one of
    the offsets of ``arrays`` (an array type) or ``mentions`` (a type name), in source order."""
    found: dict[int, Node] = {}
    spans = [(at, at + 1, "array_type") for at in arrays]
    spans += [(start, end, "type_identifier") for start, end in mentions]
    for start, end, kind in spans:
        node = root.named_descendant_for_byte_range(start, end)
        if node is None or node.type != kind or node.start_byte != start:
            continue  # in a comment or a string, an index, a map, a generic's type parameters, ...
        construct = _declaration_of(node)
        if construct is not None:
            found.setdefault(construct.start_byte, construct)
    return [found[at] for at in sorted(found)]


def _declaration_of(kind: Node) -> Node | None:
    """The declaration ``kind`` is the written type of, directly or as the type of a composite literal value."""
    parent = kind.parent
    if parent is None:
        return None
    if parent.type in ("var_spec", "parameter_declaration"):
        return parent if parent.child_by_field_name("type") == kind else None
    if parent.type != "composite_literal" or parent.child_by_field_name("type") != kind:
        return None
    values = parent.parent
    holder = values.parent if values is not None and values.type == "expression_list" else None
    if holder is None:
        return None
    if holder.type == "var_spec" and holder.child_by_field_name("value") == values:
        return holder
    if holder.type == "short_var_declaration" and holder.child_by_field_name("right") == values:
        return holder
    return None


def _declared(construct: Node) -> list[tuple[Node, Node | None]]:
    """(name, type as written or of its composite literal) for each name a declaration introduces."""
    if construct.type == "short_var_declaration":
        left, right = construct.child_by_field_name("left"), construct.child_by_field_name("right")
        names = [n for n in left.named_children if n.type != "comment"] if left is not None else []
        values = [v for v in right.named_children if v.type != "comment"] if right is not None else []
    else:
        names = [n for n in construct.children_by_field_name("name") if n.is_named]
        written = construct.child_by_field_name("type")
        if written is not None:
            return [(n, written) for n in names]
        value = construct.child_by_field_name("value")
        values = [v for v in value.named_children if v.type != "comment"] if value is not None else []
    if len(names) != len(values):
        return []
    return [(n, _literal_type(v)) for n, v in zip(names, values, strict=True) if n.type == "identifier"]


# -- what the text allows ------------------------------------------------------------

# An array type as written: [N]T, [4 << 10]byte, [n][m]int, [N]*T, [N](T), [N]<-chan T; also a[i]*b, f[i](x) and
# T[P any] int, which the tree tells apart. A length the size is computed from holds no brackets (only literals,
# operators and constant names evaluate).
_ARRAY_TEXT = re.compile(rb"\[([^\]\[\n]+)\][ \t]*([\w*\[(<]\w*)")
# Sizes of predeclared element types, to pass over [4]byte and [64]uint32 by their text.
_BASIC_SIZES = {b"byte": 1, b"uint8": 1, b"int8": 1, b"bool": 1, b"int16": 2, b"uint16": 2, b"int32": 4}
_BASIC_SIZES |= {b"uint32": 4, b"float32": 4, b"rune": 4, b"int": 8, b"uint": 8, b"int64": 8, b"uint64": 8}
_BASIC_SIZES |= {b"float64": 8, b"uintptr": 8, b"complex64": 8, b"complex128": 16, b"string": 16}
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DOT = ord(".")


def _hits(data: bytes) -> list[int]:
    """The offsets of the ``[`` of each array type written in ``data`` that may be 8 KiB or more.

    Passed over: ``[4]byte``-like types whose size the text gives (a decimal length of a predeclared element type)
    under the size worth a finding, ``[...]T`` (a literal's implicit length: no declaration of such a type is
    looked at) and ``map[K]V``.
    """
    found = []
    for match in _ARRAY_TEXT.finditer(data):
        at = match.start()
        if match.group(1) == b"..." or (data[at - 3 : at] == b"map" and (at < 4 or data[at - 4] not in _WORD_CHARS)):
            continue
        if not _small(match):
            found.append(at)
    return found


def _small(array: re.Match[bytes]) -> bool:
    """The text gives the array's size, under the size worth a finding: ``[64]uint32``."""
    length, size = array.group(1), _BASIC_SIZES.get(array.group(2))
    return size is not None and length.isdigit() and int(length) * size < _MIN


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


class _TypeTexts:
    """The type declarations of the files of a package, read from their text (see _type_declarations)."""

    def __init__(self, texts: list[tuple[bytes, list[tuple[bytes, int]]]]) -> None:
        self.declared: dict[bytes, list[Declaration]] = {}
        for text, names in texts:
            for name, at in names:
                self.declared.setdefault(name, []).append((text, at))
        self._sizes: dict[bytes, Values | None] = {}

    def sizes(self, name: bytes, depth: int = 0) -> Values:
        """The sizes Types may give the package's type ``name`` (None: none; it may not see a declaration, or not
        one alone); raises _Unknown when the text does not tell (a struct's layout, an array, a type of another
        package)."""
        if name not in self._sizes:
            self._sizes[name] = None  # while it is worked out: a declaration naming itself is not read
            try:
                found: set[int | None] = {None}
                for text, at in self.declared.get(name) or []:
                    found |= self._size_at(text, at, depth)
                self._sizes[name] = frozenset(found) if name in self.declared else None
            except _Unknown:
                del self._sizes[name]
                raise
        known = self._sizes[name]
        if known is None:
            raise _Unknown  # declared nowhere the text shows, or through itself
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
            raise _Unknown
        qualified = _QUALIFIED_NAME.match(text, at)
        if qualified is not None:  # Types knows the layout of a few types of other packages, no other
            known = QUALIFIED.get(qualified.group(1).decode())
            return frozenset({known[1] if known is not None else None})
        other = _other_name(text, at)
        if other is None or depth > 8:
            raise _Unknown  # a struct, a generic type
        if other.group(1) in _NAMED_SIZES:
            return frozenset({_NAMED_SIZES[other.group(1)]})
        return self.sizes(other.group(1), depth + 1)


class _FileTypes:
    """One file's type declarations (see _type_declarations), and the names they may give a large array type."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.declarations = _type_declarations(raw) if b"\ntype" in raw else []
        # Declared [N]T, not one the text shows smaller.
        self.roots = frozenset(name for name, at in self.declarations if _may_be_large_array(raw, at))
        self._others: list[tuple[bytes, bytes]] | None = None

    def others(self) -> list[tuple[bytes, bytes]]:
        """(name, other) for each name declared as another name: ``type page block``."""
        if self._others is None:
            self._others = [(n, o.group(1)) for n, at in self.declarations if (o := _other_name(self.raw, at))]
        return self._others


def _array_names(ctx: FileContext, here: _Directory) -> frozenset[bytes]:
    """The names of the package that may stand for an array of 8 KiB or more (with this file's text as it is
    now): declared ``[N]T`` (not one the text shows smaller), or as such a name (``type page block``), and so on."""
    if here.texts.get(ctx.path.name) == ctx.source.data:
        if here.arrays is None:
            here.arrays = _grown(list(here.files.values()))
        return here.arrays
    rest = [f for n, f in here.files.items() if n != ctx.path.name]
    return _grown([_FileTypes(ctx.source.data), *rest])  # the fix loop changed this file


def _grown(files: list[_FileTypes]) -> frozenset[bytes]:
    found = set().union(*(f.roots for f in files))
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


def _may_be_large_array(text: bytes, at: int) -> bool:
    if not text.startswith(b"[", at) or text.startswith(b"[]", at):
        return False
    array = _ARRAY_TEXT.match(text, at)
    return array is None or not _small(array)  # (no match: a length the text does not show whole)


def _other_name(text: bytes, at: int) -> re.Match[bytes] | None:
    return _OTHER_NAME.match(text, at) if not text.startswith((b"[", b"*"), at) else None


@dataclass
class _Directory:
    """The Go files of the package as on disk (with its tests for a test file; generated ones too), as indexed."""

    texts: dict[str, bytes]  # by file name
    files: dict[str, _FileTypes]  # by file name, those that declare types
    arrays: frozenset[bytes] | None = None  # _array_names of the files as on disk
    types: _TypeTexts | None = None  # of the files as on disk
    constants: dict[bytes, Values | None] = field(default_factory=dict)  # _literal_definitions


# Per package of the directory the engine is in, by the index's package (the index empties it when the engine
# leaves a directory); each file's type declarations, shared by the package with and without its tests.
_DIRECTORY: dict[int, tuple[index.Package, _Directory]] = index.package_cache({})
_FILES: dict[Path, _FileTypes] = index.package_cache({})


def _directory(ctx: FileContext) -> _Directory:
    """The files of the package (every file Types may read: a superset)."""
    view = ctx.package
    package = index.package(view.path.parent, view.name, view.is_test)  # read once per directory by the index
    kept = _DIRECTORY.get(id(package))
    if kept is not None and kept[0] is package:
        return kept[1]
    texts, files = {}, {}
    for member in package.members:
        name, raw = member.path.name, member.raw
        texts[name] = raw
        known = _FILES.get(member.path)
        if known is None or known.raw is not raw:
            known = _FILES[member.path] = _FileTypes(raw)
        if known.declarations:
            files[name] = known
    found = _Directory(texts, files)
    _DIRECTORY[id(package)] = (package, found)
    return found


def _type_texts(ctx: FileContext, here: _Directory) -> _TypeTexts:
    """The package's type declarations, with this file's as it is now."""
    data = ctx.source.data
    if here.texts.get(ctx.path.name) == data:
        if here.types is None:
            here.types = _TypeTexts([(f.raw, f.declarations) for f in here.files.values()])
        return here.types
    rest = [(f.raw, f.declarations) for n, f in here.files.items() if n != ctx.path.name]
    return _TypeTexts([(data, _type_declarations(data)), *rest])  # the fix loop changed this file


def _mentions(data: bytes, names: frozenset[bytes]) -> list[tuple[int, int]]:
    """Where ``data`` names one of ``names`` as a whole word, not as a field or qualified name (``x.name``)."""
    return [(at, at + len(name)) for name in names for at in spelled(data, name) if at == 0 or data[at - 1] != _DOT]


# -- sizes the text gives ------------------------------------------------------------------


class _Unknown(Exception):
    """The text alone does not tell a size: Types decides (reading the declarations of other files)."""


# Sizes of element kinds whose size does not depend on what they refer to (as Types counts them).
_KIND_SIZES = {"pointer_type": 8, "map_type": 8, "channel_type": 8, "function_type": 8, "slice_type": 24}
_KIND_SIZES |= {"interface_type": 16}
_NAMED_SIZES = _BASIC_SIZES | {b"error": 16, b"any": 16}


def _text_size(ctx: FileContext, here: _Directory, texts: _TypeTexts, kind: Node) -> Values:
    """The sizes Types may give an array type (None: no size), told by literals, this file's constants and those
    of other files written as one literal; raises _Unknown when only other files' declarations tell.

    A single size is the one Types gives: every part is known exactly (a package's constant may also give none).
    """
    lengths = _text_constant(ctx, here, kind.child_by_field_name("length"))
    element = kind.child_by_field_name("element")
    while element is not None and element.type == "parenthesized_type" and element.named_children:
        element = element.named_children[0]
    if element is None or not lengths - {None, 0}:
        return frozenset({None}) if element is None else lengths  # Types gives 0 or None: no finding either way
    if element.type == "array_type":
        inner = _text_size(ctx, here, texts, element)
    elif element.type == "type_identifier" and element.text in _NAMED_SIZES:
        inner = frozenset({_NAMED_SIZES[element.text]})
    elif element.type == "type_identifier":
        inner = texts.sizes(element.text or b"")  # a type of the package
    elif element.type in _KIND_SIZES:
        inner = frozenset({_KIND_SIZES[element.type]})
    else:
        raise _Unknown  # a struct: its layout
    return _combine(lambda n, m: n * m, lengths, inner)


def _combine(op: Callable[[int, int], int | None], left: Values, right: Values) -> Values:
    if len(left) * len(right) > 256:
        raise _Unknown
    return frozenset(None if n is None or m is None else op(n, m) for n in left for m in right)


def _text_constant(ctx: FileContext, here: _Directory, expr: Node | None, depth: int = 0) -> frozenset[int | None]:
    """The values types.constant may give ``expr``, with the package's constants read from their text."""
    if depth > 16:
        raise _Unknown
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
            raise _Unknown  # its value may name the package's constants
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


def _package_constant(here: _Directory, name: bytes) -> frozenset[int | None]:
    """The values a constant declared in another file may have: those of the lines of the directory that give
    ``name`` a single literal (``name = 16``, ``name uint = 16``), or none (its declaration may not be the one
    the file sees, nor the only one); raises _Unknown when a line gives it anything else."""
    if name not in here.constants:
        here.constants[name] = _literal_definitions(here, name)
    found = here.constants[name]
    if found is None:
        raise _Unknown
    return found


def _literal_definitions(here: _Directory, name: bytes) -> frozenset[int | None] | None:
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


def _declared_as_array(ctx: FileContext, name: bytes) -> bool:
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
    """A line of ``text`` is ``name [..]T``, after ``type`` or not (see _declared_as_array)."""
    for at in spelled(text, name):
        line = text.rfind(b"\n", 0, at) + 1
        if _ARRAY_AFTER.match(text, at + len(name)) and _LINE_BEFORE.fullmatch(text, line, at):
            return True
    return False


def _literal_type(value: Node | None) -> Node | None:
    """The array type of ``[N]T{...}``."""
    if value is None or value.type != "composite_literal":
        return None
    kind = value.child_by_field_name("type")
    return kind if kind is not None and kind.type in ("array_type", "type_identifier") else None


# -- what the function does with the array -------------------------------------------------


def _uses(candidate: Candidate, view: index.PackageView) -> list[tuple[str, Node]]:
    """Each use of a local array, classified: index, slice, length, range, range value, value, or an escape."""
    decl = scopes.resolve(candidate.ident)
    body = candidate.function.child_by_field_name("body")
    if decl is None or body is None:
        return []
    found = []
    for ref in scopes.references(decl, body):
        if ref == decl.node:
            continue
        found.append((_use(ref, candidate.function, view), ref))
    return found


def _use(ref: Node, function: Node, view: index.PackageView) -> str:
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return "value"
    if scopes.enclosing_function(ref) != function:
        return "escaping slice"  # captured by a closure: may outlive the call
    if parent.type == "index_expression" and parent.child_by_field_name("operand") == node:
        outer = parent.parent
        if outer is not None and outer.type == "unary_expression" and _operator(outer) == "&":
            return "element address"
        return "index"
    if parent.type == "slice_expression" and parent.child_by_field_name("operand") == node:
        return "slice" if _slice_stays(parent, view) else "escaping slice"
    if parent.type == "unary_expression" and _operator(parent) == "&":
        return "address"
    if parent.type == "argument_list" and _callee_name(parent.parent) in ("len", "cap"):
        if scopes.enclosing(parent, ("const_spec", "array_type"), stop=_STATEMENT_ENDS):
            return "constant length"  # len of an array is a constant, of a slice it is not
        return "length"
    if parent.type == "range_clause" and parent.child_by_field_name("right") == node:
        left = parent.child_by_field_name("left")
        names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
        return "range value" if len(names) > 1 and names[1].text != b"_" else "range"  # ranging copies the array
    return "value"


# Where a search for the constant context of a len(x) stops.
_STATEMENT_ENDS = frozenset({"block", "function_declaration", "method_declaration", "func_literal"})


def _slice_stays(slice_expr: Node, view: index.PackageView) -> bool:
    """A slice of the array that cannot leave the frame: handed to a builtin, a function of the package, ..."""
    parent = slice_expr.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "range_clause":
        return True
    if parent.type == "variadic_argument":
        parent = parent.parent
    if parent is None or parent.type != "argument_list" or parent.parent is None:
        return False
    call = parent.parent
    callee = call.child_by_field_name("function")
    if callee is None:
        return False
    if callee.type == "identifier":
        name = callee.text.decode() if callee.text else ""
        if name == "append":
            first = next((a for a in parent.named_children if a.type != "comment"), None)
            return first is not None and not scopes.contains(first, slice_expr)  # appended from, not onto
        if name in _BUILTINS:
            return True
        decl = scopes.resolve(callee)
        if decl is not None and decl.kind != "func":
            return False  # a func value: unknown code
        return not _callee_retains(view, name, _argument_index(parent, slice_expr))
    if callee.type in ("slice_type", "array_type", "parenthesized_type"):
        return True  # a conversion
    root = scopes.root_identifier(callee.child_by_field_name("operand") or callee)
    if root is None or scopes.resolve(root) is not None:
        return False  # a method of a value: maybe through an interface
    return root.text is not None and root.text.decode() in _NON_RETAINING


def _argument_index(arguments: Node, slice_expr: Node) -> int:
    found = [a for a in arguments.named_children if a.type != "comment"]
    return next((i for i, a in enumerate(found) if scopes.contains(a, slice_expr)), -1)


# Where a slice parameter is only read in place:  b[i]   len(b)   range b   copy(dst, b)   string(b)
_IN_PLACE_CALLS = frozenset({"len", "cap", "copy", "string", "clear", "min", "max"})


def _callee_retains(view: index.PackageView, name: str, position: int) -> bool:
    """The package function ``name`` may keep its ``position``-th parameter: stored, returned, sent, passed on.

    Unknown callees (not declared in the package, build-variant declarations that disagree) count as keeping it: a
    slice that escapes puts the array on the heap, and then the frame holds no array to copy.
    """
    if position < 0:
        return True
    declarations = view.functions(name)  # parses only the files that hold the name
    if not declarations:
        return True
    for declaration in declarations:
        parameter = _parameter_at(declaration, position)
        body = declaration.child_by_field_name("body")
        if parameter is None or body is None:
            return True
        decl = scopes.resolve(parameter)
        if decl is None:
            return True
        for ref in scopes.references(decl, body):
            if ref != decl.node and not _read_in_place(ref, declaration):
                return True
    return False


def _parameter_at(declaration: Node, position: int) -> Node | None:
    parameters = declaration.child_by_field_name("parameters")
    names: list[Node] = []
    for item in parameters.named_children if parameters is not None else []:
        if item.type == "variadic_parameter_declaration":
            if position >= len(names):  # f(a, b[:]...): the variadic parameter is the slice itself
                return item.child_by_field_name("name")
            break
        if item.type == "parameter_declaration":
            found = [n for n in item.children_by_field_name("name") if n.type == "identifier"]
            names += found or [item]  # an unnamed parameter: nothing reads it
    if position >= len(names):
        return None
    return names[position] if names[position].type == "identifier" else None


def _read_in_place(ref: Node, function: Node) -> bool:
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None or scopes.enclosing_function(ref) != function:
        return False
    if parent.type == "index_expression" and parent.child_by_field_name("operand") == node:
        return True
    if parent.type == "range_clause" and parent.child_by_field_name("right") == node:
        return True
    if parent.type == "argument_list" and _callee_name(parent.parent) in _IN_PLACE_CALLS:
        return True
    if parent.type == "argument_list" and parent.parent is not None:
        callee = parent.parent.child_by_field_name("function")
        operand = (
            callee.child_by_field_name("operand")
            if callee is not None and callee.type == "selector_expression"
            else None
        )
        if operand is not None and operand.type == "identifier" and scopes.resolve(operand) is None:
            return operand.text is not None and operand.text.decode() in _NON_RETAINING
    return False


def _operator(unary: Node) -> str:
    operator = unary.child_by_field_name("operator")
    return operator.type if operator is not None else ""


def _callee_name(call: Node | None) -> str:
    function = call.child_by_field_name("function") if call is not None else None
    return function.text.decode() if function is not None and function.type == "identifier" and function.text else ""


# -- the fix ---------------------------------------------------------------------------


def _plan_fix(ctx: FileContext, candidate: Candidate, uses: list[tuple[str, Node]]) -> tuple[Fix | None, str | None]:
    if candidate.size <= _IMPLICIT_LIMIT:
        return None, (
            "a make() of this size stays on the stack too; make the array smaller, allocate it once and pass it "
            "down, or turn the recursion into a loop"
        )
    if candidate.construct.type == "parameter_declaration":
        return None, "it is a parameter; changing the signature is the caller's business too"
    if candidate.type.type != "array_type":
        return None, f"{ctx.text(candidate.type)} is a named type that other code may expect"
    if any(kind in ("value", "range value") for kind, _ in uses):
        return None, f"{candidate.name} is copied, compared or ranged over by value, which a slice does not do"
    if any(kind == "constant length" for kind, _ in uses):
        return None, f"len({candidate.name}) is used as a constant, which the length of a slice is not"
    statement, replaced = _declaration_statement(candidate)
    if statement is None:
        return None, "the declaration holds other names or elements"
    element = ctx.text(candidate.type.child_by_field_name("element"))  # type: ignore[arg-type]
    length = gofmt.respace(candidate.type.child_by_field_name("length"), depth=2)  # type: ignore[arg-type]
    text = f"{candidate.name} := make([]{element}, {length})"
    message = (
        f"Allocate {candidate.name} with make([]{element}, {length}) (check: it is now allocated on the heap on "
        "every call, and the function must not rely on the array being copied)"
    )
    return ctx.fix(message, [Edit(replaced.start_byte, replaced.end_byte, text.encode())], Safety.UNSAFE), None


def _declaration_statement(candidate: Candidate) -> tuple[Node | None, Node]:
    """The statement to replace: ``var x [N]T`` alone, or ``x := [N]T{}`` with an empty literal."""
    construct = candidate.construct
    if construct.type == "var_spec":
        holder = construct.parent
        names = [n for n in construct.children_by_field_name("name") if n.is_named]
        if holder is None or holder.type != "var_declaration" or len(names) != 1:
            return None, construct
        if construct.child_by_field_name("value") is not None or construct.child_by_field_name("type") is None:
            return None, construct
        return holder, holder
    left = construct.child_by_field_name("left")
    right = construct.child_by_field_name("right")
    if left is None or right is None or len(left.named_children) != 1 or len(right.named_children) != 1:
        return None, construct
    literal = right.named_children[0]
    body = literal.child_by_field_name("body")
    if body is None or body.named_children:
        return None, construct  # elements: a make would lose them
    return construct, construct


def _name(function: Node) -> str:
    return callgraph.key_of(function) or "function"


def _kib(size: int) -> str:
    return f"{size >> 10} KiB" if size % 1024 == 0 else f"{size / 1024:.1f} KiB"


RULE = Rule(
    id="large-stack-in-recursion",
    summary="a large array in the frame of a recursive function, copied at every stack growth",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.UNSAFE,
    triggers=(b"]",),
)
