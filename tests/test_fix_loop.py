"""The fix loop honours the safety scan showed, and names the fixes only a later pass offered.

Toy rules rewrite comments, so these tests depend on no real rule: `say-beta`
turns `// alpha` into `// beta`, `say-gamma` turns `// beta` into `// gamma`
(so a `say-gamma` fix appears once `say-beta` ran), and rules whose safety
depends on the rest of the file stand for fixes recomputed on rewritten code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gofix_conc import registry
from gofix_conc.context import FileContext
from gofix_conc.engine import Settings, Status, process
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import captures

Safety_ = Callable[[bytes], Safety]


def comment_rule(
    rule_id: str,
    old: str,
    new: str,
    safety: Safety_ = lambda data: Safety.SAFE,
    at_end: str = "",
) -> Rule:
    """Rewrite the comment `// old` to `// new`; ``at_end`` is also appended to the file by the same fix."""

    def check(ctx: FileContext) -> Iterator[Finding]:
        data = ctx.source.data
        for node in captures("(comment) @c", ctx.root).get("c", []):
            if ctx.text(node) == f"// {old}":
                edits = [Edit(node.start_byte, node.end_byte, f"// {new}".encode())]
                if at_end:
                    edits.append(Edit(len(data), len(data), at_end.encode()))
                fix = ctx.fix(f"Say {new}", edits, safety(data))
                yield ctx.finding(node, f"the comment says {old}", fix)

    return Rule(id=rule_id, summary=f"comments that say {old}", doc="", check=check, fix_kind=FixKind.SAFE)


def shared_fix_rule(rule_id: str, word: str) -> Rule:
    """Every `// word` comment is a finding, and all share one fix that splits each into two lines."""

    def check(ctx: FileContext) -> Iterator[Finding]:
        nodes = [n for n in captures("(comment) @c", ctx.root).get("c", []) if ctx.text(n) == f"// {word}"]
        if not nodes:
            return
        fix = ctx.fix("Split", [Edit(n.start_byte, n.end_byte, b"// one\n// two") for n in nodes])
        for node in nodes:
            yield ctx.finding(node, f"the comment says {word}", fix)

    return Rule(id=rule_id, summary=f"comments that say {word}", doc="", check=check, fix_kind=FixKind.SAFE)


def unsafe_while(word: str) -> Safety_:
    return lambda data: Safety.UNSAFE if f"// {word}".encode() in data else Safety.SAFE


@pytest.fixture
def use_rules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[str, ...]]:
    def install(*rules: Rule) -> tuple[str, ...]:
        monkeypatch.setattr(registry, "all_rules", lambda: {r.id: r for r in rules})
        return tuple(r.id for r in rules)

    return install


def go_file(tmp_path: Path, *comments: str) -> Path:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    path = tmp_path / "p.go"
    path.write_text("package p\n\n" + "".join(f"// {c}\n" for c in comments))
    return path


def test_a_fix_scan_showed_unsafe_stays_unsafe_when_a_later_pass_finds_it_safe(tmp_path: Path, use_rules) -> None:
    # `risky` is unsafe while the file says alpha; say-beta's fix takes alpha away.
    rules = use_rules(
        comment_rule("risky", "target", "done", unsafe_while("alpha")), comment_rule("say-beta", "alpha", "beta")
    )
    path = go_file(tmp_path, "alpha", "target")
    [scanned_unsafe] = [f for f in process(path, Settings(rules)).findings if f.rule == "risky"]
    assert scanned_unsafe.fix is not None and scanned_unsafe.fix.safety is Safety.UNSAFE

    result = process(path, Settings(rules, fix=True))
    assert result.new is not None and b"// target" in result.new and b"// beta" in result.new
    assert [f.rule for f in result.fixed] == ["say-beta"]
    [left] = result.findings
    assert left.rule == "risky" and left.fix is not None and left.fix.safety is Safety.UNSAFE  # as scan showed it

    unsafe = process(path, Settings(rules, fix=True, unsafe_fixes=True))
    assert unsafe.new is not None and b"// done" in unsafe.new and not unsafe.findings


def test_a_safe_fix_that_turns_unsafe_in_a_later_pass_is_not_applied(tmp_path: Path, use_rules) -> None:
    # Both fixes append to the end of the file: they overlap, so fragile waits for the second pass,
    # where say-beta's beta makes it unsafe.
    rules = use_rules(
        comment_rule("fragile", "target", "done", unsafe_while("beta"), at_end="// f\n"),
        comment_rule("say-beta", "alpha", "beta", at_end="// b\n"),
    )
    path = go_file(tmp_path, "alpha", "target")
    scanned = {f.rule: f.fix.safety for f in process(path, Settings(rules)).findings if f.fix}
    assert scanned == {"fragile": Safety.SAFE, "say-beta": Safety.SAFE}

    result = process(path, Settings(rules, fix=True))
    assert [f.rule for f in result.fixed] == ["say-beta"]
    [left] = result.findings
    assert left.rule == "fragile" and left.fix is not None and left.fix.safety is Safety.UNSAFE


def test_a_fix_only_a_later_pass_offers_is_held_back_and_named(tmp_path: Path, use_rules) -> None:
    # fix applies what scan listed: say-gamma's fix waits for a run whose scan lists it.
    rules = use_rules(comment_rule("say-beta", "alpha", "beta"), comment_rule("say-gamma", "beta", "gamma"))
    path = go_file(tmp_path, "alpha")
    assert [f.rule for f in process(path, Settings(rules)).findings] == ["say-beta"]

    result = process(path, Settings(rules, fix=True))
    assert result.status is Status.CHANGED and result.new is not None and b"// gamma" not in result.new
    assert [f.rule for f in result.fixed] == ["say-beta"]
    [left] = result.findings
    assert left.rule == "say-gamma" and left.fix is not None and left.fix.safety is Safety.SAFE
    [appeared] = result.appeared
    assert (appeared.key, appeared.after) == (("say-gamma", 3, 1), ("say-beta", 3, 1))

    path.write_bytes(result.new)  # the next run's scan lists it, and fix applies it
    assert [f.rule for f in process(path, Settings(rules)).findings] == ["say-gamma"]
    again = process(path, Settings(rules, fix=True))
    assert again.new is not None and b"// gamma" in again.new and not again.appeared


def test_an_unsafe_fix_only_a_later_pass_offers_is_left_reported(tmp_path: Path, use_rules) -> None:
    rules = use_rules(
        comment_rule("say-beta", "alpha", "beta"), comment_rule("say-gamma", "beta", "gamma", lambda _: Safety.UNSAFE)
    )
    path = go_file(tmp_path, "alpha")
    result = process(path, Settings(rules, fix=True))
    assert [f.rule for f in result.fixed] == ["say-beta"] and not result.appeared
    [left] = result.findings
    assert left.rule == "say-gamma" and left.fix is not None and left.fix.safety is Safety.UNSAFE


def test_findings_sharing_one_fix_shift_later_positions_once(tmp_path: Path, use_rules) -> None:
    # Both `// dup` findings carry the one fix that adds a line per comment: mapping a
    # second-pass position back must count its edits once, not once per finding.
    rules = use_rules(
        shared_fix_rule("split-dup", "dup"),
        comment_rule("say-beta", "alpha", "beta"),
        comment_rule("say-gamma", "beta", "gamma"),
    )
    path = go_file(tmp_path, "dup", "dup", "alpha")
    result = process(path, Settings(rules, fix=True))
    assert dict(zip(result.fixed_keys, result.fixed_passes, strict=True)) == {
        ("split-dup", 3, 1): 0,
        ("split-dup", 4, 1): 0,
        ("say-beta", 5, 1): 0,
    }
    [appeared] = result.appeared
    assert (appeared.key, appeared.after) == (("say-gamma", 5, 1), ("say-beta", 5, 1))


def test_fixes_that_another_fix_made_unnecessary_are_listed(tmp_path: Path, use_rules) -> None:
    # Both rules rewrite the one comment: the second is resolved by the first, never applied.
    rules = use_rules(comment_rule("say-beta", "alpha", "beta"), comment_rule("say-delta", "alpha", "delta"))
    path = go_file(tmp_path, "alpha")
    result = process(path, Settings(rules, fix=True))
    assert [f.rule for f in result.fixed] == ["say-beta"] and not result.findings
    assert [f.rule for f in result.resolved] == ["say-delta"]
