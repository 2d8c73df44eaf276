"""The fixtures are the spec: fixtures/<rule>/<case>.go, or fixtures/<rule>/<case>/ for a package of several files.

- every line with ``// want "regexp"`` is reported, with a matching message, and no other;
- the fix output equals ``<case>.go.golden`` byte for byte (no golden: no change),
  and with --unsafe-fixes ``<case>.go.unsafe.golden`` when that file exists;
- input and golden are gofmt-clean and pass ``go vet`` in a temporary module
  (copied with the case's go.mod), and fixing the golden again changes nothing;
- a companion ``<case>_test.go`` passes ``go test -race`` against the golden; when
  the case file says ``// gofix-test: fails-before``, it fails against the input;
- a case directory (no go.mod, two files or more) is one package and one case: the
  wants of every file are checked, each file has its own golden, and the files are
  vetted (and their ``_test.go`` files run) together; a ``_test.go`` file of the package
  with a golden of its own is fixed and checked like the others (a fix that rewrites
  the package's uses in its tests too).

``GOFIX_UPDATE_GOLDEN=1`` rewrites the goldens for review before anything is
checked (never in CI); an unsafe golden is written only where the file exists
(``touch <case>.go.unsafe.golden`` to opt in).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import gobatch
import gotool
import pytest
from conftest import FIXTURES

from gofix_conc import registry
from gofix_conc.engine import Settings, Status, process

_WANT = re.compile(r'//\s*want\s+((?:"(?:[^"\\]|\\.)*"\s*)+)')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NOT_RULES = {"showcase"}


def _cases() -> list[Path]:
    cases = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name not in _NOT_RULES):
        for path in sorted(rule_dir.rglob("*.go")):
            if _is_package_case(path.parent):
                if path.parent not in cases:
                    cases.append(path.parent)
                continue
            if path.name.endswith("_test.go") and path.with_name(path.name[: -len("_test.go")] + ".go").exists():
                continue  # a companion test, run against its case
            cases.append(path)
    return cases


def _is_package_case(directory: Path) -> bool:
    """A directory under a rule's that is one package of several files (not a module of single-file cases)."""
    if directory.parent == FIXTURES or (directory / "go.mod").exists():
        return False
    return len(list(directory.glob("*.go"))) > 1


def _members(case: Path) -> list[Path]:
    """The files a case fixes: the case file, or the non-test files of a package case (and tests with a golden)."""
    if case.is_file():
        return [case]
    return sorted(
        p for p in case.glob("*.go") if not p.name.endswith("_test.go") or p.with_name(p.name + ".golden").exists()
    )


def _tests(case: Path) -> list[Path]:
    """The test files run against a case: its companion, or a package case's _test.go files."""
    if case.is_file():
        companion = case.with_name(case.stem + "_test.go")
        return [companion] if companion.exists() else []
    return sorted(case.glob("*_test.go"))


