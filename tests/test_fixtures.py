"""The fixtures are the spec: fixtures/<rule>/<case>.go.

- every line with ``// want "regexp"`` is reported, with a matching message, and no other;
- the fix output equals ``<case>.go.golden`` byte for byte (no golden: no change),
  and with --unsafe-fixes ``<case>.go.unsafe.golden`` when that file exists;
- input and golden are gofmt-clean and pass ``go vet`` in a temporary module
  (copied with the case's go.mod), and fixing the golden again changes nothing;
- a companion ``<case>_test.go`` passes ``go test -race`` against the golden; when
  the case file says ``// gofix-test: fails-before``, it fails against the input.

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
            if path.name.endswith("_test.go") and path.with_name(path.name[: -len("_test.go")] + ".go").exists():
                continue  # a companion test, run against its case
            cases.append(path)
    return cases


def _case_id(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def _rule_of(case: Path) -> str:
    return case.relative_to(FIXTURES).parts[0]


def _module_dir(case: Path) -> Path:
    for directory in case.parents:
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
    data = case.read_bytes()
    golden = case.with_name(case.name + ".golden")
    unsafe_golden = case.with_name(case.name + ".unsafe.golden")
    for path, unsafe in ((golden, False), (unsafe_golden, True)):
        if unsafe and not path.exists():
            continue  # opt in with an empty file: touch <case>.go.unsafe.golden
        fixed = _fix(case, _rule_of(case), unsafe)
        if fixed != data or path.exists():
            path.write_bytes(fixed)


def _variants(case: Path) -> list[tuple[str, bytes, bool]]:
    """What the toolchain checks for a case: (kind, code, run the companion test)."""
    data = case.read_bytes()
    if b"\r\n" in data:
        return []  # gofmt rewrites CRLF: such cases check bytes only
    golden = case.with_name(case.name + ".golden")
    unsafe_golden = case.with_name(case.name + ".unsafe.golden")
    variants = [("input", data, b"// gofix-test: fails-before" in data)]
    variants.append(("golden", golden.read_bytes() if golden.exists() else data, True))
    if unsafe_golden.exists():
        variants.append(("unsafe golden", unsafe_golden.read_bytes(), False))
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
        companion = case.with_name(case.stem + "_test.go")
        for kind, code, test in _variants(case):
            files = {case.name: code}
            if test and companion.exists():
                files[companion.name] = companion.read_bytes()
            names[_case_id(case), kind] = batch.add(_module_dir(case) / "go.mod", files, test and companion.exists())
    outcomes = batch.run(tmp_path_factory.mktemp("go-modules"), go_cache)  # per xdist worker
    return {key: outcomes[name] for key, name in names.items()}


def _check_toolchain(case: Path, toolchain: dict[tuple[str, str], gobatch.Outcome]) -> None:
    for kind, code, _ in _variants(case):
        diff = gotool.gofmt_diff(code)
        assert diff == "", f"{kind} of {case.name} is not gofmt-clean:\n{diff}"
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
    data = case.read_bytes()

    found = process(case, Settings(rules=(rule,)))
    assert found.error is None, found.error
    wants = _wants(data)
    got: dict[int, list[str]] = {}
    for finding in found.findings:
        got.setdefault(finding.line, []).append(finding.message)
    missing = sorted(set(wants) - set(got))
    noisy = sorted(set(got) - set(wants))
    assert not missing and not noisy, f"missing findings on lines {missing}; noisy findings on lines {noisy}: {got}"
    for line, patterns in wants.items():
        for pattern in patterns:
            assert any(re.search(pattern, m) for m in got[line]), (
                f"line {line}: no message matches {pattern!r}: {got[line]}"
            )

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

    _check_toolchain(case, toolchain)
