"""`.gofix-conc.toml` validation, rule ids with "did you mean", and ignore comments."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gofix_conc import config, registry
from gofix_conc.ignores import check_ignore_comment

RULES = registry.all_rules()


def _load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / config.CONFIG_NAME
    path.write_text(text)
    return config.load(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(config.ConfigError) as caught:
        _load(tmp_path, text)
    return str(caught.value)


# -- valid configs ------------------------------------------------------------


def test_a_full_config_loads(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        """
        select = ["ALL"]
        ignore = ["timer-in-loop"]
        exclude = ["gen/**"]
        go-version = "1.21"

        [rules.unbounded-goroutines]
        limit = 4
        max-pool-size = 64

        [rules.goroutine-without-recover]
        handler = "panics.Report(r)"
        handler-imports = ["example.com/panics"]
        helpers = ["safeGo"]
        include-tests = true
        """.replace("\n        ", "\n"),
    )
    assert cfg.select == ("ALL",) and cfg.ignore == ("timer-in-loop",) and cfg.exclude == ("gen/**",)
    assert cfg.go_version == (1, 21)
    assert cfg.options("unbounded-goroutines") == {"limit": 4, "max-pool-size": 64}
    assert cfg.options("goroutine-without-recover")["include-tests"] is True


def test_every_rule_accepts_its_own_defaults(tmp_path: Path) -> None:
    tables = [
        f"[rules.{rule.id}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in rule.default_options.items())
        for rule in RULES.values()
    ]
    cfg = _load(tmp_path, "\n".join(tables))
    assert all(cfg.options(rule.id) == dict(rule.default_options) for rule in RULES.values())


def test_an_empty_file_and_no_file(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == config.Config(path=tmp_path / config.CONFIG_NAME)
    assert config.load(None) == config.Config()


# -- option types and ranges ---------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("limit = 0", "rules.unbounded-goroutines.limit: must be at least 1 (got 0)"),
        ("limit = -3", "rules.unbounded-goroutines.limit: must be at least 1 (got -3)"),
        ('limit = "abc"', "rules.unbounded-goroutines.limit: must be an integer (got 'abc')"),
        ("limit = true", "rules.unbounded-goroutines.limit: must be an integer (got true)"),
        ("limit = 2.5", "rules.unbounded-goroutines.limit: must be an integer (got 2.5)"),
        ("max-pool-size = 0", "rules.unbounded-goroutines.max-pool-size: must be at least 1 (got 0)"),
    ],
)
def test_integer_options(tmp_path: Path, option: str, message: str) -> None:
    path = tmp_path / config.CONFIG_NAME
    assert _error(tmp_path, f"[rules.unbounded-goroutines]\n{option}\n") == f"{path}: {message}"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("include-tests = 1", "include-tests: must be true or false (got 1)"),
        ('include-tests = "yes"', "include-tests: must be true or false (got 'yes')"),
        ("handler = 3", "handler: must be a string (got 3)"),
        ('helpers = "safeGo"', "helpers: must be a list of strings (got 'safeGo')"),
        ('handler-imports = ["log", 2]', "handler-imports: must be a list of strings (got ['log', 2])"),
    ],
)
def test_other_option_types(tmp_path: Path, option: str, message: str) -> None:
    error = _error(tmp_path, f"[rules.goroutine-without-recover]\n{option}\n")
    assert error.endswith(f": rules.goroutine-without-recover.{message}")


def test_a_rule_can_check_its_own_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = RULES["unbounded-goroutines"]
    rule = dataclasses.replace(base, option_checks={"limit": config.at_least(0)})
    monkeypatch.setattr(registry, "all_rules", lambda: {**RULES, rule.id: rule})
    assert _load(tmp_path, "[rules.unbounded-goroutines]\nlimit = 0\n").options(rule.id) == {"limit": 0}
    error = _error(tmp_path, "[rules.unbounded-goroutines]\nlimit = -1\n")
    assert error.endswith("rules.unbounded-goroutines.limit: must be at least 0 (got -1)")
    # The type is still checked before the rule's own check runs.
    assert _error(tmp_path, '[rules.unbounded-goroutines]\nlimit = "x"\n').endswith("must be an integer (got 'x')")


# -- unknown names ---------------------------------------------------------------


def test_unknown_rule_section(tmp_path: Path) -> None:
    error = _error(tmp_path, "[rules.unbounded-gorutines]\nlimit = 3\n")
    assert "unknown rule 'unbounded-gorutines'; did you mean 'unbounded-goroutines'?" in error


def test_unknown_option_in_a_rule_section(tmp_path: Path) -> None:
    error = _error(tmp_path, "[rules.unbounded-goroutines]\nlimt = 3\n")
    assert error.endswith("rules.unbounded-goroutines.limt: unknown option; did you mean 'limit'?")
    error = _error(tmp_path, "[rules.unbounded-goroutines]\nworkers = 3\n")
    assert error.endswith("rules.unbounded-goroutines.workers: unknown option (its options: limit, max-pool-size)")
    error = _error(tmp_path, "[rules.timer-in-loop]\nlimit = 3\n")
    assert error.endswith("rules.timer-in-loop.limit: unknown option (the rule has no options)")


@pytest.mark.parametrize("key", ["select", "ignore"])
def test_unknown_ids_in_select_and_ignore(tmp_path: Path, key: str) -> None:
    error = _error(tmp_path, f'{key} = ["timer-in-lop"]\n')
    assert error.endswith(f"{key}: unknown rule 'timer-in-lop'; did you mean 'timer-in-loop'?")
    error = _error(tmp_path, f'{key} = ["E501"]\n')
    assert error.endswith(f"{key}: unknown rule 'E501'; see 'gofix-conc rules'")


def test_unknown_setting(tmp_path: Path) -> None:
    assert _error(tmp_path, "selct = []\n").endswith("unknown setting 'selct'; did you mean 'select'?")


def test_malformed_tables_and_lists(tmp_path: Path) -> None:
    assert _error(tmp_path, "[rules]\nlimit = 3\n").endswith("rules.limit: expected a [rules.limit] table (got 3)")
    assert _error(tmp_path, "rules = 3\n").endswith("rules: expected [rules.<id>] tables")
    assert _error(tmp_path, 'exclude = "gen"\n').endswith("exclude: must be a list of strings (got 'gen')")
    assert _error(tmp_path, 'go-version = "next"\n').endswith("go-version: not a Go version: 'next'")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = _error(tmp_path, 'select = ["nope"]\n[rules.unbounded-goroutines]\nlimit = 0\nmax-pool-size = "x"\n')
    path = tmp_path / config.CONFIG_NAME
    assert error.splitlines() == [
        f"{path}: select: unknown rule 'nope'; see 'gofix-conc rules'",
        f"{path}: rules.unbounded-goroutines.limit: must be at least 1 (got 0)",
        f"{path}: rules.unbounded-goroutines.max-pool-size: must be an integer (got 'x')",
    ]


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    error = _error(tmp_path, 'select = ["ALL"]\n\n[rules.unbounded-goroutines]\nlimit = = 4\n')
    assert error.startswith(f"{tmp_path / config.CONFIG_NAME}:4:")
    assert "invalid TOML: " in error


def test_registry_suggests_a_close_id() -> None:
    with pytest.raises(registry.UnknownRuleError, match="did you mean 'goroutine-without-recover'"):
        registry.get("goroutine-without-recovery")


# -- ignore comments ---------------------------------------------------------------

KNOWN = list(RULES)


@pytest.mark.parametrize(
    "comment",
    [
        "//gofix-conc:ignore unbounded-goroutines",
        "// gofix-conc:ignore unbounded-goroutines the caller bounds it",
        "//gofix-conc:ignore timer-in-loop,unbounded-goroutines: both intended",
        "//gofix-conc:ignore all generated by hand",
        "// an ordinary comment",
        "// see gofix-conc docs",
    ],
)
def test_ignore_comments_without_problems(comment: str) -> None:
    assert check_ignore_comment(comment, KNOWN) is None


@pytest.mark.parametrize(
    ("comment", "problem"),
    [
        ("//gofix-conc:ignore", "ignore comment names no rule; expected //gofix-conc:ignore <rule-id> [reason]"),
        ("// gofix-conc:ignore   ", "ignore comment names no rule"),
        ("//gofix-conc:ignore : bounded", "ignore comment names no rule"),
        (
            "//gofix-conc:ignore unbounded-gorutines bounded by the caller",
            "unknown rule 'unbounded-gorutines' in ignore comment; did you mean 'unbounded-goroutines'?",
        ),
        (
            "//gofix-conc:ignore because the caller bounds it",
            "unknown rule 'because' in ignore comment; the rule id comes first: //gofix-conc:ignore <rule-id> [reason]",
        ),
        (
            "//gofix-conc:ignore timer-in-lop,unbounded-goroutines,racy",
            "unknown rules 'timer-in-lop', 'racy' in ignore comment ('timer-in-lop': did you mean 'timer-in-loop'?)",
        ),
        ("//gofix-conc:ignored unbounded-goroutines", "malformed ignore comment"),
        ("/* gofix-conc:ignore unbounded-goroutines */", "an ignore comment must be a // line comment"),
    ],
)
def test_ignore_comments_with_problems(comment: str, problem: str) -> None:
    found = check_ignore_comment(comment, KNOWN)
    assert found is not None and found.startswith(problem)
