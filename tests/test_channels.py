"""gofix_conc.channels: senders, closes, paths out of a sender, receive loops and joins on small files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tree_sitter import Node

from gofix_conc import channels, index, scopes
from gofix_conc.context import FileContext
from gofix_conc.source import Source, captures


@pytest.fixture
def load(tmp_path: Path):  # type: ignore[no-untyped-def]
    def parse(body: str) -> FileContext:
        scopes.forget()
        index.forget()
        path = tmp_path / "p.go"
        data = ("package p\n\n" + textwrap.dedent(body)).encode()
        path.write_bytes(data)
        return FileContext(path, Source(data), (1, 24), {}, fixing=False)

    return parse


def channel(ctx: FileContext, name: str) -> channels.Channel:
    for ident in captures("(identifier) @id", ctx.root).get("id", []):
        if ident.text == name.encode():
            decl = channels.local_channel(ident)
            if decl is not None:
                return channels.analyse(ctx, decl)
    raise AssertionError(f"no local channel {name}")


def loops(ctx: FileContext) -> list[Node]:
    return captures("(for_statement) @f", ctx.root).get("f", [])


def line(node: Node) -> int:
    return node.start_point.row + 1


def test_senders_are_goroutines_capturing_or_given_the_channel(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(xs []int) {
        \tch := make(chan int)
        \tgo func() { ch <- 1 }()
        \tgo func(out chan<- int) {
        \t\tselect {
        \t\tcase out <- 2:
        \t\tdefault:
        \t\t}
        \t}(ch)
        \tgo produce(ch)
        \tgo func() {
        \t\tfor range ch {
        \t\t}
        \t}()
        }

        func produce(out chan<- int) {
        \tout <- 3
        \tclose(out)
        }
        """
    )
    found = channel(ctx, "ch")
    assert found.escapes is None
    assert [(line(s.spawn), s.name, s.named) for s in found.senders] == [
        (5, "ch", False),
        (6, "out", False),
        (12, "out", True),
    ]
    assert [line(c) for c in found.closes] == [21]
    assert found.goroutine_of(found.closes[0]) is found.senders[2]
    assert len(found.others) == 1  # the consumer goroutine
    assert not found.own_sends


@pytest.mark.parametrize(
    ("use", "why"),
    [
        ("return ch", "escapes"),
        ("register(ch)", "passed to register"),
        ("cb := func() { ch <- 1 }\n\tregister2(cb)", "function value"),
        ("go register(ch)", "cannot see"),
    ],
)
def test_a_channel_code_out_of_sight_may_use_escapes(load, use: str, why: str) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        f"""\
        func f(register func(chan int), register2 func(func())) chan int {{
        \tch := make(chan int)
        \tgo func() {{ ch <- 1 }}()
        \t{use}
        \treturn nil
        }}
        """
    )
    escapes = channel(ctx, "ch").escapes
    assert escapes is not None and why in escapes


def test_a_reassigned_or_parameter_channel_is_not_followed(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(in chan int) {
        \tch := make(chan int)
        \tch = make(chan int, 1)
        \tfor range in {
        \t}
        \t_ = ch
        }
        """
    )
    idents = [i for i in captures("(identifier) @id", ctx.root)["id"] if i.text in (b"ch", b"in")]
    assert all(channels.local_channel(i) is None for i in idents)


def test_an_early_return_skips_the_close(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(ctx context.Context, xs []int) {
        \tch := make(chan int)
        \tgo func() {
        \t\tfor _, x := range xs {
        \t\t\tselect {
        \t\t\tcase ch <- x:
        \t\t\tcase <-ctx.Done():
        \t\t\t\treturn
        \t\t\t}
        \t\t}
        \t\tclose(ch)
        \t}()
        }
        """
    )
    sender = channel(ctx, "ch").senders[0]
    skipped = channels.closes_everywhere(sender)
    assert skipped is not None and skipped.type == "return_statement" and line(skipped) == 10


