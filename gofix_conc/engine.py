"""Running rules over files: one file's scan, its fix loop, and many files in parallel.

The runner never raises past a single file: each file ends as a small frozen
:class:`FileResult` (unchanged, changed, skipped or failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import traceback
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from gofix_conc import cache, config, discovery, edits, gofmt, ignores, index, registry, scopes
from gofix_conc import source as source_module
from gofix_conc.context import FileContext
from gofix_conc.model import Finding, Fix, Problem, Safety
from gofix_conc.source import Source, SourceError, captures

MAX_PASSES = 10
UNUSED_IGNORE = "unused-ignore"


class Status(str, Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class Settings:
    """Everything a worker process needs; plain data so that it pickles."""

    rules: tuple[str, ...]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    go_version: tuple[int, int] | None = None
    fix: bool = False
    unsafe_fixes: bool = False
    report_unused_ignores: bool = False
    # Fixes not to apply, as (resolved path, *FixKey) -- see skip_key; --verify
    # re-runs the fix loop without the fixes that broke a package.
    skip: frozenset[tuple[str, str, int, int]] = frozenset()
    # Scan results are looked up here first (scans only; fixes always run).
    cache_dir: Path | None = None
    # The config's [per-file-ignores] (glob, rule ids) and the directory its globs are relative to.
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    config_root: Path | None = None

    def cache_key(self) -> str:
        return _settings_digest(
            self.rules,
            json.dumps([self.options, self.per_file_ignores, str(self.config_root)], sort_keys=True, default=str),
            self.go_version,
            self.report_unused_ignores,
        )


@functools.lru_cache(maxsize=8)
def _settings_digest(rules: tuple[str, ...], options: str, go_version: object, unused_ignores: bool) -> str:
    return cache.settings_digest(rules, {"options": options}, (go_version, unused_ignores))


# A finding's identity across the passes of the fix loop: its rule and where its
# node starts in the file as read. A later pass finds the node again at another
# offset (earlier fixes inserted text); mapped back through those fixes' edits it
# lands on the same line and column, as long as no edit rewrote the node's first
# byte. So a fix keeps its key whether it is applied in the first pass or, once
# a fix overlapping it is skipped, in another one.
FixKey = tuple[str, int, int]


def skip_key(path: Path, key: FixKey) -> tuple[str, str, int, int]:
    """The entry of ``Settings.skip`` that leaves out one fix of one file."""
    return (str(path.resolve()), *key)


@dataclass(frozen=True)
class FileResult:
    path: Path
    status: Status
    findings: tuple[Finding, ...] = ()  # what is left to report (after fixing, when fixing)
    fixed: tuple[Finding, ...] = ()  # findings whose fixes were applied
    original: bytes | None = None  # kept only for changed files
    new: bytes | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    fixed_keys: tuple[FixKey, ...] = ()  # the FixKey of each of ``fixed``
    fixed_passes: tuple[int, ...] = ()  # the pass of the fix loop (0 first) that applied each of ``fixed``
    appeared: tuple[Appeared, ...] = ()  # fixes applied that the first pass did not offer
    resolved: tuple[Finding, ...] = ()  # first-pass findings that other fixes made go away
    problems: tuple[Problem, ...] = ()  # what kept the file, or part of it, from being analysed


@dataclass(frozen=True)
class Appeared:
    """A fix the file as read did not offer, which another fix brought up: held back, not applied.

    ``key`` says where it is, ``after`` which fix of the pass before brought it
    up, both in the file as read. ``fix`` applies what ``scan`` listed and
    nothing else: code rewritten by one rule can look safe to another for the
    wrong reason (a worker started through a new closure no longer looks like a
    worker), so such a fix waits for a run whose scan lists it.
    """

    finding: Finding
    key: FixKey
    after: FixKey


def _ignore_problems(path: Path, source: Source) -> tuple[Problem, ...]:
    """Warnings for ignore comments that silence nothing whatever the code: no rule id, an unknown id, bad form.

    Any rule a gofix-conc installation knows counts, selected or not (and
    ``unused-ignore``): the same comment must not warn under another --select.
    """
    if b"gofix-conc:ignore" not in source.data:
        return ()
    known = [*registry.all_rules(), UNUSED_IGNORE]
    problems = []
    for comment in captures("(comment) @c", source.root).get("c", []):
        message = ignores.check_ignore_comment(source.text(comment), known)
        if message is not None:
            line, column = source.position(comment.start_byte)
            problems.append(Problem(path, message, "warning", line, column))
    return tuple(problems)


def _check(
    path: Path, source: Source, settings: Settings, go_version: tuple[int, int]
) -> tuple[list[Finding], list[str]]:
    """Every rule's findings on one parsed file, minus the silenced ones."""
    scopes.forget()
    source_module.forget()
    ctx = FileContext(path, source, go_version, settings.options, fixing=settings.fix)
    silencers = ignores.by_line(source)
    findings: list[Finding] = []
    errors: list[str] = []
    off = (
        config.per_file_ignored(path, settings.config_root or Path.cwd(), settings.per_file_ignores)
        if settings.per_file_ignores
        else frozenset()
    )
    for rule_id in settings.rules:
        if rule_id in off or "ALL" in off:
            continue
        rule = registry.get(rule_id)
        if go_version < rule.min_go_version:
            continue
        if rule.triggers and not ctx.holds(rule.triggers):
            continue
        ctx.rule = rule
        try:
            found = list(rule.check(ctx))
        except Exception:  # a codemod bug must not stop the other files
            errors.append(f"internal error in rule {rule_id}:\n{traceback.format_exc()}")
            continue
        for finding in found:
            silencer = next(
                (
                    ig
                    for line in (finding.line, finding.line - 1)
                    for ig in silencers.get(line, [])
                    if finding.rule in ig.rules or "all" in ig.rules
                ),
                None,
            )
            if silencer is None:
                findings.append(finding)
            else:
                silencer.used = True
    if settings.report_unused_ignores:
        for ig in (ig for group in silencers.values() for ig in group if not ig.used):
            line, column = source.position(ig.node_start)
            end_line, end_column = source.position(ig.node_end)
            message = f"ignore comment for {', '.join(sorted(ig.rules))} silences nothing"
            findings.append(
                Finding(UNUSED_IGNORE, path, ig.node_start, ig.node_end, line, column, end_line, end_column, message)
            )
    broken = source.broken()
    if broken:
        findings = [_outside(f, broken) for f in findings if not _touches(f.start, f.end, broken)]
    findings.sort(key=lambda f: (f.start, f.rule))
    return findings, errors


