"""non-atomic-counter's fix for package-level counters: one part per file of the package.

A package-level ``var requests int`` that goroutines update with ``++`` in
one file may be read in a second and reset in a third. Making it an
``atomic.Int64`` rewrites every use in every file of the package together:
each file gets its own :class:`~gofix_conc.model.Fix` (its part), all of one
``group`` and knowing how many ``files`` take part, and ``fix`` applies every
part or none.

Every file reaches the same decision on its own: the plan of a package is
made from the package's text (every file of the directory with the same
package clause, ``_test.go`` files and files of other builds included, the
file being checked as it is now), once per package text, and each file takes
its part of it. In the file with the racy update the part rides on the rule's
findings there; any other file that declares or uses the variable gets a
finding of its own carrying its part. When a use cannot be rewritten, the
plan is refused and the rule's findings say why.

Not a rule (no ``RULE``): :func:`extend` wraps non-atomic-counter's check.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tree_sitter import Node

from gofix_conc import concurrency, ignores, imports, index, layout, scopes
from gofix_conc.context import FileContext
from gofix_conc.edits import merge_insertions
from gofix_conc.model import Edit, Finding, Fix, Rule, Safety
from gofix_conc.source import Source, spelled

if TYPE_CHECKING:
    from . import non_atomic_counter as nac_module

RULE_ID = "non-atomic-counter"
ATOMIC_PATH = "sync/atomic"
# Methods of the sync/atomic types: a use spelled ``x.Load()`` has been rewritten already.
ATOMIC_METHODS = frozenset({b"Load", b"Store", b"Add", b"Swap", b"CompareAndSwap", b"And", b"Or"})
# Package-level integer variables, read from the text: var x int, var x = 0, and the lines of var ( ... ) blocks.
_INTEGER = rb"(?:u?int(?:8|16|32|64)?|uintptr|byte|rune)"
_SPEC = rb"([A-Za-z_]\w*)[ \t]+(?:" + _INTEGER + rb"\b|=[ \t]*(?:-?[0-9]|" + _INTEGER + rb"\())"
_VAR_LINE = re.compile(rb"var[ \t]+" + _SPEC)  # matched at a line start
_VAR_BLOCK = re.compile(rb"var[ \t]*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_BLOCK_SPEC = re.compile(rb"^[ \t]+" + _SPEC, re.MULTILINE)
_OPERATORS = re.compile(rb"\+[+=]|-[-=]")  # ++ += -- -=
_NAME = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_NAME_OR_DOT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_FUNCTIONS = ("func_literal", "function_declaration", "method_declaration")


def _nac() -> nac_module:  # type: ignore[valid-type]
    # Imported when first needed: non_atomic_counter imports this module at its end.
    from . import non_atomic_counter

    return non_atomic_counter


# -- the plan of a package -------------------------------------------------------


@dataclass(frozen=True)
class File:
    """A file of the package as the plan reads it."""

    path: Path
    source: Source


@dataclass
class Plan:
    """What becomes of one package-level counter: every file's part, or why there is none."""

    name: str
    racy: str  # where goroutines update it: "a.go:12"
    parts: dict[Path, Fix] = field(default_factory=dict)
    refused: str | None = None  # why there is no fix
    kind: str = ""  # Int64, ...
    typed: bool = True  # atomic.Int64 (Go 1.19), else atomic.AddInt64


def extend(rule: Rule) -> Rule:
    """``rule`` (non-atomic-counter) with the package-level fix: run on every file, since a file
    that only reads the counter starts no goroutine but has its part to take."""
    original, triggers = rule.check, tuple(rule.triggers)

    @functools.wraps(original)  # still non_atomic_counter's check, as the registry reads it
    def check(ctx: FileContext) -> Iterator[Finding]:
        disk = _disk(ctx, triggers)
        member = disk.members.get(ctx.path)
        changed = member is None or member.raw != ctx.source.raw()  # by a fix, or not on disk: its own text counts
        # The triggers were looked for in the package's files once: the disk's answer holds for the same text.
        starts = _holds(ctx.source.data, triggers) if changed else ctx.path in disk.goroutines
        found = list(original(ctx)) if starts else []
        yield from with_parts(ctx, found, disk, changed, starts)

    return dataclasses.replace(rule, check=check, triggers=())


