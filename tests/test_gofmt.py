"""gofmt.respace prints binary expressions as the real gofmt does, at depth 1 and 2."""

from __future__ import annotations

import subprocess

import gotool
import pytest

from gofix_conc import gofmt
from gofix_conc.source import captures, parse

EXPRESSIONS = [
    "time.Duration(slot)*delta",
    "a*b + c",
    "a + b*c",
    "(a+b)*c",
    "f(a*b, c+d)",
    "x[i*2+1]",
    "a<<2 | b",
    "-a * b",
    "a / *p",
    "x == y && z != w",
    "len(s)-1",
    "f(g(a * b))",
    "[]int{a*b, c + d}",
    "a &^ b",
    "a*b*c",
    "i+1 < n && xs[i+1] > 0",
    "float64(n) / float64(d) * 100",
]


@pytest.mark.parametrize("template", ["v := {}", "v, w := {}, 0"], ids=["depth 1", "depth 2"])
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_respace_matches_gofmt(expression: str, template: str) -> None:
    source = f"package p\n\nfunc f() {{\n\t{template.format(expression)}\n}}\n".encode()
    formatted = subprocess.run([str(gotool.goroot() / "bin" / "gofmt")], input=source, capture_output=True, check=True)
    want = formatted.stdout.decode().split("\n")[3].strip()
    node = captures("(short_var_declaration right: (expression_list . (_) @e))", parse(source).root_node)["e"][0]
    depth = 1 if template.startswith("v :=") else 2
    assert template.format(gofmt.respace(node, depth)) == want
