"""Import insertion, inline before/after strings."""

from __future__ import annotations

from textwrap import dedent

import pytest

from gofix_conc.edits import apply, merge_insertions
from gofix_conc.imports import add_imports
from gofix_conc.model import Fix
from gofix_conc.source import Source


def _add(before: str, *paths: str) -> tuple[dict[str, str], str]:
    source = Source(dedent(before).lstrip().encode())
    names, edits = add_imports(source, list(paths))
    after = apply(source.data, [Fix("add", merge_insertions(edits))]) if edits else source.data
    return names, after.decode()


CASES = [
    (
        "no imports",
        """
        package p

        func f() {}
        """,
        ["log"],
        """
        package p

        import "log"

        func f() {}
        """,
    ),
    (
        "single import becomes a block",
        """
        package p

        import "fmt"

        var _ = fmt.Sprint
        """,
        ["log"],
        """
        package p

        import (
        \t"fmt"
        \t"log"
        )

        var _ = fmt.Sprint
        """,
    ),
    (
        "sorted into the standard-library group",
        """
        package p

        import (
        \t"context"
        \t"sync"

        \t"example.com/x/y"
        )
        """,
        ["runtime/debug", "log"],
        """
        package p

        import (
        \t"context"
        \t"log"
        \t"runtime/debug"
        \t"sync"

        \t"example.com/x/y"
        )
        """,
    ),
    (
        "appended at the end of the group",
        """
        package p

        import (
        \t"context"
        \t"fmt"
        )
        """,
        ["sync/atomic"],
        """
        package p

        import (
        \t"context"
        \t"fmt"
        \t"sync/atomic"
        )
        """,
    ),
    (
        "only third-party imports: a new first group",
        """
        package p

        import (
        \t"example.com/x/y"
        )
        """,
        ["log"],
        """
        package p

        import (
        \t"log"

        \t"example.com/x/y"
        )
        """,
    ),
    (
        "two new imports into no imports",
        """
        package p

        func f() {}
        """,
        ["runtime/debug", "log"],
        """
        package p

        import (
        \t"log"
        \t"runtime/debug"
        )

        func f() {}
        """,
    ),
]


@pytest.mark.parametrize(("before", "paths", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_add_imports(before: str, paths: list[str], after: str) -> None:
    _, got = _add(before, *paths)
    assert got == dedent(after).lstrip()


def test_existing_import_is_reused_with_its_alias() -> None:
    names, got = _add(
        """
        package p

        import stdlog "log"

        var _ = stdlog.Print
        """,
        "log",
    )
    assert names == {"log": "stdlog"}
    assert "import stdlog" in got and got.count('"log"') == 1


def test_taken_name_gets_an_alias() -> None:
    names, got = _add(
        """
        package p

        import "example.com/company/log"

        func f(debug bool) { log.Info() }
        """,
        "log",
        "runtime/debug",
    )
    assert names == {"log": "stdlog", "runtime/debug": "stddebug"}
    assert 'stdlog "log"' in got and 'stddebug "runtime/debug"' in got


def test_blank_import_does_not_provide_the_name() -> None:
    names, got = _add(
        """
        package p

        import _ "embed"
        """,
        "embed",
    )
    assert names == {"embed": "embed"}
    assert '\t_ "embed"\n\t"embed"\n' in got or '\t"embed"\n\t_ "embed"\n' in got
