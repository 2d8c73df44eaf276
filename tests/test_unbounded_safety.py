"""The fixes unbounded-goroutines no longer offers break real programs.

For each class where the rule now reports without a fix (accept loops,
program-lifetime workers, a lock held around the loop, goroutines feeding
the loop, shutdown paths, results read only after the loop), the old fix is
written out by hand below: the fixture's input with the semaphore the rule
used to add. The fixture's companion test passes on the input (the fixture
harness checks that); here it must fail on the old fix, within its own
timeouts, and the rule must offer no fix for the same ``go`` statements.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gotool
import pytest
from conftest import FIXTURES

from gofix_conc.engine import Settings, process

CASES = FIXTURES / "unbounded-goroutines"
RULE = "unbounded-goroutines"

# The old rule's output: before the outermost loop, before the go, first in the goroutine.
SEM = "sem := make(chan struct{}, 16)"
ACQUIRE = "sem <- struct{}{}"
RELEASE = "defer func() { <-sem }()"

# case -> (function or text to anchor on, text it becomes): applied in order.
OLD_FIXES: dict[str, list[tuple[str, str]]] = {
    "accept_loop.go": [
        (
            "func ServeEcho(l net.Listener) error {\n\tfor {",
            f"func ServeEcho(l net.Listener) error {{\n\t{SEM}\n\tfor {{",
        ),
        (
            '\t\tgo echo(conn) // want "no automatic fix: the loop is fed by l.Accept[(][)]"',
            f"\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}\n\t\t\techo(conn)\n\t\t}}()",
        ),
    ],
    "lifetime_workers.go": [
        (
            "\tfor _, c := range containers {\n\t\tgo watch(ctx, c) // want "
            + '"no automatic fix: the goroutines run as long as the program"',
            f"\t{SEM}\n\tfor _, c := range containers {{\n\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}\n"
            "\t\t\twatch(ctx, c)\n\t\t}()",
        ),
    ],
    "locked_loop.go": [
        ("\tr.mu.Lock()\n\tfor _, n := range names {", f"\tr.mu.Lock()\n\t{SEM}\n\tfor _, n := range names {{"),
        (
            "\tfor _, n := range names {\n\t\tr.mu.RLock()",
            f"\t{SEM}\n\tfor _, n := range names {{\n\t\tr.mu.RLock()",
        ),
        ("\t\twg.Add(1)\n\t\tgo func() {", f"\t\twg.Add(1)\n\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}"),
    ],
    "recursive_crawl.go": [
        ("\tfor pending := 1;", f"\t{SEM}\n\tfor pending := 1;"),
        ('\t\t\tgo func() { // want "no automatic fix"\n', f"\t\t\t{ACQUIRE}\n\t\t\tgo func() {{\n\t\t\t\t{RELEASE}\n"),
    ],
    "shutdown_all.go": [
        ("\tvar wg sync.WaitGroup\n\tfor _, ", f"\tvar wg sync.WaitGroup\n\t{SEM}\n\tfor _, "),
        ("\t\twg.Add(1)\n\t\tgo func() {", f"\t\twg.Add(1)\n\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}"),
    ],
    "results_channel.go": [
        ("\tresults := make(chan Result)\n", f"\tresults := make(chan Result)\n\t{SEM}\n"),
        ("\tresults := make(chan Result, len(hosts))\n", f"\tresults := make(chan Result, len(hosts))\n\t{SEM}\n"),
        (
            '\t\tgo func() { // want "no automatic fix: the goroutines send on results, read only after the loop"\n',
            f"\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}\n",
        ),
        (
            '\t\tgo func() { // want "no limit"\n',
            f"\t\t{ACQUIRE}\n\t\tgo func() {{\n\t\t\t{RELEASE}\n",
        ),
    ],
}

# What each companion test says when the old fix breaks the program.
FAILURES = {
    "accept_loop.go": "was never greeted",
    "lifetime_workers.go": "did not return",
    "locked_loop.go": "deadlock",
    "recursive_crawl.go": "deadlock",
    "shutdown_all.go": "missed the timeout",
    "results_channel.go": "deadlock",
}


def old_fix(case: str) -> str:
    """The case's input with the semaphore the rule used to add."""
    text = (CASES / case).read_text()
    for before, after in OLD_FIXES[case]:
        assert before in text, f"{case}: the old-fix anchor {before!r} is gone"
        text = text.replace(before, after)
    return text


@pytest.mark.parametrize("case", sorted(OLD_FIXES))
def test_rule_offers_no_fix(case: str) -> None:
    """Every go statement the old fix limited is reported, and none gets a fix."""
    source = (CASES / case).read_bytes()
    found = process(CASES / case, Settings(rules=(RULE,)))
    assert found.error is None, found.error
    old = old_fix(case)
    limited_lines = {n for n, line in enumerate(source.decode().splitlines(), 1) if "no automatic fix" in line}
    assert limited_lines, f"{case}: no go statement is marked with a no-fix want"
    by_line = {f.line: f for f in found.findings}
    for line in limited_lines:
        assert line in by_line, f"{case}:{line} not reported"
        assert by_line[line].fix is None, f"{case}:{line} offers a fix again: {by_line[line].fix}"
    assert ACQUIRE in old


def test_old_fixes_break_the_programs(tmp_path: Path, go_cache: Path) -> None:
    """One module with every old fix and its companion test: each companion test fails, none hangs."""
    shutil.copy(CASES / "go.mod", tmp_path / "go.mod")
    for case in OLD_FIXES:
        (tmp_path / case).write_text(old_fix(case))
        companion = case.removesuffix(".go") + "_test.go"
        shutil.copy(CASES / companion, tmp_path / companion)
    done = gotool.run([gotool.go(), "test", "-count=1", "-v", "-timeout=120s", "."], tmp_path, go_cache, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "panic: test timed out" not in output, "a companion test hung instead of failing:\n" + output
    for case, message in FAILURES.items():
        assert message in output, f"{case}: the old fix did not fail its companion test with {message!r}:\n{output}"