@pytest.mark.parametrize(
    "body",
    [
        "defer close(ch)\n\t\tif bad { return }\n\t\tch <- 1",
        "defer func() { close(ch) }()\n\t\tif bad { return }\n\t\tch <- 1",
        "ch <- 1\n\t\tif bad {\n\t\t\tclose(ch)\n\t\t\treturn\n\t\t}\n\t\tclose(ch)",
        "for {\n\t\t\tch <- 1\n\t\t}",
        "for i := 0; ; i++ {\n\t\t\tch <- i\n\t\t}",
        "once.Do(func() { close(ch) })\n\t\tch <- 1",
    ],
)
def test_closing_on_every_way_out(load, body: str) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        f"""\
        func f(bad bool, once *sync.Once) {{
        \tch := make(chan int)
        \tgo func() {{
        \t\t{body}
        \t}}()
        }}
        """
    )
    assert channels.closes_everywhere(channel(ctx, "ch").senders[0]) is None


def test_a_close_in_a_branch_does_not_cover_the_end(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(bad bool) {
        \tch := make(chan int)
        \tgo func() {
        \t\tch <- 1
        \t\tif bad {
        \t\t\tclose(ch)
        \t\t}
        \t}()
        }
        """
    )
    skipped = channels.closes_everywhere(channel(ctx, "ch").senders[0])
    assert skipped is not None and skipped.type == "block"


def test_receive_loops_and_their_other_ways_out(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(ch chan int, n int) {
        \tfor v := range ch {
        \t\t_ = v
        \t}
        \tfor {
        \t\tv, ok := <-ch
        \t\tif !ok {
        \t\t\tbreak
        \t\t}
        \t\t_ = v
        \t}
        \tfor v := range ch {
        \t\tif v == n {
        \t\t\tbreak
        \t\t}
        \t}
        \tfor i := 0; i < n; i++ {
        \t\t<-ch
        \t}
        \tfor {
        \t\tselect {
        \t\tcase <-ch:
        \t\tcase <-time.After(time.Second):
        \t\t\treturn
        \t\t}
        \t}
        }
        """
    )
    found = [channels.receive_loop(loop) for loop in loops(ctx)]
    assert [f is not None for f in found] == [True, True, True, False, False]
    assert [bool(channels.other_ways_out(f)) for f in found if f is not None] == [False, False, True]
    assert found[1] is not None and found[1].until_closed is not None


def test_groups_of_senders(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func f(xs []int) {
        \tch := make(chan int)
        \tvar wg sync.WaitGroup
        \tvar g errgroup.Group
        \tfor _, x := range xs {
        \t\twg.Add(1)
        \t\tgo func() {
        \t\t\tdefer wg.Done()
        \t\t\tch <- x
        \t\t}()
        \t\tg.Go(func() error {
        \t\t\tch <- x
        \t\t\treturn nil
        \t\t})
        \t}
        \twg.Wait()
        }
        """
    )
    found = channel(ctx, "ch")
    assert [channels.group_of(s) for s in found.senders] == ["wg", "g"]
    assert all(s.multiplied and s.in_loop for s in found.senders)
    assert [line(c) for c in channels.group_calls(found.function, "Wait", "wg")] == [18]


def test_one_value_sent_once_makes_a_receive_a_join(load) -> None:  # type: ignore[no-untyped-def]
    ctx = load(
        """\
        func once(f func() int) int {
        \tch := make(chan int)
        \tgo func() { ch <- f() }()
        \tv := <-ch
        \treturn v
        }

        func many(f func() int) int {
        \tch := make(chan int)
        \tgo func() {
        \t\tfor {
        \t\t\tch <- f()
        \t\t}
        \t}()
        \tv := <-ch
        \treturn v
        }
        """
    )
    single = channel(ctx, "ch")
    idents = [i for i in captures("(identifier) @id", ctx.root)["id"] if i.text == b"ch"]
    looped = channels.analyse(ctx, channels.local_channel(idents[-1]))  # type: ignore[arg-type]
    assert channels.sends_once(single) and not channels.sends_once(looped)
    receive = captures("(short_var_declaration) @s", looped.function)["s"][-1]
    assert channels.receives_only_from(receive, looped)