def _case_id(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def _rule_of(case: Path) -> str:
    return case.relative_to(FIXTURES).parts[0]


def _module_dir(case: Path) -> Path:
    for directory in [case, *case.parents] if case.is_dir() else case.parents:
        if (directory / "go.mod").exists():
            return directory
        if directory == FIXTURES:
            break
    raise AssertionError(f"{case}: no go.mod between the case and fixtures/")


def _wants(data: bytes) -> dict[int, list[str]]:
    wants: dict[int, list[str]] = {}
    for number, line in enumerate(data.decode().splitlines(), start=1):
        match = _WANT.search(line)
        if match:
            wants[number] = [m.encode().decode("unicode_escape") for m in _QUOTED.findall(match[1])]
    return wants


def _fix(path: Path, rule: str, unsafe: bool) -> bytes:
    result = process(path, Settings(rules=(rule,), fix=True, unsafe_fixes=unsafe))
    assert result.error is None, result.error
    assert not result.warnings, result.warnings
    if result.status is Status.CHANGED:
        assert result.new is not None
        return result.new
    return path.read_bytes()


def _update_goldens(case: Path) -> None:
    """Write the fix output as the golden (and as the unsafe golden where one exists)."""
    for member in _members(case):
        data = member.read_bytes()
        golden = member.with_name(member.name + ".golden")
        unsafe_golden = member.with_name(member.name + ".unsafe.golden")
        for path, unsafe in ((golden, False), (unsafe_golden, True)):
            if unsafe and not path.exists():
                continue  # opt in with an empty file: touch <case>.go.unsafe.golden
            fixed = _fix(member, _rule_of(case), unsafe)
            if fixed != data or path.exists():
                path.write_bytes(fixed)


def _variants(case: Path) -> list[tuple[str, dict[str, bytes], bool]]:
    """What the toolchain checks for a case: (kind, file name -> code, run the companion tests)."""
    members = {m.name: m.read_bytes() for m in _members(case)}
    if any(b"\r\n" in data for data in members.values()):
        return []  # gofmt rewrites CRLF: such cases check bytes only

    def golden(suffix: str) -> dict[str, bytes]:
        return {
            name: path.read_bytes() if (path := case_dir / (name + suffix)).exists() else data
            for name, data in members.items()
        }

    case_dir = case if case.is_dir() else case.parent
    fails_before = any(b"// gofix-test: fails-before" in data for data in members.values())
    unsafe_only = not any((case_dir / (name + ".golden")).exists() for name in members) and any(
        (case_dir / (name + ".unsafe.golden")).exists() for name in members
    )
    # A fix that is only unsafe, with a companion that fails before it: without a safe golden the "golden" is the
    # input, so the companion proves the fix against the unsafe golden instead (test_concurrency_fixtures.py).
    variants = [("input", members, fails_before), ("golden", golden(".golden"), not (unsafe_only and fails_before))]
    if any((case_dir / (name + ".unsafe.golden")).exists() for name in members):
        variants.append(("unsafe golden", golden(".unsafe.golden"), False))
    return variants


@pytest.fixture(scope="session")
def toolchain(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, go_cache: Path
) -> dict[tuple[str, str], gobatch.Outcome]:
    """go vet (and go test -race with companions) for every selected case, a few calls in all."""
    batch = gobatch.Batch()
    names: dict[tuple[str, str], str] = {}
    selected = [item.callspec.params["case"] for item in request.session.items if item.originalname == "test_fixture"]
    if os.environ.get("GOFIX_UPDATE_GOLDEN") == "1" and not os.environ.get("CI"):
        for case in selected:
            _update_goldens(case)
    for case in selected:
        tests = _tests(case)
        for kind, code, test in _variants(case):
            files = dict(code)
            if test:
                files.update({t.name: t.read_bytes() for t in tests if t.name not in files})  # fixed tests: as fixed
            names[_case_id(case), kind] = batch.add(_module_dir(case) / "go.mod", files, test and bool(tests))
    outcomes = batch.run(tmp_path_factory.mktemp("go-modules"), go_cache)  # per xdist worker
    return {key: outcomes[name] for key, name in names.items()}


def _check_toolchain(case: Path, toolchain: dict[tuple[str, str], gobatch.Outcome]) -> None:
    for kind, files, _ in _variants(case):
        for name, code in files.items():
            diff = gotool.gofmt_diff(code)
            assert diff == "", f"{kind} of {name} is not gofmt-clean:\n{diff}"
        outcome = toolchain[_case_id(case), kind]
        assert outcome.vet_ok, f"go vet fails on the {kind} of {case.name}:\n{outcome.vet_output}"
        if outcome.test_ok is not None:
            expected = kind != "input"  # the input's companion test runs only to prove it fails
            verdict = "fails" if expected else "passes"
            output = outcome.test_output
            assert outcome.test_ok == expected, f"go test -race {verdict} on {kind} of {case.name}:\n{output}"


@pytest.mark.parametrize("case", _cases(), ids=_case_id)
def test_fixture(case: Path, toolchain: dict[tuple[str, str], gobatch.Outcome]) -> None:
    rule = _rule_of(case)
    registry.get(rule)
    for member in _members(case):
        _check_findings(member, rule)
        _check_fixes(member, rule)
    _check_toolchain(case, toolchain)


def _check_findings(case: Path, rule: str) -> None:
    data = case.read_bytes()
    found = process(case, Settings(rules=(rule,)))
    assert found.error is None, found.error
    wants = _wants(data)
    got: dict[int, list[str]] = {}
    for finding in found.findings:
        got.setdefault(finding.line, []).append(finding.message)
    missing = sorted(set(wants) - set(got))
    noisy = sorted(set(got) - set(wants))
    assert not missing and not noisy, (
        f"{case.name}: missing findings on lines {missing}; noisy findings on lines {noisy}: {got}"
    )
    for line, patterns in wants.items():
        for pattern in patterns:
            assert any(re.search(pattern, m) for m in got[line]), (
                f"{case.name}, line {line}: no message matches {pattern!r}: {got[line]}"
            )


def _check_fixes(case: Path, rule: str) -> None:
    data = case.read_bytes()
    golden = case.with_name(case.name + ".golden")
    unsafe_golden = case.with_name(case.name + ".unsafe.golden")
    for path, unsafe in ((golden, False), (unsafe_golden, True)):
        if unsafe and not path.exists():
            continue
        fixed = _fix(case, rule, unsafe)
        expected = path.read_bytes() if path.exists() else data
        assert fixed.decode() == expected.decode(), f"fix output differs from {path.name}"
        assert fixed == expected
        again = _fix(path if path.exists() else case, rule, unsafe) if path.exists() else fixed
        assert again == fixed, "fixing the fixed output changed it again (not idempotent)"
