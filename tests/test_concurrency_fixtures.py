"""Companion tests run against the unsafe goldens of timer-in-loop and non-atomic-counter.

test_fixtures.py runs a case's ``<case>_test.go`` against its input and its
safe golden only. Before Go 1.23 every timer-in-loop fix that keeps a timer
across iterations is unsafe (a value in flight while Stop runs can arrive
after the drain), so the fixes whose behaviour the companions pin down (no
timer on a fast path, a drain that never blocks) live in unsafe goldens:
this runs the companions there too.
"""

from __future__ import annotations

from pathlib import Path

import gobatch
import pytest
from conftest import FIXTURES

RULES = (
    "timer-in-loop",
    "non-atomic-counter",
    "close-while-sending",
    "channel-never-closed",
    "context-not-propagated",
    "leaky-result-channel",
    "large-stack-in-recursion",
)


def _unsafe_cases() -> list[Path]:
    found = []
    for rule in RULES:
        for golden in sorted((FIXTURES / rule).rglob("*.go.unsafe.golden")):
            case = golden.with_name(golden.name.removesuffix(".unsafe.golden"))
            if case.with_name(case.stem + "_test.go").exists():
                found.append(case)
    return found


def _module_dir(case: Path) -> Path:
    return next(d for d in case.parents if (d / "go.mod").exists())


@pytest.mark.parametrize("case", _unsafe_cases(), ids=lambda c: c.relative_to(FIXTURES).as_posix())
def test_companion_passes_on_unsafe_golden(case: Path, tmp_path: Path, go_cache: Path) -> None:
    companion = case.with_name(case.stem + "_test.go")
    golden = case.with_name(case.name + ".unsafe.golden")
    batch = gobatch.Batch()
    name = batch.add(
        _module_dir(case) / "go.mod", {case.name: golden.read_bytes(), companion.name: companion.read_bytes()}, True
    )
    outcome = batch.run(tmp_path, go_cache)[name]
    assert outcome.vet_ok, outcome.vet_output
    assert outcome.test_ok, f"go test -race fails on the unsafe golden of {case.name}:\n{outcome.test_output}"
