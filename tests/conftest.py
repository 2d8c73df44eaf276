from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# A goroutine per item of a loop: the smallest code unbounded-goroutines fixes.
LOOP = dedent(
    """\
    package p

    func work(int) {}

    func Run(xs []int) {
    \tfor _, x := range xs {
    \t\tgo work(x)
    \t}
    }
    """
)


@pytest.fixture(scope="session")
def go_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Go build cache for the whole run (per xdist worker), so packages build once."""
    import os

    shared = os.environ.get("GOFIX_TEST_GOCACHE")
    if shared:
        return Path(shared)
    return tmp_path_factory.getbasetemp().parent / "go-cache"
