"""`.gofix-conc.toml`: found upward from the scanned path, or given with --config."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gofix_conc import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = ".gofix-conc.toml"
_KEYS = {"select", "ignore", "exclude", "go-version", "rules", "per-file-ignores"}


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
    # [per-file-ignores]: glob -> rule ids not checked in the files it matches (relative to the config's directory).
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()

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


def at_least(minimum: int) -> Callable[[Any], str | None]:
    """An ``option_checks`` entry for an integer option with another lower bound than 1."""

    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum} (got {value})"

    return check


def load(path: Path | None) -> Config:
    """The settings in ``path``; every problem in it at once as one ConfigError."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: {getattr(err, 'strerror', None) or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_syntax_error(path, err)) from None
    problems: list[str] = []
    for key in sorted(set(data) - _KEYS):
        problems.append(f"unknown setting {key!r}{registry.did_you_mean(key, _KEYS)}")
    lists = {key: _strings(data, key, problems) for key in ("select", "ignore", "exclude")}
    for key in ("select", "ignore"):
        problems += [f"{key}: {registry.unknown_rule_message(i)}" for i in lists[key] if not _is_rule(i)]
    go_version = None
    if "go-version" in data:
        try:
            go_version = parse_go_version(str(data["go-version"]))
        except ConfigError as err:
            problems.append(f"go-version: {err}")
    rules = data.get("rules", {})
    if isinstance(rules, dict):
        for rule_id, options in rules.items():
            problems += _rule_problems(rule_id, options)
    else:
        problems.append("rules: expected [rules.<id>] tables")
    per_file = _per_file_ignores(data.get("per-file-ignores", {}), problems)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    return Config(path=path, go_version=go_version, rules=rules, per_file_ignores=per_file, **lists)


def _per_file_ignores(table: Any, problems: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``[per-file-ignores]``, checked as select and ignore are: lists of known rule ids (or ALL)."""
    if not isinstance(table, dict):
        problems.append(f"per-file-ignores: expected a table of glob = [rule ids] (got {_show(table)})")
        return ()
    entries = []
    for glob, ids in table.items():
        where = f"per-file-ignores.{glob!r}"
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            problems.append(f"{where}: must be a list of strings (got {_show(ids)})")
            continue
        problems += [f"{where}: {registry.unknown_rule_message(i)}" for i in ids if not _is_rule(i)]
        entries.append((glob, tuple(ids)))
    return tuple(entries)


def per_file_ignored(path: Path, root: Path, table: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[str]:
    """The rule ids ``[per-file-ignores]`` turns off for ``path`` (``ALL``: every rule).

    A glob matches the path relative to ``root`` (the config's directory) or
    the file's name, as ruff's do; ``dir/`` or ``dir/**`` matches everything
    below ``dir``; a leading ``**/`` also matches at the top.
    """
    if not table:
        return frozenset()
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        rel = path.as_posix()
    ignored: set[str] = set()
    for glob, ids in table:
        bare = glob.removeprefix("./")
        forms = {bare, bare.removeprefix("**/")}
        if bare.endswith(("/", "/**")):
            forms.add(bare.rstrip("*").rstrip("/") + "/*")
        if any(fnmatch.fnmatch(rel, g) for g in forms) or ("/" not in bare and fnmatch.fnmatch(path.name, bare)):
            ignored.update(ids)
    return frozenset(ignored)


def _syntax_error(path: Path, err: tomllib.TOMLDecodeError) -> str:
    """``FILE:LINE:COLUMN: invalid TOML: ...``, the position taken out of tomllib's message."""
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(err), re.DOTALL)
    if found is None:
        return f"{path}: invalid TOML: {err}"
    return f"{path}:{found[2]}:{found[3]}: invalid TOML: {found[1]}"


def _strings(data: dict[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key}: must be a list of strings (got {_show(value)})")
        return ()
    return tuple(value)


def _is_rule(rule_id: str) -> bool:
    return rule_id == "ALL" or rule_id in registry.all_rules()


def _rule_problems(rule_id: str, options: Any) -> list[str]:
    where = f"rules.{rule_id}"
    if not isinstance(options, dict):
        return [f"{where}: expected a [{where}] table (got {_show(options)})"]
    if rule_id not in registry.all_rules():
        return [f"[{where}]: {registry.unknown_rule_message(rule_id)}"]
    rule = registry.get(rule_id)
    problems = []
    for name, value in options.items():
        if name not in rule.default_options:
            hint = registry.did_you_mean(name, rule.default_options)
            if not hint:
                known = ", ".join(rule.default_options)
                hint = f" (its options: {known})" if known else " (the rule has no options)"
            problems.append(f"{where}.{name}: unknown option{hint}")
            continue
        problem = _type_problem(value, rule.default_options[name])
        if problem is None:
            check = rule.option_checks.get(name, _at_least_one)
            problem = check(value)
        if problem is not None:
            problems.append(f"{where}.{name}: {problem}")
    return problems


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings", dict: "tables"}


def _type_problem(value: Any, default: Any) -> str | None:
    """Whether ``value`` has the type of ``default`` (bool is not int; a list holds the default's kind of item)."""
    if default is None:
        return None
    if isinstance(default, (list, tuple)):
        sample = default[0] if default else ""  # an empty default: a list of names
        if isinstance(value, list) and all(_type_problem(v, sample) is None for v in value):
            return None
        return f"must be a list of {_PLURALS.get(type(sample), 'values')} (got {_show(value)})"
    kind = next((k for k in _KINDS if type(default) is k), None)  # exact: True is an int too
    if kind is None:
        return None
    fits = type(value) is kind or (kind is float and type(value) is int)
    return None if fits else f"must be {_KINDS[kind]} (got {_show(value)})"


def _at_least_one(value: Any) -> str | None:
    """Integers are sizes and limits unless the rule says otherwise: 0 would switch the fix off or hang it."""
    if type(value) is int and value < 1:
        return f"must be at least 1 (got {value})"
    return None


def _show(value: Any) -> str:
    """A value as it reads in TOML, near enough for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return repr(value)