_PLANS: dict[tuple, dict[str, Plan | None]] = index.package_cache({})  # type: ignore[type-arg]


@dataclass
class _OnDisk:
    """What the package's files on disk tell, read from their text once per package."""

    package: index.Package
    members: dict[Path, index.Member]
    goroutines: frozenset[Path]  # the files holding one of the rule's triggers: only they can start a goroutine
    declared: frozenset[bytes]  # the package-level integer variables the files declare
    updaters: dict[bytes, frozenset[Path]] = field(default_factory=dict)  # name -> goroutine files updating it

    def updating(self, word: bytes) -> frozenset[Path]:
        """The goroutine files whose text updates ``word`` (:func:`_updated`): the only ones a plan can find racy."""
        found = self.updaters.get(word)
        if found is None:
            found = self.updaters[word] = frozenset(
                path for path in self.goroutines if _updated(self.members[path].raw, word)
            )
        return found

    @functools.cached_property
    def candidates(self) -> frozenset[bytes]:
        """The declared integer variables some goroutine file updates: the only ones a plan can be made for."""
        return frozenset(n for n in self.declared if self.updating(n))


def _holds(data: bytes, triggers: tuple[bytes, ...]) -> bool:
    return not triggers or any(t in data for t in triggers)


def _disk(ctx: FileContext, triggers: tuple[bytes, ...]) -> _OnDisk:
    package = index.package(ctx.path.parent, ctx.package.name, True)  # kept by the index while unchanged
    return package.remembered("non-atomic-counter.disk", lambda p: _read_disk(p, triggers))


def _read_disk(package: index.Package, triggers: tuple[bytes, ...]) -> _OnDisk:
    declared: set[bytes] = set()
    for member in package.members:
        declared |= _integer_variables(member.raw)
    goroutines = frozenset(m.path for m in package.members if _holds(m.raw, triggers))
    found = _OnDisk(package, {m.path: m for m in package.members}, goroutines, frozenset(declared))
    if declared:
        # _updated_names finds every name _updated does: the exact test runs on those alone.
        for path in goroutines:
            raw = found.members[path].raw
            for name in declared.intersection(_updated_names(raw)):
                if _updated(raw, name):
                    found.updaters[name] = found.updaters.get(name, frozenset()) | {path}
        for name in declared:
            found.updaters.setdefault(name, frozenset())
    return found


def _integer_variables(text: bytes) -> set[bytes]:
    """Package-level variables the text declares with an integer type or value: ``var n int``, ``n = 0`` in a block."""
    found: set[bytes] = set()
    at = 0 if text.startswith(b"var") else text.find(b"\nvar")
    while at >= 0:
        start = at if at == 0 and text.startswith(b"var") else at + 1
        line = _VAR_LINE.match(text, start)
        if line is not None:
            found.add(line[1])
        else:
            block = _VAR_BLOCK.match(text, start)
            if block is not None:
                found.update(m[1] for m in _BLOCK_SPEC.finditer(block[1]))
        at = text.find(b"\nvar", start)
    return found


def _updated_names(text: bytes) -> set[bytes]:
    """The names the text updates with ``++``, ``--``, ``+=`` or ``-=`` (not ``s.x++``), in one pass.

    Every name :func:`_updated` finds is among them: the operator after a name or a blank cannot be
    part of a match that starts one byte earlier, on a ``+`` or a ``-``.
    """
    found: set[bytes] = set()
    for operator in _OPERATORS.finditer(text):
        end = operator.start()
        while end > 0 and text[end - 1] in b" \t":
            end -= 1
        start = end
        while start > 0 and text[start - 1] in _NAME:
            start -= 1
        if start < end and (start == 0 or text[start - 1] != 0x2E):  # not after a dot
            found.add(text[start:end])
    return found


def _updated(text: bytes, word: bytes) -> bool:
    """Whether the text holds ``word++``, ``word--``, ``word += ...`` or ``word -= ...`` (not ``s.word++``)."""
    for operator in (b"++", b"--", b" +=", b" -=", b"+=", b"-="):
        needle = word + operator
        at = text.find(needle)
        while at >= 0:
            if at == 0 or text[at - 1] not in _NAME_OR_DOT:
                return True
            at = text.find(needle, at + 1)
    return False


