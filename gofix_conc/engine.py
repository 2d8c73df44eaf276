"""Running rules over files: one file's scan, its fix loop, and many files in parallel.

The runner never raises past a single file: each file ends as a small frozen
:class:`FileResult` (unchanged, changed, skipped or failed).
"""

from __future__ import annotations

import functools
import json
import os
import re
import traceback
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from gofix_conc import cache, discovery, edits, registry, scopes
from gofix_conc import source as source_module
from gofix_conc.context import FileContext
from gofix_conc.model import Finding, Fix, Safety
from gofix_conc.source import Source, SourceError, captures

MAX_PASSES = 10
UNUSED_IGNORE = "unused-ignore"
_IGNORE = re.compile(r"//\s*gofix-conc:ignore\s+([\w,-]+)\s*(.*)")


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

    def cache_key(self) -> str:
        return _settings_digest(
            self.rules,
            json.dumps(self.options, sort_keys=True, default=str),
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


@dataclass
class _Ignore:
    line: int
    rules: frozenset[str]
    reason: str
    node_start: int
    node_end: int
    used: bool = False


def _ignores(source: Source) -> dict[int, list[_Ignore]]:
    by_line: dict[int, list[_Ignore]] = {}
    if b"gofix-conc:ignore" not in source.data:
        return by_line
    for comment in captures("(comment) @c", source.root).get("c", []):
        match = _IGNORE.match(source.text(comment))
        if match:
            line = comment.start_point.row + 1
            entry = _Ignore(
                line, frozenset(match[1].split(",")), match[2].strip(), comment.start_byte, comment.end_byte
            )
            by_line.setdefault(line, []).append(entry)
    return by_line


def _check(
    path: Path, source: Source, settings: Settings, go_version: tuple[int, int]
) -> tuple[list[Finding], list[str]]:
    """Every rule's findings on one parsed file, minus the silenced ones."""
    scopes.forget()
    source_module.forget()
    ctx = FileContext(path, source, go_version, settings.options, fixing=settings.fix)
    ignores = _ignores(source)
    findings: list[Finding] = []
    errors: list[str] = []
    for rule_id in settings.rules:
        rule = registry.get(rule_id)
        if go_version < rule.min_go_version:
            continue
        if rule.triggers and not any(t in source.data for t in rule.triggers):
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
                    for ig in ignores.get(line, [])
                    if finding.rule in ig.rules or "all" in ig.rules
                ),
                None,
            )
            if silencer is None:
                findings.append(finding)
            else:
                silencer.used = True
    if settings.report_unused_ignores:
        for ig in (ig for group in ignores.values() for ig in group if not ig.used):
            line, column = source.position(ig.node_start)
            end_line, end_column = source.position(ig.node_end)
            message = f"ignore comment for {', '.join(sorted(ig.rules))} silences nothing"
            findings.append(
                Finding(UNUSED_IGNORE, path, ig.node_start, ig.node_end, line, column, end_line, end_column, message)
            )
    findings.sort(key=lambda f: (f.start, f.rule))
    return findings, errors


def _applicable(finding: Finding, settings: Settings) -> Fix | None:
    fix = finding.fix
    if fix is None or (fix.safety is Safety.UNSAFE and not settings.unsafe_fixes):
        return None
    return fix


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
        return FileResult(path, Status.FAILED, error=f"cannot read: {err.strerror or err}")
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
    store.put(key, result.findings, result.error, result.status.value)
    return result


def process_data(path: Path, raw: bytes, settings: Settings) -> FileResult:
    """Like :func:`process` on ``raw`` in place of the file's bytes (text not yet written)."""
    source = Source(raw)
    try:
        source.check()
    except SourceError as err:
        return FileResult(path, Status.FAILED, error=f"not analysed: {err}")
    if source.is_generated():
        return FileResult(path, Status.SKIPPED)
    go_version = settings.go_version or discovery.go_version(path)
    findings, errors = _check(path, source, settings, go_version)
    if not settings.fix:
        return FileResult(path, Status.UNCHANGED, tuple(findings), error="\n".join(errors) or None)
    fixed: list[Finding] = []
    fixed_keys: list[FixKey] = []
    warnings: list[str] = []
    data = source.data
    original = source
    passes: list[Sequence[Fix]] = []  # the fixes applied by each pass, to map offsets back

    def key(finding: Finding) -> FixKey:
        offset = finding.start
        for applied in reversed(passes):
            offset = _offset_before(offset, applied, original.crlf)
        return (finding.rule, *original.position(offset))

    for _ in range(MAX_PASSES):
        candidates = [
            (f, fix)
            for f in findings
            if (fix := _applicable(f, settings)) is not None
            and not (settings.skip and skip_key(path, key(f)) in settings.skip)
        ]
        chosen_fixes = edits.compatible(fix for _, fix in candidates)
        if not chosen_fixes:
            break
        chosen = [f for f, fix in candidates if any(fix is c for c in chosen_fixes)]
        new_data = edits.apply(data, chosen_fixes, crlf=source.crlf)
        new_source = Source(source.raw(new_data))
        if new_source.root.has_error:
            # A codemod bug: keep only the fixes that parse on their own.
            good = [
                f for f in chosen if not Source(source.raw(edits.apply(data, [f.fix], crlf=source.crlf))).root.has_error
            ]  # type: ignore[list-item]
            for bad in (f for f in chosen if f not in good):
                errors.append(f"{bad.rule} produced invalid Go at line {bad.line}; fix not applied")
            if not good:
                break
            chosen = good[:1]
            new_source = Source(source.raw(edits.apply(data, [chosen[0].fix], crlf=source.crlf)))  # type: ignore[list-item]
        fixed += chosen
        fixed_keys += [key(f) for f in chosen]
        passes.append([f.fix for f in chosen])  # type: ignore[misc]
        data, source = new_source.data, new_source
        findings, pass_errors = _check(path, source, settings, go_version)
        errors += pass_errors
    else:
        warnings.append(f"fixes did not converge after {MAX_PASSES} passes")
    remaining = tuple(f for f in findings)
    error = "\n".join(dict.fromkeys(errors)) or None
    if not fixed:
        return FileResult(path, Status.UNCHANGED, remaining, error=error, warnings=tuple(warnings))
    return FileResult(
        path,
        Status.CHANGED,
        remaining,
        tuple(fixed),
        raw,
        source.raw(data),
        error,
        tuple(warnings),
        fixed_keys=tuple(fixed_keys),
    )


def _process_many(paths: Sequence[Path], settings: Settings) -> list[FileResult]:
    return [process(p, settings) for p in paths]


def run(paths: Iterable[Path], settings: Settings, jobs: int | None = None) -> Iterator[FileResult]:
    """Results for ``paths`` in the order given; files spread over ``jobs`` processes."""
    files = list(paths)
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(files) < 8:
        for path in files:
            yield process(path, settings)
        return
    chunk = max(1, min(64, len(files) // (jobs * 8)))
    batches = [files[i : i + chunk] for i in range(0, len(files), chunk)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for results in pool.map(_process_many, batches, [settings] * len(batches)):
            yield from results
