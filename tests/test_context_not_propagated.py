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


_REVIEW_HEADER = (
    "type rec struct{}\n\n"
    "func (rec) Record(ctx context.Context, a string) error { return nil }\n"
    "func (rec) Enqueue(ctx context.Context, a string) error { return nil }\n\n"
    "type conn struct{}\n\n"
    "func dial(ctx context.Context) (*conn, error) { return &conn{}, nil }\n\n"
    "type holder struct{ c *conn }\n\n"
)


@pytest.mark.parametrize(
    ("body", "caveat"),
    [
        # An audit record after the work: with ctx it would be lost when the caller gives up.
        (
            'func f(ctx context.Context, a rec, m map[string]int) error {\n\tdelete(m, "k")\n'
            '\treturn a.Record(context.Background(), "delete")\n}\n',
            "records or announces",
        ),
        # A job handed off to a queue may keep the context it is given.
        (
            'func f(ctx context.Context, a rec) error { return a.Enqueue(context.Background(), "job") }\n',
            "hands work off",
        ),
        # The connection the call returns is kept in a field, or built into a value.
        (
            "func (h *holder) f(ctx context.Context) error {\n\tc, err := dial(context.Background())\n"
            "\tif err != nil {\n\t\treturn err\n\t}\n\th.c = c\n\treturn nil\n}\n",
            "is kept or keeps running",
        ),
        (
            "func f(ctx context.Context) (*holder, error) {\n\tc, err := dial(context.Background())\n"
            "\tif err != nil {\n\t\treturn nil, err\n\t}\n\treturn &holder{c: c}, nil\n}\n",
            "is kept or keeps running",
        ),
    ],
    ids=["audit", "enqueue", "field", "literal"],
)
def test_review_unsafe(tmp_path: Path, body: str, caveat: str) -> None:
    [finding] = _findings(tmp_path, _REVIEW_HEADER + body)
    assert finding.fix is not None
    assert finding.fix.safety is Safety.UNSAFE, finding.fix.message
    assert caveat in finding.fix.message


@pytest.mark.parametrize(
    "body",
    [
        # singleflight: one load serves every caller of the key; the first one's ctx must not end it.
        "type group struct{}\n\nfunc (group) Do(k string, fn func() (any, error)) (any, error, bool) {\n"
        "\tv, err := fn()\n\treturn v, err, false\n}\n\n"
        "func f(ctx context.Context, g group, s store) error {\n"
        '\t_, err, _ := g.Do("k", func() (any, error) { return nil, s.Get(context.Background(), "k") })\n'
        "\treturn err\n}\n",
        # Handed to a function that hands it on to one that starts a goroutine.
        "func loop(ctx context.Context) { go func() { <-ctx.Done() }() }\n\n"
        "func warm(ctx context.Context) { loop(ctx) }\n\n"
        "func f(ctx context.Context) { warm(context.Background()) }\n",
    ],
    ids=["singleflight", "keeper-chain"],
)
def test_review_not_reported(tmp_path: Path, body: str) -> None:
    assert _findings(tmp_path, body) == []


def test_started_result_is_unsafe(tmp_path: Path) -> None:
    """exec.CommandContext(context.Background(), ...) then cmd.Start(): the process would die with ctx."""
    body = (
        "type cmd struct{}\n\nfunc (cmd) Start() error { return nil }\n\n"
        "func command(ctx context.Context) *cmd { return &cmd{} }\n\n"
        "func f(ctx context.Context) error {\n\tc := command(context.Background())\n\treturn c.Start()\n}\n"
    )
    [finding] = _findings(tmp_path, body)
    assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
    assert "keeps running" in finding.fix.message
