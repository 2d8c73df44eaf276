"""How a Go package logs errors, so that code a fix adds logs the same way.

Looked for, nearest first, from the function the new code goes into:

- a logger that function can name: a parameter or a field of its receiver
  called ``log``/``logger`` (any case) of a known type (``*slog.Logger``,
  ``*log.Logger``, ``logr.Logger``, ``*zap.Logger``, ``*zap.SugaredLogger``,
  ``*logrus.Logger``/``Entry``, ``logrus.FieldLogger``), a ``logf`` method
  of the receiver's type, a ``*testing.T``/``B``/``TB`` parameter;
- a package-level ``logf(format string, args ...any)`` of the package;
- a logging package the file, else the package, imports: ``log/slog``, klog,
  logrus, glog, zap, ``log``.

A field or parameter that the package compares with nil is optional (a nil
``*slog.Logger`` panics when called): it is not used.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import weakref
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.imports import imports
from gofix_conc.package import Lazy, Package, declaration_names, text
from gofix_conc.source import Source, captures, spelled

LOGGER_NAMES = ("log", "logger", "Log", "Logger")

# Known logger types by their written type (package part as the default import name).
VALUE_TYPES = {
    "*slog.Logger": "slog",
    "*log.Logger": "log",
    "logr.Logger": "logr",
    "*zap.Logger": "zap",
    "*zap.SugaredLogger": "sugar",
    "*logrus.Logger": "logrus",
    "*logrus.Entry": "logrus",
    "logrus.FieldLogger": "logrus",
    "*testing.T": "testing",
    "*testing.B": "testing",
    "testing.TB": "testing",
}

# What a logger field's written type holds (``*slog.Logger``): a struct whose file has none has no logger field.
FIELD_TYPES = tuple(sorted({t.lstrip("*").encode() for t, kind in VALUE_TYPES.items() if kind != "testing"}))

# Logging packages in order of preference, with the kind of calls they take.
PACKAGES = (
    ("log/slog", "slog"),
    ("k8s.io/klog/v2", "printf-errorf"),
    ("k8s.io/klog", "printf-errorf"),
    ("github.com/sirupsen/logrus", "printf-errorf"),
    ("github.com/golang/glog", "printf-errorf"),
    ("go.uber.org/zap", "zap-global"),
    ("log", "printf"),
)

# A comparison of something with nil:  x.logger == nil   logger != nil
NIL_CHECKS = """
(binary_expression left: (_) @x operator: ["==" "!="] right: (nil))
"""


@dataclass(frozen=True)
class Logger:
    """Where errors go: through a value the code can name, or through a package."""

    kind: str  # slog, log, logr, zap, sugar, logrus, testing, logf, printf, printf-errorf, zap-global
    expr: str | None  # the Go expression of the logger (s.logger, t, s.logf); None for a package
    package: str | None  # import path for package-level calls (log/slog); None for a value
    found: str  # where it comes from, for messages: "s.logger (*slog.Logger)", "log/slog"


def find(source: Source, package: Package | Lazy, near: Node) -> Logger | None:
    """The logger code placed at ``near`` should use, or None when the package has no convention."""
    function = scopes.top_level(near)
    return _from_function(source, package, function) or _of_file(source, package)


# Per file, while its Source lives: the package's logf or logging import (they do not depend on the function).
_FILES: weakref.WeakKeyDictionary[Source, tuple[object, Logger | None]] = weakref.WeakKeyDictionary()


def _of_file(source: Source, package: Package | Lazy) -> Logger | None:
    hit = _FILES.get(source)
    if hit is None or hit[0] is not package:
        hit = _FILES[source] = (package, _package_logf(source, package) or _imported(source, package))
    return hit[1]


def _from_function(source: Source, package: Package | Lazy, function: Node) -> Logger | None:
    parameters = [
        (p, d)
        for field in ("parameters", "receiver")
        if (p := function.child_by_field_name(field)) is not None
        for d in p.named_children
        if d.type == "parameter_declaration"
    ]
    for params, declaration in parameters:
        type_node = declaration.child_by_field_name("type")
        written = text(type_node)
        for name in declaration.children_by_field_name("name"):
            value = text(name)
            if value == "_":
                continue
            kind = VALUE_TYPES.get(written)
            named = kind is not None and value.lower() in ("log", "logger")
            if kind == "testing" or (named and not _compared_with_nil(function, value)):
                return Logger(kind, value, None, f"{value} ({written})")
            if params.type == "parameter_list" and params == function.child_by_field_name("receiver"):
                found = _receiver_logger(source, package, value, type_node)
                if found is not None:
                    return found
    return None


def _receiver_logger(source: Source, package: Package | Lazy, receiver: str, type_node: Node | None) -> Logger | None:
    while type_node is not None and type_node.type in ("pointer_type", "generic_type"):
        type_node = type_node.named_children[0]
    if type_node is None or type_node.type != "type_identifier":
        return None
    type_name = text(type_node)
    for method in package.functions.get("logf", []) + _own_declarations(source, "logf"):
        if method.type == "method_declaration" and _receiver_type(method) == type_name and _is_printf(method):
            return Logger("logf", f"{receiver}.logf", None, f"{receiver}.logf")
    for spec in _type_specs(source, package, type_name):
        struct = spec.child_by_field_name("type")
        if struct is None or struct.type != "struct_type":
            continue
        for field in LOGGER_NAMES:
            written = text(scopes.struct_field_type(struct, field))
            kind = VALUE_TYPES.get(written)
            if kind is not None and kind != "testing" and not _field_compared_with_nil(source, package, field):
                return Logger(kind, f"{receiver}.{field}", None, f"{receiver}.{field} ({written})")
    return None


def _package_logf(source: Source, package: Package | Lazy) -> Logger | None:
    for function in package.functions.get("logf", []) + _own_declarations(source, "logf"):
        if function.type == "function_declaration" and _is_printf(function):
            return Logger("logf", "logf", None, "logf")
    return None


def _imported(source: Source, package: Package | Lazy) -> Logger | None:
    own = {i.path for i in imports(source)}
    for path, kind in PACKAGES:
        if path in own:
            return Logger(kind, None, path, path)
    for path, kind in PACKAGES:
        if package.imports_path(path):
            return Logger(kind, None, path, path)
    return None


# -- helpers ----------------------------------------------------------------


def _own_declarations(source: Source, name: str) -> list[Node]:
    return [n.parent for n in declaration_names(source) if text(n) == name and n.parent is not None]


def _type_specs(source: Source, package: Package | Lazy, name: str) -> list[Node]:
    """The declarations of type ``name`` in the file and the package, those of the package only from
    files that hold a logger field's type (other structs cannot have a logger field)."""
    return _own_type_specs(source, name) + package.types_holding(name, FIELD_TYPES)


