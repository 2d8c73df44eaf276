"""`.gofix-conc.toml`: found upward from the scanned path, or given with --config."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = ".gofix-conc.toml"
_KEYS = {"select", "ignore", "exclude", "go-version", "rules"}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    go_version: tuple[int, int] | None = None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def options(self, rule_id: str) -> dict[str, Any]:
        return self.rules.get(rule_id, {})


def find(start: Path) -> Path | None:
    start = start.resolve()
    for directory in [start, *start.parents] if start.is_dir() else start.parents:
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def parse_go_version(text: str) -> tuple[int, int]:
    parts = text.strip().removeprefix("go").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ConfigError(f"not a Go version: {text!r}") from None


def _strings(data: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: '{key}' must be a list of strings")
    return tuple(value)


def load(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
    rules = data.get("rules", {})
    if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
        raise ConfigError(f"{path}: [rules.<id>] tables expected")
    version = data.get("go-version")
    return Config(
        path=path,
        select=_strings(data, "select", path),
        ignore=_strings(data, "ignore", path),
        exclude=_strings(data, "exclude", path),
        go_version=parse_go_version(str(version)) if version is not None else None,
        rules=rules,
    )
