"""What a codemod sees of one file, and the helpers it builds fixes with."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tree_sitter import Node

from gofix_conc import imports, index, scopes
from gofix_conc.edits import merge_insertions
from gofix_conc.model import Edit, Finding, Fix, Rule, Safety
from gofix_conc.source import Source


class FileContext:
    """One parsed file for one pass of the rules.

    Names handed out by :meth:`fresh_name` and :meth:`import_name` are
    remembered for the pass, so two fixes planned in the same pass never pick
    the same new name.
    """

    def __init__(
        self,
        path: Path,
        source: Source,
        go_version: tuple[int, int],
        options: dict[str, dict[str, Any]],
        fixing: bool = True,
    ):
        self.path = path
        # A scan reports fixes but never applies them: their import aliases need
        # not look at the package's other files, which would cost a parse each.
        self.fixing = fixing
        self.source = source
        self.go_version = go_version
        self._options = options
        self._reserved: dict[int, set[str]] = {}
        self._names_cache: dict[int, set[str]] = {}
        self._package: index.PackageView | None = None
        self._present: dict[bytes | tuple[bytes, ...], bool] = {}
        self.rule: Rule | None = None

    @property
    def root(self) -> Node:
        return self.source.root

    @property
    def is_test_file(self) -> bool:
        return self.path.name.endswith("_test.go")

    @property
    def package(self) -> index.PackageView:
        """The package this file belongs to, shared by every rule of the pass (read only when asked)."""
        if self._package is None:
            self._package = index.view(self.path, self.source)
        return self._package

    def holds(self, triggers: tuple[bytes, ...]) -> bool:
        """Whether the file's text holds one of ``triggers``.

        Rules share triggers (go statements, ``make(chan``): each set, and each
        word of it, is looked for once per file, for the engine and for a rule
        that checks part of its work against triggers itself.
        """
        found = self._present.get(triggers)
        if found is None:
            found = False
            for trigger in triggers:
                hit = self._present.get(trigger)
                if hit is None:
                    hit = self._present[trigger] = trigger in self.source.data
                if hit:
                    found = True
                    break
            self._present[triggers] = found
        return found

    def text(self, node: Node) -> str:
        return self.source.text(node)

    def option(self, name: str) -> Any:
        assert self.rule is not None
        rule_options = self._options.get(self.rule.id, {})
        return rule_options.get(name, self.rule.default_options.get(name))

    def at_least(self, major: int, minor: int) -> bool:
        return self.go_version >= (major, minor)

    # -- names -------------------------------------------------------------

    def fresh_name(self, near: Node, base: str) -> str:
        """A name free in the top-level declaration holding ``near``."""
        decl = scopes.top_level(near)
        key = decl.start_byte
        if key not in self._names_cache:
            self._names_cache[key] = scopes.names_in(decl) | {i.local_name for i in imports.imports(self.source)}
        reserved = self._reserved.setdefault(key, set())
        name = scopes.fresh_name(base, self._names_cache[key] | reserved)
        reserved.add(name)
        return name

    def import_name(self, path: str) -> tuple[str, list[Edit]]:
        """The name under which ``path`` is usable, plus the edits to import it."""
        return imports.add_import(self.source, path, self._package_names())

    def import_names(self, *paths: str) -> tuple[dict[str, str], list[Edit]]:
        """Like :meth:`import_name` for several packages imported by one fix."""
        return imports.add_imports(self.source, list(paths), self._package_names())

    def _package_names(self) -> frozenset[str]:
        return self.package.sibling_names() if self.fixing else frozenset()

    # -- layout ------------------------------------------------------------

    def indent(self, node: Node) -> str:
        return self.source.indent_at(node.start_byte)

    def indent_unit(self) -> str:
        return "\t"

    def lines_before(self, node: Node, lines: list[str], indent: str | None = None) -> Edit:
        """Insert whole lines above the line ``node`` starts on (which it must start)."""
        indent = self.indent(node) if indent is None else indent
        at = self.source.line_start(node.start_byte)
        return Edit(at, at, "".join(f"{indent}{line}\n" for line in lines).encode())

    # -- results -----------------------------------------------------------

    def fix(
        self, message: str, edits: Iterable[Edit], safety: Safety = Safety.SAFE, group: str = "", files: int = 1
    ) -> Fix:
        """A fix of this file; with ``group``, this file's part of a change spanning ``files`` files of the package."""
        if group:
            assert self.rule is not None
            group = f"{self.rule.id}:{group}"
        return Fix(message, merge_insertions(edits), safety, group, files)

    def finding(self, node: Node, message: str, fix: Fix | None = None) -> Finding:
        assert self.rule is not None
        line, column = self.source.position(node.start_byte)
        end_line, end_column = self.source.position(node.end_byte)
        return Finding(
            self.rule.id,
            self.path,
            node.start_byte,
            node.end_byte,
            line,
            column,
            end_line,
            end_column,
            message,
            fix,
        )
