"""Checking many small Go files with few toolchain calls.

Each piece of code becomes its own package directory in one temporary module
per go.mod; ``go vet ./...`` and ``go test -race`` then run once per module,
and their output is split back per package.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import gotool

_PATH_IN_LINE = re.compile(r"^(?:vet: )?\.?/?(p\d+)/")
_TEST_RESULT = re.compile(r"^(ok|FAIL|---)\s+(\S+)")


@dataclass
class Package:
    name: str  # the package directory in the temporary module
    files: dict[str, bytes]
    run_tests: bool = False


@dataclass
class Outcome:
    vet_ok: bool = True
    vet_output: str = ""
    test_ok: bool | None = None
    test_output: str = ""


@dataclass
class Batch:
    """Packages grouped by the go.mod they are checked under."""

    modules: dict[Path, list[Package]] = field(default_factory=dict)
    count: int = 0

    def add(self, gomod: Path, files: dict[str, bytes], run_tests: bool) -> str:
        name = f"p{self.count}"
        self.count += 1
        self.modules.setdefault(gomod, []).append(Package(name, files, run_tests))
        return name

    def run(self, work: Path, cache: Path) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for number, (gomod, packages) in enumerate(self.modules.items()):
            root = work / f"m{number}"
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            shutil.copy(gomod, root / "go.mod")
            for package in packages:
                (root / package.name).mkdir()
                for filename, data in package.files.items():
                    (root / package.name / filename).write_bytes(data)
                outcomes[package.name] = Outcome()
            _vet(root, packages, outcomes, cache)
            tested = [p for p in packages if p.run_tests and outcomes[p.name].vet_ok]
            if tested:
                _test(root, tested, outcomes, cache)
        return outcomes


def _vet(root: Path, packages: list[Package], outcomes: dict[str, Outcome], cache: Path) -> None:
    done = gotool.run([gotool.go(), "vet", "./..."], root, cache)
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    attributed = False
    for line in output.splitlines():
        match = _PATH_IN_LINE.match(line)
        if match and match[1] in outcomes:
            outcome = outcomes[match[1]]
            outcome.vet_ok = False
            outcome.vet_output += line + "\n"
            attributed = True
    if not attributed:
        for package in packages:
            outcomes[package.name].vet_ok = False
            outcomes[package.name].vet_output = output


def _test(root: Path, packages: list[Package], outcomes: dict[str, Outcome], cache: Path) -> None:
    args = [gotool.go(), "test", "-race", "-count=1", *(f"./{p.name}" for p in packages)]
    done = gotool.run(args, root, cache, timeout=600)
    output = done.stdout + done.stderr
    module_path = (root / "go.mod").read_text().split()[1]
    for package in packages:
        outcome = outcomes[package.name]
        import_path = f"{module_path}/{package.name}"
        results = [m[1] for m in map(_TEST_RESULT.match, output.splitlines()) if m and m[2] == import_path]
        outcome.test_ok = "ok" in results and "FAIL" not in results
        outcome.test_output = output