def _touches(start: int, end: int, regions: Sequence[tuple[int, int]]) -> bool:
    return any(start <= b and a <= end for a, b in regions)


def _outside(finding: Finding, broken: Sequence[tuple[int, int]]) -> Finding:
    """``finding`` without its fix when an edit of the fix touches code the grammar could not parse."""
    fix = finding.fix
    if fix is not None and any(_touches(e.start, e.end, broken) for e in fix.edits):
        return dataclasses.replace(finding, fix=None)
    return finding


def _applicable(finding: Finding, settings: Settings) -> Fix | None:
    fix = finding.fix
    if fix is None or (fix.safety is Safety.UNSAFE and not settings.unsafe_fixes):
        return None
    return fix


def _pinned(finding: Finding, first: Finding | None) -> Finding:
    """``finding`` of a later pass with the safety its fix had in the first pass, when that was unsafe.

    The safety ``scan`` shows is the one ``fix`` honours: a fix shown unsafe
    stays unsafe even when the code around it, rewritten by other fixes, makes
    its recomputed fix look safe. A fix that turns unsafe keeps its own safety.
    """
    fix = finding.fix
    if fix is None or first is None or first.fix is None or first.fix.safety is fix.safety:
        return finding
    if first.fix.safety is Safety.UNSAFE:
        return dataclasses.replace(finding, fix=dataclasses.replace(fix, safety=Safety.UNSAFE))
    return finding


def _offset_before(offset: int, fixes: Sequence[Fix], crlf: bool) -> int:
    """Where ``offset`` of the text after ``fixes`` was before them (start of the edit for inserted text)."""
    shift = 0
    for edit in sorted((e for f in fixes for e in f.edits), key=lambda e: (e.start, e.end)):
        start = edit.start + shift
        if offset < start:
            break
        size = len(edit.text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if crlf else edit.text)  # as written
        if offset < start + size:
            return edit.start
        shift += size - (edit.end - edit.start)
    return offset - shift


