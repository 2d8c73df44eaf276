"""Exits a function reaches from a statement before a release: returns, the end, and flow the walk gives up on."""

from __future__ import annotations

from tree_sitter import Node

from gofix_conc import exits
from gofix_conc.source import Source, captures


def _walk(body: str) -> exits.Exits:
    source = Source(f"package p\n\nfunc f(ok bool, xs []int) {{\n{body}\n}}\n".encode())
    start = next(s for s in captures("(expression_statement) @s", source.root)["s"] if s.text == b"acquire()")
    function = captures("(function_declaration) @f", source.root)["f"][0]
    return exits.unreleased_exits(start, function, _is_release)


def _is_release(call: Node) -> bool:
    function = call.child_by_field_name("function")
    return function is not None and function.text == b"release"


def _lines(found: exits.Exits) -> list[int]:
    return [leak.start_point.row + 1 for leak in found.leaks]


def test_early_return_skips_the_release() -> None:
    found = _walk("\tacquire()\n\tif ok {\n\t\treturn\n\t}\n\trelease()")
    assert not found.unknown
    assert _lines(found) == [6]


def test_release_on_every_path_and_deferred() -> None:
    assert _walk("\tacquire()\n\tif ok {\n\t\trelease()\n\t\treturn\n\t}\n\trelease()").leaks == []
    assert _walk("\tacquire()\n\tdefer release()\n\tif ok {\n\t\treturn\n\t}").leaks == []
    assert _walk('\tacquire()\n\tif ok {\n\t\tpanic("x")\n\t}\n\trelease()').leaks == []


def test_the_end_of_the_function_and_loops() -> None:
    assert _lines(_walk("\tacquire()\n\twork()")) == [6]  # the closing brace
    assert _lines(
        _walk("\tacquire()\n\tfor _, x := range xs {\n\t\tif x < 0 {\n\t\t\treturn\n\t\t}\n\t}\n\trelease()")
    ) == [7]
    assert _walk("\tacquire()\n\tfor {\n\t\tif ok {\n\t\t\trelease()\n\t\t\tbreak\n\t\t}\n\t}").leaks == []


def test_flow_it_does_not_follow_is_unknown() -> None:
    assert _walk("\tacquire()\n\tif ok {\n\t\trelease()\n\t}").unknown  # the condition decides
    assert _walk("\tacquire()\n\tgoto done\ndone:\n\trelease()").unknown