def with_parts(ctx: FileContext, found: list[Finding], disk: _OnDisk, changed: bool, starts: bool) -> Iterator[Finding]:
    """The rule's findings in this file with the package-level fix parts on them, plus a finding
    for every part no finding carries (a file that only reads or declares the counter).

    ``changed``: the file's text is not the one on disk; ``starts``: it holds one of the rule's triggers.
    """
    data = ctx.source.data
    candidates = disk.candidates
    if changed and starts:
        candidates = candidates | {n for n in disk.declared | _integer_variables(data) if _updated(data, n)}
    mentioned = [n.decode() for n in sorted(candidates) if _mentions(data, n)]
    if not mentioned:
        yield from found
        return
    package = disk.package
    key = (ctx.path.parent, package.name, package.fingerprint(ctx.path, ctx.source.raw()))
    plans = _PLANS.setdefault(key, {})
    for name in mentioned:
        if name not in plans:
            plans[name] = plan(ctx, disk, name, starts)
    carried: set[str] = set()
    for finding in found:
        name = _package_counter(ctx, finding)
        counter_plan = plans.get(name) if name is not None else None
        if counter_plan is None:
            yield finding
        elif counter_plan.refused is not None:
            yield dataclasses.replace(finding, message=f"{finding.message} (no fix: {counter_plan.refused})")
        elif (part := counter_plan.parts.get(ctx.path)) is not None:
            carried.add(counter_plan.name)
            yield dataclasses.replace(finding, fix=part)
        else:
            yield finding
    for name in mentioned:
        counter_plan = plans[name]
        if counter_plan is None or counter_plan.refused is not None or name in carried:
            continue
        part = counter_plan.parts.get(ctx.path)
        if part is None:
            continue
        node = _first_use(ctx, name) or ctx.root
        becomes = (
            f"becomes atomic.{counter_plan.kind}"
            if counter_plan.typed
            else f"is updated with atomic.Add{counter_plan.kind}"
        )
        message = (
            f"{name} {becomes}: goroutines at {counter_plan.racy} update it without"
            " synchronisation; this file's uses are rewritten with it"
        )
        yield ctx.finding(node, message, part)


def _mentions(data: bytes, word: bytes) -> bool:
    """Whether ``word`` stands in the text as a whole word."""
    return next(spelled(data, word), None) is not None


def _package_counter(ctx: FileContext, finding: Finding) -> str | None:
    """The package-level variable a finding's update writes, or None (a local, a field, something else)."""
    node = ctx.root.descendant_for_byte_range(finding.start, finding.end)
    while node is not None and (node.start_byte, node.end_byte) == (finding.start, finding.end):
        if node.type in ("inc_statement", "dec_statement", "assignment_statement"):
            break
        node = node.parent
    if node is None or node.type not in ("inc_statement", "dec_statement", "assignment_statement"):
        return None
    target = _nac()._operand(node)
    if target.type != "identifier" or target.text is None:
        return None
    decl = scopes.resolve(target)
    if decl is not None and scopes.enclosing_function(decl.node) is not None:
        return None
    return target.text.decode()


def _first_use(ctx: FileContext, name: str) -> Node | None:
    for ident in _identifiers(ctx.source, name.encode()):
        decl = scopes.resolve(ident)
        if decl is None or scopes.enclosing_function(decl.node) is None:
            return ident
    return None


def _identifiers(source: Source, word: bytes) -> list[Node]:
    """The identifiers spelled ``word``, found where its bytes stand."""
    return scopes.named(source.root, word.decode())


# -- making the plan ---------------------------------------------------------------


class Refused(Exception):
    """A use or a declaration the fix cannot rewrite: the message says which."""


@dataclass
class Use:
    ident: Node
    kind: str  # update, store, read, done (already atomic), declaration


