"""The scan cache misses exactly when a file, the config or the rule set changes; --changed-since."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import git
import pytest

from gofix_conc import engine
from gofix_conc.engine import Settings, run

LOOP = dedent(
    """\
    package p

    func work(int) {{}}

    func Run{n}(xs []int) {{
    \tfor _, x := range xs {{
    \t\tgo work(x)
    \t}}
    }}
    """
)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    for n in range(3):
        (tmp_path / f"f{n}.go").write_text(LOOP.format(n=n))
    return tmp_path


def _scan(module: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Findings (as path:line rule) and the files actually analysed (cache misses)."""
    analysed: list[str] = []
    real = engine.process_data

    def counting(path: Path, raw: bytes, s: Settings) -> engine.FileResult:
        analysed.append(path.name)
        return real(path, raw, s)

    monkeypatch.setattr(engine, "process_data", counting)
    files = sorted(module.glob("*.go"))
    found = [f"{r.path.name}:{f.line} {f.rule}" for r in run(files, settings, jobs=1) for f in r.findings]
    return found, analysed


def test_cache_hits_and_misses(module: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    cache_dir = tmp_path_factory.mktemp("cache")
    settings = Settings(rules=("unbounded-goroutines",), cache_dir=cache_dir)
    first, analysed = _scan(module, settings, monkeypatch)
    assert analysed == ["f0.go", "f1.go", "f2.go"] and len(first) == 3

    again, analysed = _scan(module, settings, monkeypatch)
    assert again == first and analysed == []

    # a changed file misses, and so do the other files of its package (they may read it)
    (module / "f1.go").write_text(LOOP.format(n=1).replace("go work(x)", "work(x)"))
    import gofix_conc.cache

    gofix_conc.cache.package_digest.cache_clear()
    changed, analysed = _scan(module, settings, monkeypatch)
    assert sorted(analysed) == ["f0.go", "f1.go", "f2.go"]
    assert changed == ["f0.go:7 unbounded-goroutines", "f2.go:7 unbounded-goroutines"]
    _, analysed = _scan(module, settings, monkeypatch)
    assert analysed == []

    # other rule options or another rule set: every file misses
    options = Settings(rules=settings.rules, options={"unbounded-goroutines": {"limit": 4}}, cache_dir=cache_dir)
    _, analysed = _scan(module, options, monkeypatch)
    assert len(analysed) == 3
    rules = Settings(rules=("unbounded-goroutines", "timer-in-loop"), cache_dir=cache_dir)
    _, analysed = _scan(module, rules, monkeypatch)
    assert len(analysed) == 3

    # and the first settings still hit
    _, analysed = _scan(module, settings, monkeypatch)
    assert analysed == []


def test_cached_findings_keep_their_fixes(module: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache_dir = tmp_path_factory.mktemp("cache")
    settings = Settings(rules=("unbounded-goroutines",), cache_dir=cache_dir)
    fresh = engine.process(module / "f0.go", settings)
    cached = engine.process(module / "f0.go", settings)
    assert cached.findings == fresh.findings and cached.findings[0].fix is not None


def test_changed_since_scans_changed_and_untracked_files(module: Path) -> None:
    repo = git.Repo.init(module)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "t").set_value("user", "email", "t@example.com")
    repo.index.add(["go.mod", "f0.go", "f1.go", "f2.go"])
    repo.index.commit("base")
    (module / "f1.go").write_text(LOOP.format(n=1) + "\n// touched\n")
    (module / "new.go").write_text(LOOP.format(n=9))
    scan = [sys.executable, "-m", "gofix_conc", "scan", "--select", "unbounded-goroutines"]
    done = subprocess.run(
        [*scan, "--changed-since", "HEAD", "."],
        cwd=module,
        capture_output=True,
        text=True,
    )
    files = sorted(line.split(":")[0] for line in done.stdout.splitlines() if ".go:" in line)
    assert files == ["f1.go", "new.go"], done.stdout + done.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "scan", "--changed-since", "no-such-rev", "."],
        cwd=module,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown revision" in bad.stderr