def process(path: Path, settings: Settings) -> FileResult:
    """Scan one file, and fix it to a fixed point when ``settings.fix``."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        message = f"cannot read: {err.strerror or err}"
        return FileResult(path, Status.FAILED, error=message, problems=(Problem(path, message),))
    if settings.cache_dir is None or settings.fix:
        return process_data(path, raw, settings)
    store = cache.Cache(settings.cache_dir)
    go_version = settings.go_version or discovery.go_version(path)
    key = cache.file_key(settings.cache_key(), path, go_version, raw)
    hit = store.get(key, path)
    if hit is not None:
        findings, error, status = hit
        return FileResult(path, Status(status), tuple(findings), error=error)
    result = process_data(path, raw, settings)
    if not result.problems:  # rare, and their positions are not part of the cache's record
        store.put(key, result.findings, result.error, result.status.value)
    return result


def process_data(path: Path, raw: bytes, settings: Settings) -> FileResult:
    """Like :func:`process` on ``raw`` in place of the file's bytes (text not yet written)."""
    if source_module.is_generated(raw) and _is_utf8(raw):
        return FileResult(path, Status.SKIPPED)  # not even parsed: a third of the standard library's bytes
    source = index.source_for(path, raw)  # the index may have parsed it already
    try:
        source.check_encoding()
    except SourceError as err:
        message = f"not analysed: {err}"
        line = int(str(err).split(":")[0].removeprefix("line "))
        return FileResult(path, Status.FAILED, error=message, problems=(Problem(path, message, line=line),))
    if source.is_generated():
        return FileResult(path, Status.SKIPPED)
    problems: tuple[Problem, ...] = ()
    if source.root.has_error:
        problem = _syntax_problem(path, source)
        if problem.severity == "error":
            return FileResult(path, Status.FAILED, error=problem.message, problems=(problem,))
        problems = (problem,)
    problems += _ignore_problems(path, source)
    go_version = settings.go_version or discovery.go_version(path)
    findings, errors = _check(path, source, settings, go_version)
    if not settings.fix:
        error = "\n".join(errors) or None
        return FileResult(path, Status.UNCHANGED, tuple(findings), error=error, problems=problems)
    return dataclasses.replace(_fix_loop(path, raw, source, findings, errors, settings, go_version), problems=problems)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False  # reported with its line by the parsed path
    return True


def _syntax_problem(path: Path, source: Source) -> Problem:
    """A file tree-sitter could not parse whole: newer Go (a warning, the rest is analysed) or an error.

    tree-sitter-go trails the language (Go 1.26's ``new(expr)``, 1.27's
    generic methods); gofmt, when there is one, knows the language the
    toolchain knows. Without gofmt the file is an error, as it always was.
    """
    line, column = source.position(source.first_error_offset())
    if gofmt.accepts(source.raw()):
        message = "Go syntax newer than the tree-sitter-go grammar: this declaration is not analysed"
        return Problem(path, message, "warning", line, column)
    why = "syntax error" + ("" if gofmt.available() else " (or Go syntax newer than the tree-sitter-go grammar)")
    return Problem(path, f"not analysed: line {line}, column {column}: {why}", "error", line, column)


def _breaks(before: Source, after: Source) -> bool:
    """Whether fixes made text the grammar cannot parse (beyond what it could not parse before them)."""
    if not after.root.has_error:
        return False
    regions = [before.data[a:b] for a, b in before.broken()]
    return [after.data[a:b] for a, b in after.broken()] != regions


def _nearest(offset: int, fixes: Sequence[Fix]) -> int:
    """The index of the fix whose edits come closest to ``offset``."""

    def distance(fix: Fix) -> int:
        start, end = fix.span()
        return 0 if start <= offset <= end else min(abs(offset - start), abs(offset - end))

    return min(range(len(fixes)), key=lambda i: distance(fixes[i]))