def plan(ctx: FileContext, disk: _OnDisk, name: str, starts: bool) -> Plan | None:
    """The fix of package-level variable ``name``, None when it is no counter goroutines race on.

    ``starts``: the checked file holds one of the rule's triggers (may start a goroutine).
    """
    word = name.encode()
    members = [m for m in disk.package.members if m.path != ctx.path]
    # The files that may update it in a goroutine first: only they are parsed when none does.
    updating = [File(ctx.path, ctx.source)] if starts and _updated(ctx.source.data, word) else []
    updaters = disk.updating(word)
    updating += [File(m.path, m.facts.source) for m in members if m.path in updaters]
    racy = _racy_updates(updating, name)
    if not racy:
        return None
    files = [File(ctx.path, ctx.source), *(File(m.path, m.facts.source) for m in members if _mentions(m.raw, word))]
    declarations = [(f, d) for f in files for d in _top_level(f.source, name)]
    variables = [(f, d) for f, d in declarations if d.kind == "var"]
    if not variables:
        return None
    result = Plan(name, racy[0], typed=ctx.at_least(1, 19))
    try:
        if name[:1].isupper():
            raise Refused(f"{name} is exported: other packages may use it")
        if len(declarations) != 1:
            raise Refused(f"{name} is declared {len(declarations)} times (in files for other builds)")
        decl_file, decl = declarations[0]
        uses = {f.path: _uses(f, name, decl) for f in files}
        result.parts, result.kind = _parts(ctx, files, name, decl_file, decl, uses)
        if all(r.split(":")[0].endswith("_test.go") for r in racy) and not decl_file.path.name.endswith("_test.go"):
            # Only tests race: whether the package's own code should pay for atomics is the maintainer's call.
            note = f" (check: only tests update {name} from goroutines; the fix changes the package's declaration)"
            result.parts = {
                path: dataclasses.replace(fix, message=fix.message + note, safety=Safety.UNSAFE)
                for path, fix in result.parts.items()
            }
    except Refused as refused:
        result.refused = str(refused)
    return result


def _top_level(source: Source, name: str) -> list[scopes.Declaration]:
    found = scopes.package_declarations(source.root)
    decl = found.get(name)
    if decl is None:
        return []
    # A name declared twice in one file (build variants cannot be in one file): the first is kept.
    return [decl]


def _where(f: File, node: Node) -> str:
    line, _ = f.source.position(node.start_byte)
    return f"{f.path.name}:{line}"


def _uses(f: File, name: str, decl: scopes.Declaration) -> list[Use]:
    """Every use of the package-level ``name`` in a file; Refused when the file cannot be read or rewritten."""
    found: list[Use] = []
    word = name.encode()
    if any(_mentions(f.source.data[a:b], word) for a, b in f.source.broken()):
        raise Refused(f"{f.path.name} holds code the grammar cannot parse")
    for ident in _identifiers(f.source, word):
        if scopes.composite_key_kind(ident) in ("field", "unknown"):
            continue  # T{requests: 1}: a field name
        resolved = scopes.resolve(ident)
        if resolved is not None and scopes.enclosing_function(resolved.node) is not None:
            continue  # a local variable or parameter of the same name
        if resolved is not None and resolved.node == ident:
            found.append(Use(ident, "declaration"))
            continue
        found.append(Use(ident, _kind(ident)))
    return found


def _kind(ident: Node) -> str:
    parent = ident.parent
    node = ident
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return "read"
    if parent.type == "selector_expression" and parent.child_by_field_name("operand") == node:
        field_node = parent.child_by_field_name("field")
        call = parent.parent
        if (
            field_node is not None
            and field_node.text in ATOMIC_METHODS
            and call is not None
            and call.type == "call_expression"
        ):
            return "done"  # requests.Load(): rewritten already (this file after its fix)
    if parent.type in ("inc_statement", "dec_statement"):
        return "update"
    statement = parent.parent
    if (
        statement is not None
        and statement.type == "assignment_statement"
        and parent == statement.child_by_field_name("left")
    ):
        operator = statement.child_by_field_name("operator")
        return "store" if operator is not None and operator.type == "=" else "update"
    return "read"