def _own_type_specs(source: Source, name: str) -> list[Node]:
    """The file's ``type name ...`` specs (local ones too), in order: found where the text spells ``name``."""
    found = []
    for at in spelled(source.data, name.encode()):  # a spec's name is written as the word itself
        node = source.root.named_descendant_for_byte_range(at, at + len(name.encode()))
        spec = node.parent if node is not None and node.type == "type_identifier" else None
        if spec is not None and spec.type == "type_spec" and spec.child_by_field_name("name") == node:
            found.append(spec)
    return found


def _receiver_type(method: Node) -> str:
    receiver = method.child_by_field_name("receiver")
    declaration = receiver.named_children[0] if receiver is not None and receiver.named_children else None
    type_node = declaration.child_by_field_name("type") if declaration is not None else None
    while type_node is not None and type_node.type in ("pointer_type", "generic_type"):
        type_node = type_node.named_children[0]
    return text(type_node)


def _is_printf(function: Node) -> bool:
    """``(format string, args ...any)``: a printf-style logging function."""
    params = function.child_by_field_name("parameters")
    kinds = [p.type for p in params.named_children] if params is not None else []
    return (
        kinds == ["parameter_declaration", "variadic_parameter_declaration"]
        and function.child_by_field_name("result") is None
    )


def _compared_with_nil(function: Node, name: str) -> bool:
    return any(text(x) == name for x in captures(NIL_CHECKS, function).get("x", []))


