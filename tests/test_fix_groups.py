"""A change that spans files is one fix per file, all of a group: ``fix`` applies every part or none.

A toy rule stands for a declaration changed in one file and used in others:
every file of the package saying `// old` gets a part that makes it say
`// new`, and each part knows how many files the change spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gofix_conc import discovery, registry, verify
from gofix_conc.cli import app
from gofix_conc.context import FileContext
from gofix_conc.engine import Settings, Status, run, settle_groups, skip_key
from gofix_conc.model import Edit, Finding, FixKind, Rule
from gofix_conc.source import captures


def _rename(ctx: FileContext) -> Iterator[Finding]:
    spans = sum(b"// old" in p.read_bytes() for p in ctx.path.parent.glob("*.go"))
    for node in captures("(comment) @c", ctx.root).get("c", []):
        if ctx.text(node) == "// old":
            fix = ctx.fix("Say new", [Edit(node.start_byte, node.end_byte, b"// new")], group="old", files=spans)
            yield ctx.finding(node, "the package says old", fix)


RENAME = Rule(id="rename", summary="a package that says old", doc="", check=_rename, fix_kind=FixKind.SAFE)


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setattr(registry, "all_rules", lambda: {RENAME.id: RENAME})
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    paths = []
    for name, extra in [("a.go", ""), ("b.go", ""), ("c.go", "// other\n")]:
        path = tmp_path / name
        path.write_text(f"package p\n\n{extra}// old\n")
        paths.append(path)
    return paths


def _changed(results: list) -> list[str]:
    return sorted(r.path.name for r in results if r.status is Status.CHANGED)


def test_every_part_is_applied_when_every_file_takes_its_own(package: list[Path]) -> None:
    results = list(run(package, Settings(("rename",), fix=True), jobs=1))
    assert _changed(results) == ["a.go", "b.go", "c.go"]
    assert all(r.new is not None and r.new.endswith(b"// new\n") for r in results)
    assert not any(r.warnings for r in results)


def test_a_silenced_part_takes_the_others_back(package: list[Path]) -> None:
    package[1].write_text("package p\n\n//gofix-conc:ignore rename kept on purpose\n// old\n")
    results = list(run(package, Settings(("rename",), fix=True), jobs=1))
    assert _changed(results) == []
    left = [r for r in results if r.path.name in ("a.go", "c.go")]
    assert all(len(r.findings) == 1 and r.findings[0].fix is not None for r in left)  # still offered, not applied
    assert all("changes 3 files together and only 2 of them took it" in " ".join(r.warnings) for r in left)


def test_a_file_not_given_leaves_the_change_out(package: list[Path]) -> None:
    results = list(run(package[:2], Settings(("rename",), fix=True), jobs=1))
    assert _changed(results) == []
    assert all("only 2 of them" in " ".join(r.warnings) for r in results)


def test_a_skipped_part_takes_the_others_back(package: list[Path]) -> None:
    skip = frozenset({skip_key(package[2], ("rename", 4, 1))})
    results = list(run(package, Settings(("rename",), fix=True, skip=skip), jobs=1))
    assert _changed(results) == []


def test_settled_results_are_left_alone(package: list[Path]) -> None:
    results = list(run(package, Settings(("rename",), fix=True), jobs=1))
    assert settle_groups(results, Settings(("rename",), fix=True)) == results


def test_a_scan_reports_every_part(package: list[Path]) -> None:
    results = list(run(package, Settings(("rename",)), jobs=1))
    fixes = [f.fix for r in results for f in r.findings]
    assert len(fixes) == 3 and all(f is not None and f.group == "rename:old" and f.files == 3 for f in fixes)


# -- --verify keeps or rolls back a group whole --------------------------------------------------


def _rename_count(ctx: FileContext) -> Iterator[Finding]:
    """Rename the package's function ``count`` to ``total``: the declaration and every call, one part per file."""
    spans = sum(b"count(" in p.read_bytes() for p in ctx.path.parent.glob("*.go"))
    uses = [n for n in captures("(identifier) @i", ctx.root).get("i", []) if ctx.text(n) == "count"]
    if uses:
        fix = ctx.fix(
            "Rename count", [Edit(n.start_byte, n.end_byte, b"total") for n in uses], group="count", files=spans
        )
        yield ctx.finding(uses[0], "count is called total now", fix)


