"""A scan-result cache: one small JSON file per (file content, file name, settings).

A key covers everything a scan's result depends on: the file's bytes and
name (``_test.go`` matters to some rules), the content of the other files
of its package (directory), the module's Go version, the
selected rules with their options, the tool version and the source of every
selected codemod. Changing any of them misses the cache; nothing is ever
invalidated by hand. Writes go through a temporary file and a rename, so
parallel workers and crashed runs never leave a torn entry.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

from gofix_conc import __version__, registry
from gofix_conc.model import Edit, Finding, Fix, Safety

FORMAT = 2  # 2: fixes carry their group


def default_dir() -> Path:
    return Path(platformdirs.user_cache_dir("gofix-conc"))


@functools.cache
def _rule_source_digest(rule_id: str) -> str:
    rule = registry.get(rule_id)
    try:
        source = inspect.getsource(inspect.getmodule(rule.check))  # type: ignore[arg-type]
    except (OSError, TypeError):
        source = repr(rule)
    return hashlib.sha256(source.encode()).hexdigest()


@functools.cache
def _engine_digest() -> str:
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for module in sorted(package.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


def settings_digest(rules: tuple[str, ...], options: dict[str, Any], extra: tuple[Any, ...]) -> str:
    """What the result of a scan depends on apart from the file."""
    parts = {
        "format": FORMAT,
        "version": __version__,
        "engine": _engine_digest(),
        "rules": {r: _rule_source_digest(r) for r in rules},
        "options": options,
        "extra": [repr(e) for e in extra],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@functools.cache
def package_digest(directory: Path) -> str:
    """The content of every ``.go`` file of the directory: its packages, tests included.

    Rules read the package's other files (the sizes of types declared there,
    the names an import must not take, recover helpers), so any change to
    one of them must miss the cache. Hashed once per directory and process:
    a scan reads each file's bytes twice at most, and parses none for this.
    """
    digest = hashlib.sha256()
    try:
        entries = sorted((e for e in os.scandir(directory) if e.name.endswith(".go")), key=lambda e: e.name)
        for entry in entries:
            if entry.is_file():
                with open(entry.path, "rb") as handle:
                    content = hashlib.sha256(handle.read()).hexdigest()
                digest.update(f"{entry.name}\0{content}\0".encode())
    except OSError:
        pass
    return digest.hexdigest()


def file_key(settings_key: str, path: Path, go_version: tuple[int, int], raw: bytes) -> str:
    digest = hashlib.sha256(raw)
    package = package_digest(path.parent.resolve())
    digest.update(f"\0{path.name}\0{go_version}\0{settings_key}\0{package}".encode())
    return digest.hexdigest()


def _encode(finding: Finding) -> dict[str, Any]:
    fix = finding.fix
    return {
        "rule": finding.rule,
        "range": [finding.start, finding.end, finding.line, finding.column, finding.end_line, finding.end_column],
        "message": finding.message,
        "fix": None
        if fix is None
        else {
            "message": fix.message,
            "safety": fix.safety.value,
            "edits": [[e.start, e.end, base64.b64encode(e.text).decode()] for e in fix.edits],
            "group": [fix.group, fix.files],
        },
    }


def _decode(data: dict[str, Any], path: Path) -> Finding:
    fix = data["fix"]
    start, end, line, column, end_line, end_column = data["range"]
    return Finding(
        data["rule"],
        path,
        start,
        end,
        line,
        column,
        end_line,
        end_column,
        data["message"],
        None
        if fix is None
        else Fix(
            fix["message"],
            tuple(Edit(s, e, base64.b64decode(t)) for s, e, t in fix["edits"]),
            Safety(fix["safety"]),
            *fix["group"],
        ),
    )


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory / f"v{FORMAT}"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, path: Path) -> tuple[list[Finding], str | None, str] | None:
        """(findings, error, status) stored under ``key``, or None on a miss."""
        try:
            data = json.loads(self._path(key).read_bytes())
            return [_decode(f, path) for f in data["findings"]], data["error"], data["status"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, findings: list[Finding] | tuple[Finding, ...], error: str | None, status: str) -> None:
        target = self._path(key)
        payload = json.dumps({"findings": [_encode(f) for f in findings], "error": error, "status": status})
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
            os.replace(tmp, target)
        except OSError:
            pass  # a cache that cannot be written only costs time