def _field_compared_with_nil(source: Source, package: Package | Lazy, field: str) -> bool:
    # x.field == nil: only a file whose text holds the field's name and nil can have one.
    roots = [source.root, *(f.source.root for f in package.mentioning(field, "nil"))]
    for root in roots:
        for x in captures(NIL_CHECKS, root).get("x", []):
            if x.type == "selector_expression" and text(x.child_by_field_name("field")) == field:
                return True
    return False


def testing_parameter(function: Node) -> str | None:
    """The name of a ``*testing.T``/``B``/``TB`` parameter of ``function``: code that runs in a test."""
    params = function.child_by_field_name("parameters")
    for declaration in params.named_children if params is not None else []:
        if VALUE_TYPES.get(text(declaration.child_by_field_name("type"))) == "testing":
            names = declaration.children_by_field_name("name")
            return text(names[0]) if names else "_"
    return None


# -- imports a handler may not add --------------------------------------------

# Top-level directories of the standard library that `log` and `runtime/debug`
# import themselves (``go list -deps log runtime/debug``): a file there cannot
# import them. Used only when ``go`` is not on PATH.
STD_BELOW_LOG = frozenset(
    {"cmp", "errors", "fmt", "internal", "io", "iter", "log", "math", "os", "path", "reflect", "runtime"}
    | {"slices", "sort", "strconv", "strings", "sync", "syscall", "time", "unicode", "unsafe"}
)
_MODULE_LINE = re.compile(rb"^module\s+(\S+)", re.MULTILINE)


def import_cycle(file: Path, paths: list[str]) -> str | None:
    """The first of ``paths`` whose import would make the file's package import itself; None when none does."""
    directory = file.resolve().parent if file.is_symlink() else _resolved(file.parent)
    return _import_cycle(directory, tuple(paths))


@functools.lru_cache(maxsize=256)
def _resolved(directory: Path) -> Path:
    return directory.resolve()


@functools.lru_cache(maxsize=1024)
def _import_cycle(directory: Path, paths: tuple[str, ...]) -> str | None:
    """:func:`import_cycle` for the package in ``directory``: asked once per package and handler."""
    found = _package_path(directory)
    if found is None:
        return None  # no go.mod: the package's import path is unknown
    module, own = found
    std = _module_name(module) == "std"
    for path in paths:
        if path == own:
            return path
        if not std and "." not in path.split("/")[0]:
            continue  # a standard package imports no package of another module
        deps = _dependencies(str(module), path)
        if deps is None and std:
            deps = frozenset({own}) if own.split("/")[0] in STD_BELOW_LOG else frozenset()
        if own in (deps or ()):
            return path
    return None


def _package_path(directory: Path) -> tuple[Path, str] | None:
    """The module root above ``directory`` and the import path of the package in ``directory``."""
    for root in (directory, *directory.parents):
        name = _module_name(root)
        if name is not None:
            relative = directory.relative_to(root).as_posix()
            if name == "std":
                return root, relative
            return root, name if relative == "." else f"{name}/{relative}"
    return None


@functools.cache
def _module_name(root: Path) -> str | None:
    try:
        found = _MODULE_LINE.search((root / "go.mod").read_bytes())
    except OSError:
        return None
    return found.group(1).decode() if found else None


@functools.cache
def _dependencies(module: str, path: str) -> frozenset[str] | None:
    """``go list -deps path`` run in the module, asked once per process; None without a working go."""
    go = shutil.which("go")
    if go is None:
        return None
    try:
        done = subprocess.run(
            [str(Path(go).resolve()), "list", "-deps", path],
            cwd=module,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return frozenset(done.stdout.split()) if done.returncode == 0 else None