def _context(f: File, ident: Node) -> str:
    """The expression or statement around a use, for a message: ``&hits``, ``n, hits = f()``."""
    node = ident.parent or ident
    while node.parent is not None and node.type in ("parenthesized_expression", "expression_list"):
        node = node.parent
    text = " ".join(f.source.text(node).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _racy_updates(files: list[File], name: str) -> list[str]:
    """Where goroutines update the counter while something else may touch it, as the rule reports it."""
    nac = _nac()
    found: list[str] = []
    for f in sorted(files, key=lambda f: f.path.name):
        named = _identifiers(f.source, name.encode())
        idents: list[Node] | None = None  # resolved once an update stands in a goroutine: most files have none
        for ident in named:
            if _kind(ident) != "update":
                continue
            update = ident.parent
            while update is not None and update.type not in ("inc_statement", "dec_statement", "assignment_statement"):
                update = update.parent
            if update is None or nac._operand(update) != ident:
                continue
            goroutine = concurrency.goroutine_of(update, None)
            if goroutine is None:
                continue
            if idents is None:
                idents = [i for i in named if _package_level(i)]
            if ident not in idents:
                continue  # a local of the same name, or a field key
            if concurrency.holds_lock(update, goroutine.literal):
                continue
            others = [i for i in idents if i != ident]
            if concurrency.race_reason(update, goroutine, others, True) is None:
                continue
            if _silenced(f.source, update):
                continue  # kept on purpose: the other files are not asked to change for it
            found.append(_where(f, update))
    return found


def _package_level(ident: Node) -> bool:
    """Whether an identifier spelled like the variable stands for it: not ``T{requests: 1}``'s key, not a local."""
    if scopes.composite_key_kind(ident) in ("field", "unknown"):
        return False
    resolved = scopes.resolve(ident)
    return resolved is None or scopes.enclosing_function(resolved.node) is None


def _silenced(source: Source, node: Node) -> bool:
    """Whether an ignore comment silences non-atomic-counter's finding at ``node`` (as the engine reads them)."""
    return ignores.silences(source, node.start_point.row + 1, RULE_ID)


def _parts(
    ctx: FileContext,
    files: list[File],
    name: str,
    decl_file: File,
    decl: scopes.Declaration,
    uses: dict[Path, list[Use]],
) -> tuple[dict[Path, Fix], str]:
    nac = _nac()
    decl_ctx = FileContext(decl_file.path, decl_file.source, ctx.go_version, {}, fixing=False)
    type_name = nac.counter_type(decl_ctx, decl, decl.node)
    if type_name not in nac.ATOMIC:
        raise Refused(f"sync/atomic has no type for {type_name or 'its type'}")
    _linked(files, name, ctx.path.parent)
    kind, base = nac.ATOMIC[type_name]
    typed = ctx.at_least(1, 19)
    unsafe: list[str] = []
    edits: dict[Path, list[Edit]] = {}
    for f in files:
        file_uses = [u for u in uses[f.path] if u.kind != "done"]
        if not file_uses:
            continue
        if f.source.is_generated():
            raise Refused(f"{f.path.name}, a generated file, uses it: its generator would write it back")
        package, import_edits = imports.add_import(f.source, ATOMIC_PATH, _reserved(ctx, files, f))
        spell = nac.Spelling(package, name, type_name, kind, base, typed)
        file_edits: list[Edit] = []
        functions: dict[int, tuple[Node, set[str]]] = {}
        for use in file_uses:
            if use.kind == "declaration":
                file_edits += _declaration_edits(f, decl, spell)
                continue
            edit = nac.use_edit(use.ident, spell)
            if edit is None:
                raise Refused(f"its use at {_where(f, use.ident)} ({_context(f, use.ident)}) cannot be rewritten")
            function = scopes.top_level(use.ident)
            if f"{package}.".encode() in edit.text and any(
                scopes.resolve(i) is not None for i in nac._identifiers_named(function, package)
            ):
                raise Refused(f"a local name hides package {package} at {_where(f, use.ident)}")
            file_edits.append(edit)
            inner = scopes.enclosing(use.ident, _FUNCTIONS, stop=()) or function
            functions.setdefault(inner.id, (inner, set()))[1].add(use.kind)
        for inner, kinds in functions.values():
            if "read" in kinds and (kinds & {"update", "store"}):
                unsafe.append(_where(f, inner))
        if not any(f"{package}.".encode() in e.text for e in file_edits):
            import_edits = []  # requests.Add(1): the package is named in the declaration's file only
        padding = layout.realign_comments(f.source, file_edits)
        if padding is None:
            raise Refused(f"the comments beside its uses in {f.path.name} would lose their alignment")
        try:
            edits[f.path] = list(merge_insertions([*import_edits, *file_edits, *padding]))
        except ValueError:
            raise Refused(f"one statement of {f.path.name} uses it twice") from None
    atomic_type = f"atomic.{kind}" if typed else f"atomic.Add{kind}"
    count = len(edits)
    message = (
        f"Make {name} an {atomic_type} and rewrite its uses in the package ({count} files)"
        if typed
        else f"Update {name} with {atomic_type} in the package ({count} files)"
    )
    safety = Safety.SAFE
    if unsafe:
        safety = Safety.UNSAFE
        message += (
            f" (check: the function at {unsafe[0]} reads {name} and writes it; each atomic operation is atomic,"
            " the read and the write together are not: it may need Swap, CompareAndSwap or a lock)"
        )
    group = f"{RULE_ID}:{name}"
    parts = {path: Fix(message, tuple(e), safety, group, count) for path, e in edits.items()}
    return parts, kind


def _reserved(ctx: FileContext, files: list[File], f: File) -> set[str]:
    """Package-level names of the other files that an import of sync/atomic could collide with."""
    package = index.package(ctx.path.parent, ctx.package.name, True)
    taken: set[str] = set()
    for candidate in ("atomic", "stdatomic", *(f"atomic{n}" for n in range(2, 5))):
        for member in package.declaring(candidate):
            if member.path not in (f.path, ctx.path) and candidate in member.facts.names():
                taken.add(candidate)
        if ctx.path != f.path and candidate in scopes.package_declarations(ctx.root):
            taken.add(candidate)
    return taken


def _linked(files: list[File], name: str, directory: Path) -> None:
    """Refused when other code reaches the variable by its symbol: ``//go:linkname`` or assembly."""
    word = name.encode()
    for f in files:
        for line in f.source.data.splitlines():
            if line.startswith(b"//go:linkname") and word in line.split():
                raise Refused(f"{f.path.name} links it by name (//go:linkname)")
    try:
        assembly = [p for p in directory.iterdir() if p.suffix.lower() == ".s"]
    except OSError:
        assembly = []
    for path in assembly:
        try:
            text = path.read_bytes()
        except OSError:
            continue
        if "·".encode() + word in text:
            raise Refused(f"assembly in {path.name} uses it")


def _declaration_edits(f: File, decl: scopes.Declaration, spell: nac_module.Spelling) -> list[Edit]:  # type: ignore[name-defined]
    """``var requests int`` (or ``= 0``) made ``var requests atomic.Int64``; only the spec changes.

    In a ``var (...)`` block only the type changes: the names keep their column, and the trailing
    comments of the block move with the wider type (``layout.realign_comments``, run on every edit).
    """
    nac = _nac()
    spec = decl.construct
    names = [n for n in spec.children_by_field_name("name") if n.is_named]
    if spec.type != "var_spec" or len(names) != 1:
        raise Refused(f"{decl.name} is declared with other variables at {_where(f, decl.node)}")
    type_node = spec.child_by_field_name("type")
    value_list = spec.child_by_field_name("value")
    values = [v for v in (value_list.named_children if value_list else []) if v.type != "comment"]
    if values and (len(values) != 1 or not nac._is_zero(values[0])):
        raise Refused(f"{decl.name} starts at a value other than zero ({_where(f, decl.node)})")
    grouped = spec.parent is not None and spec.parent.type == "var_spec_list"
    if grouped and (values or type_node is None):
        # gofmt aligns a block's values in a column: a spec that loses its "= 0" would move the others'.
        raise Refused(f"{decl.name} is given a value in a var (...) block at {_where(f, decl.node)}")
    if not spell.typed and spell.declared == spell.base and not values:
        return []  # already int64: atomic.AddInt64(&x, 1) works on it as it is
    new_type = f"{spell.package}.{spell.kind}" if spell.typed else spell.base
    if values:  # var requests = 0, var requests int = 0
        return [Edit(names[0].end_byte, spec.end_byte, f" {new_type}".encode())]
    if type_node is None:
        raise Refused(f"its declaration at {_where(f, decl.node)} cannot be rewritten")
    return [Edit(type_node.start_byte, type_node.end_byte, new_type.encode())]