def _breaker(ctx: FileContext) -> Iterator[Finding]:
    for node in captures("(comment) @c", ctx.root).get("c", []):
        if ctx.text(node) == "// BREAK":
            yield ctx.finding(
                node, "breaks", ctx.fix("Break", [Edit(node.start_byte, node.end_byte, b'var _ int = "x"')])
            )


RENAME_COUNT = Rule(id="rename-count", summary="count", doc="", check=_rename_count, fix_kind=FixKind.SAFE)
BREAKER = Rule(id="breaker", summary="breaks", doc="", check=_breaker, fix_kind=FixKind.SAFE)


@pytest.fixture
def counted(tmp_path: Path, go_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(registry, "all_rules", lambda: {r.id: r for r in (RENAME_COUNT, BREAKER)})
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOFLAGS", "")
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    (tmp_path / "a.go").write_text("package p\n\nfunc count() int { return 1 }\n")
    (tmp_path / "b.go").write_text("package p\n\nfunc twice() int { return count() * 2 }\n")
    (tmp_path / "c.go").write_text("package p\n\nfunc thrice() int { return count() * 3 }\n")
    return tmp_path


def _verified(root: Path) -> verify.Report:
    settings = Settings(("rename-count", "breaker"), fix=True)
    results = list(run(discovery.go_files([root]), settings, jobs=1))
    return verify.verify(results, settings, verify.Options(mode=verify.Mode.BUILD, jobs=2))


def test_verify_keeps_a_group_whole_while_it_looks_for_a_culprit(counted: Path) -> None:
    # Any part alone breaks the build; the group whole builds. The breaker in d.go is the culprit.
    (counted / "d.go").write_text("package p\n\n// BREAK\n")
    report = _verified(counted)
    assert [(rb.path.name, rb.rule) for rb in report.rolled_back] == [("d.go", "breaker")]
    changed = {r.path.name: r.new for r in report.results if r.status is Status.CHANGED}
    assert sorted(changed) == ["a.go", "b.go", "c.go"] and all(b"total()" in t for t in changed.values())


def test_verify_rolls_back_every_part_of_a_group_that_breaks_the_build(counted: Path) -> None:
    (counted / "c.go").write_text("package p\n\nvar total = 3\n\nfunc thrice() int { return count() * total }\n")
    report = _verified(counted)
    assert sorted((rb.path.name, rb.rule) for rb in report.rolled_back) == [
        ("a.go", "rename-count"),
        ("b.go", "rename-count"),
        ("c.go", "rename-count"),
    ]
    assert not [r for r in report.results if r.status is Status.CHANGED]


# -- where one file is all there is to write ------------------------------------------------------


def test_fix_on_stdin_leaves_a_grouped_fix_out(package: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(package[0].parent)
    text = package[0].read_text()
    done = CliRunner().invoke(
        app, ["fix", "--select", "rename", "--jobs", "1", "--stdin-filename", "a.go", "-"], input=text
    )
    assert done.stdout == text  # the source back as it came
    assert "changes 3 files together and only 1 of them took it" in done.stderr


def test_fix_interactive_does_not_offer_a_grouped_fix(package: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    before = [p.read_bytes() for p in package]
    done = CliRunner().invoke(
        app, ["fix", "-i", "--select", "rename", "--jobs", "1", str(package[0].parent)], input="y\ny\ny\n"
    )
    assert "1 fix changes several files together: not offered here" in done.stdout
    assert [p.read_bytes() for p in package] == before