def _fix_loop(
    path: Path,
    raw: bytes,
    source: Source,
    findings: list[Finding],
    errors: list[str],
    settings: Settings,
    go_version: tuple[int, int],
) -> FileResult:
    """Apply the non-overlapping fixes, re-parse, re-run the rules, until nothing is left to apply.

    A fix keeps the safety of the finding the first pass reported (see
    :func:`_pinned`); a fix that only a later pass offers is not applied: it
    stays reported and is listed in ``FileResult.appeared`` with the fix that
    brought it up.
    """
    fixed: list[Finding] = []
    fixed_keys: list[FixKey] = []
    fixed_passes: list[int] = []
    warnings: list[str] = []
    data = source.data
    original = source
    # The distinct fixes each pass applied, to map offsets back, and the key of each.
    passes: list[list[Fix]] = []
    pass_keys: list[list[FixKey]] = []
    causes: dict[FixKey, FixKey] = {}  # later-pass fixes: the fix that brought each up

    def key(finding: Finding) -> FixKey:
        offset = finding.start
        for applied in reversed(passes):
            offset = _offset_before(offset, applied, original.crlf)
        return (finding.rule, *original.position(offset))

    first = {key(f): f for f in findings}
    for number in range(MAX_PASSES):
        keyed = [(f, key(f)) for f in findings]
        if number:
            keyed = [(_pinned(f, first.get(k)), k) for f, k in keyed]
            for f, k in keyed:
                if f.fix is not None and k not in causes and (k not in first or first[k].fix is None):
                    before = _offset_before(f.start, passes[-1], original.crlf)
                    causes[k] = pass_keys[-1][_nearest(before, passes[-1])]
        candidates = [
            (f, k, fix)
            for f, k in keyed
            if (fix := _applicable(f, settings)) is not None
            and k not in causes
            and not (settings.skip and skip_key(path, k) in settings.skip)
        ]
        chosen_fixes = edits.compatible(fix for _, _, fix in candidates)
        if not chosen_fixes:
            break
        new_source = Source(source.raw(edits.apply(data, chosen_fixes, crlf=source.crlf)))
        if _breaks(source, new_source):
            # A codemod bug: keep only the fixes that parse on their own.
            good = [
                fix
                for fix in chosen_fixes
                if not _breaks(source, Source(source.raw(edits.apply(data, [fix], crlf=source.crlf))))
            ]
            for bad in (f for f, _, fix in candidates if fix in chosen_fixes and fix not in good):
                errors.append(f"{bad.rule} produced invalid Go at line {bad.line}; fix not applied")
            if not good:
                break
            chosen_fixes = good[:1]
            new_source = Source(source.raw(edits.apply(data, chosen_fixes, crlf=source.crlf)))
        applied = set(chosen_fixes)  # findings with equal fixes are all fixed by one of them
        chosen = [(f, k) for f, k, fix in candidates if fix in applied]
        fixed += [f for f, _ in chosen]
        fixed_keys += [k for _, k in chosen]
        fixed_passes += [number] * len(chosen)
        passes.append(chosen_fixes)
        pass_keys.append([next(k for _, k, fix in candidates if fix == c) for c in chosen_fixes])
        data, source = new_source.data, new_source
        findings, pass_errors = _check(path, source, settings, go_version)
        errors += pass_errors
    else:
        warnings.append(f"fixes did not converge after {MAX_PASSES} passes")
    remaining = [(_pinned(f, first.get(k)), k) for f in findings for k in [key(f)]]
    appeared = [Appeared(f, k, causes[k]) for f, k in remaining if k in causes and _applicable(f, settings)]
    left = set(fixed_keys) | {k for _, k in remaining}
    resolved = tuple(f for k, f in first.items() if k not in left)
    error = "\n".join(dict.fromkeys(errors)) or None
    if not fixed:
        return FileResult(path, Status.UNCHANGED, tuple(f for f, _ in remaining), error=error, warnings=tuple(warnings))
    return FileResult(
        path,
        Status.CHANGED,
        tuple(f for f, _ in remaining),
        tuple(fixed),
        raw,
        source.raw(data),
        error,
        tuple(warnings),
        fixed_keys=tuple(fixed_keys),
        fixed_passes=tuple(fixed_passes),
        appeared=tuple(appeared),
        resolved=resolved,
    )


def by_rule(result: FileResult, rules: Sequence[str]) -> list[tuple[str, tuple[Finding, ...], bytes]]:
    """The fix loop of ``result`` replayed one rule at a time: (rule, findings fixed, file text after them).

    The fixes of one pass never overlap and were all made on the same text, so
    any of them can go first: each pass is split by rule in ``rules`` order.
    Passes follow one another as the loop ran them, so the last text is
    ``result.new`` byte for byte. Adjacent steps of one rule are joined.
    """
    if result.original is None or not result.fixed:
        return []
    order = {rule: i for i, rule in enumerate(rules)}
    steps: list[tuple[str, tuple[Finding, ...], bytes]] = []
    raw = result.original
    for number in sorted(set(result.fixed_passes)):
        in_pass = [f for f, n in zip(result.fixed, result.fixed_passes, strict=True) if n == number]
        source = Source(raw)
        fixes: list[Fix] = []
        for rule in sorted({f.rule for f in in_pass}, key=lambda r: (order.get(r, len(order)), r)):
            found = tuple(f for f in in_pass if f.rule == rule)
            fixes += dict.fromkeys(f.fix for f in found if f.fix is not None)
            raw = source.raw(edits.apply(source.data, fixes, crlf=source.crlf))
            if steps and steps[-1][0] == rule:
                steps[-1] = (rule, steps[-1][1] + found, raw)
            else:
                steps.append((rule, found, raw))
    if raw != result.new:
        raise AssertionError(f"{result.path}: replaying the fix loop by rule gave other text")
    return steps


