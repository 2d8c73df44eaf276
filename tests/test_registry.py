"""Every rule is documented, has fixtures, and a unique kebab-case id."""

from __future__ import annotations

import re

import pytest
from conftest import FIXTURES

from gofix_conc import registry
from gofix_conc.model import FixKind, Rule

SECTIONS = [
    "## What it does",
    "## Why is this bad?",
    "## Example",
    "Use instead:",
    "## What the fix does",
    "## Fix safety",
]
RULES = list(registry.all_rules().values())


def test_the_five_core_rules_are_registered() -> None:
    # The core set grows as codemods land; the engine's own rule must be there.
    assert "unbounded-goroutines" in registry.all_rules()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_documented_and_has_fixtures(rule: Rule) -> None:
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.id), "ids are kebab-case and name the hazard"
    module = rule.check.__module__
    assert module == "gofix_conc.codemods." + rule.id.replace("-", "_"), "the module is the id with underscores"
    for section in SECTIONS:
        if section == "## What the fix does" and rule.fix_kind is FixKind.NONE:
            continue
        assert section in rule.doc, f"{rule.id}: documentation lacks {section!r}"
    assert rule.summary and not rule.summary.endswith(".")
    cases = [p for p in (FIXTURES / rule.id).rglob("*.go") if "vendor" not in p.parts]
    positives = [p for p in cases if b"// want " in p.read_bytes()]
    assert positives, f"{rule.id}: no fixture with a finding"
    assert len(positives) < len(cases), f"{rule.id}: no fixture file of code that must not be flagged"


def test_selection() -> None:
    every = registry.selected(["ALL"])
    assert [r.id for r in every] == sorted(r.id for r in every)
    assert [r.id for r in registry.selected(["unbounded-goroutines"])] == ["unbounded-goroutines"]
    assert "unbounded-goroutines" not in [r.id for r in registry.selected([], ["unbounded-goroutines"])]
    with pytest.raises(registry.UnknownRuleError):
        registry.selected(["nope-nope"])
