"""context-not-propagated: fix safety and messages per shape, the Go version gate, the test-file option."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gofix_conc.engine import Settings, process_data
from gofix_conc.model import Finding, Safety

RULE = "context-not-propagated"


def _findings(tmp_path: Path, body: str, name: str = "p.go", **settings: object) -> list[Finding]:
    header = 'package p\n\nimport (\n\t"context"\n\t"errors"\n)\n\ntype store struct{}\n\n'
    header += "func (store) Get(ctx context.Context, k string) error { return ctx.Err() }\n\n"
    header += 'var errNope = errors.New("nope")\n\n'
    source = header + textwrap.dedent(body)
    result = process_data(tmp_path / name, source.encode(), Settings(rules=(RULE,), **settings))  # type: ignore[arg-type]
    assert result.error is None, result.error
    return list(result.findings)


@pytest.mark.parametrize(
    ("body", "safety", "caveat"),
    [
        # The context is taken and dropped: safe.
        ('func f(ctx context.Context, s store) error { return s.Get(context.Background(), "k") }', Safety.SAFE, None),
        # TODO says the context was never plumbed: safe even when ctx is used elsewhere.
        (
            'func f(ctx context.Context, s store) error { _ = s.Get(ctx, "a"); return s.Get(context.TODO(), "k") }',
            Safety.SAFE,
            None,
        ),
        # Background next to a use of ctx may be deliberate.
        (
            'func f(ctx context.Context, s store) error { _ = s.Get(ctx, "a"); return s.Get(context.Background(), "") }'
            "\n",
            Safety.UNSAFE,
            "may be deliberate",
        ),
        # On an error path it may be compensating work.
        (
            "func f(ctx context.Context, s store) error {\n"
            '\tif err := s.Get(ctx, "a"); err != nil {\n'
            '\t\t_ = s.Get(context.TODO(), "undo")\n'
            "\t\treturn err\n"
            "\t}\n"
            "\treturn nil\n"
            "}\n",
            Safety.UNSAFE,
            "error path",
        ),
        # A goroutine nobody waits for keeps running: WithoutCancel, unsafe.
        (
            'func f(ctx context.Context, s store) { go func() { _ = s.Get(context.Background(), "k") }() }',
            Safety.UNSAFE,
            "values",
        ),
    ],
)
def test_fix_safety(tmp_path: Path, body: str, safety: Safety, caveat: str | None) -> None:
    [finding] = _findings(tmp_path, body)
    assert finding.fix is not None
    assert finding.fix.safety is safety, finding.fix.message
    if caveat is None:
        assert "check:" not in finding.fix.message
    else:
        assert caveat in finding.fix.message


def test_detached_goroutine_fix_needs_go_1_21(tmp_path: Path) -> None:
    body = 'func f(ctx context.Context, s store) { go s.Get(context.Background(), "k") }\n'
    [new] = _findings(tmp_path, body, go_version=(1, 21))
    assert new.fix is not None and b"context.WithoutCancel(ctx)" in new.fix.edits[0].text
    [old] = _findings(tmp_path, body, go_version=(1, 20))
    assert old.fix is None and "needs Go 1.21" in old.message


def test_test_files_only_with_include_tests(tmp_path: Path) -> None:
    body = 'func helper(ctx context.Context, s store) error { return s.Get(context.Background(), "k") }\n'
    assert _findings(tmp_path, body, name="p_test.go") == []
    options = {RULE: {"include-tests": True}}
    assert len(_findings(tmp_path, body, name="p_test.go", options=options)) == 1


@pytest.mark.parametrize(
    "body",
    [
        'func f(_ context.Context, s store) error { return s.Get(context.Background(), "k") }',
        'func f(ctx context.Context, s store) error { defer s.Get(context.Background(), "k"); return nil }',
        "func f(ctx context.Context) context.Context { return context.Background() }",
        "func f(ctx context.Context, s store) error {\n\tif ctx == nil {\n\t\tctx = context.Background()\n\t}\n"
        '\treturn s.Get(ctx, "k")\n}\n',
        "func f(ctx context.Context, s store) error {\n\tif ctx.Err() != nil {\n"
        '\t\treturn s.Get(context.Background(), "record")\n\t}\n\treturn nil\n}\n',
        "func f(ctx context.Context, s store) func() error {\n"
        '\treturn func() error { return s.Get(context.Background(), "later") }\n}\n',
    ],
    ids=["blank", "deferred", "returned", "nil-default", "after-cancel", "stored-callback"],
)
def test_not_reported(tmp_path: Path, body: str) -> None:
    assert _findings(tmp_path, body) == []