def _group_parts(results: Sequence[FileResult]) -> tuple[dict[str, set[Path]], dict[str, int]]:
    """For each fix group: the files whose part was applied, and how many files the group spans."""
    applied: dict[str, set[Path]] = {}
    spans: dict[str, int] = {}
    for result in results:
        for finding in (*result.fixed, *result.findings):
            fix = finding.fix
            if fix is not None and fix.group:
                spans[fix.group] = max(spans.get(fix.group, 0), fix.files)
        for finding in result.fixed:
            if finding.fix is not None and finding.fix.group:
                applied.setdefault(finding.fix.group, set()).add(result.path)
    return applied, spans


def settle_groups(results: Sequence[FileResult], settings: Settings) -> list[FileResult]:
    """``results`` of one directory with every fix group applied whole or not at all.

    A change to a declaration used in other files is one fix per file, all of
    one group (:class:`~gofix_conc.model.Fix`). When a part was not applied (an
    ignore comment silenced it, it was skipped, it overlapped another fix, its
    file was not among those given), the files that took theirs are fixed
    again without them, and say why.
    """
    results = list(results)
    for _ in range(len(results) + 1):
        applied, spans = _group_parts(results)
        broken = {group for group, paths in applied.items() if len(paths) < spans[group]}
        if not broken:
            break
        for position, result in enumerate(results):
            keys = [
                key
                for finding, key in zip(result.fixed, result.fixed_keys, strict=True)
                if finding.fix is not None and finding.fix.group in broken
            ]
            if not keys or result.original is None:
                continue
            leave_out = settings.skip | {skip_key(result.path, key) for key in keys}
            again = process_data(result.path, result.original, dataclasses.replace(settings, skip=leave_out))
            groups = {f.fix.group: f.rule for f in result.fixed if f.fix is not None and f.fix.group in broken}
            said = [
                f"{rule} fix left out: it changes {spans[group]} files together and only "
                f"{len(applied[group])} of them took it (a part was skipped, silenced or not given)"
                for group, rule in sorted(groups.items())
            ]
            results[position] = dataclasses.replace(again, warnings=(*again.warnings, *said))
    return results


def _process_many(paths: Sequence[Path], settings: Settings) -> list[FileResult]:
    """Results for files given directory by directory; each directory's trees are dropped when it is done."""
    results = []
    for directory, files in itertools.groupby(paths, key=lambda p: p.parent):
        index.enter(directory)
        try:
            done = [process(p, settings) for p in files]
            results += settle_groups(done, settings) if settings.fix else done
        finally:
            index.release(directory)
    return results


def _batches(files: Sequence[Path], size: int) -> list[list[int]]:
    """Positions in ``files`` grouped by directory, directories packed into batches of about ``size`` files.

    A directory is never split: its package is parsed and indexed once, in one process.
    """
    directories: dict[Path, list[int]] = {}
    for position, path in enumerate(files):
        directories.setdefault(path.parent, []).append(position)
    batches: list[list[int]] = [[]]
    for positions in directories.values():
        if batches[-1] and len(batches[-1]) + len(positions) > size:
            batches.append([])
        batches[-1] += positions
    return [b for b in batches if b]


def run(paths: Iterable[Path], settings: Settings, jobs: int | None = None) -> Iterator[FileResult]:
    """Results for ``paths`` in the order given; packages spread over ``jobs`` processes."""
    files = list(paths)
    jobs = jobs or os.cpu_count() or 1
    batches = _batches(files, max(1, min(64, len(files) // (jobs * 8))))
    work = [[files[i] for i in b] for b in batches]
    ready: dict[int, FileResult] = {}
    after = 0  # results before this position were yielded
    with contextlib.ExitStack() as stack:
        if jobs <= 1 or len(files) < 8:
            done: Iterable[list[FileResult]] = (_process_many(w, settings) for w in work)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=jobs))
            done = pool.map(_process_many, work, [settings] * len(work))
        for batch, results in zip(batches, done, strict=True):
            ready.update(zip(batch, results, strict=True))
            while after in ready:
                yield ready.pop(after)
                after += 1
