"""Adding an import the way gofmt lays it out, aliased when the name is taken.

import "fmt"                      ⇒ import (\n\t"fmt"\n\t"log"\n)
import (\n\t"fmt"\n\n\t"x.io/y"\n)  ⇒ "log" sorted into the standard-library group
(no imports)                      ⇒ import "log" after the package clause
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc.model import Edit
from gofix_conc.source import Source, captures


@dataclass(frozen=True)
class Import:
    path: str
    name: str | None  # explicit name: alias, "_" or "."
    node: Node  # the import_spec

    @property
    def local_name(self) -> str:
        return self.name or default_name(self.path)


def default_name(path: str) -> str:
    parts = path.split("/")
    last = parts[-1]
    if len(parts) > 1 and last.startswith("v") and last[1:].isdigit():
        last = parts[-2]
    return last.replace("-", "_").replace(".", "_")


def is_std(path: str) -> bool:
    return "." not in path.split("/")[0]


def imports(source: Source) -> list[Import]:
    found = []
    for spec in captures("(import_spec) @s", source.root).get("s", []):
        path_node = spec.child_by_field_name("path")
        name_node = spec.child_by_field_name("name")
        path = source.text(path_node).strip('"`') if path_node else ""
        found.append(Import(path, source.text(name_node) if name_node else None, spec))
    return found


def declared_names(source: Source) -> set[str]:
    """Names a new import must not take: every identifier the file uses or declares."""
    names = {i.local_name for i in imports(source)}
    for kind in ("identifier", "type_identifier", "package_identifier"):
        names.update(source.text(n) for n in captures(f"({kind}) @n", source.root).get("n", []))
    return names


def add_import(source: Source, path: str, reserved: dict[str, str] | None = None) -> tuple[str, list[Edit]]:
    """The name to use for package ``path`` and the edits that import it.

    ``reserved`` maps paths to names already chosen by earlier calls for the
    same fix set, so that two imports planned together do not take one name.
    """
    reserved = {} if reserved is None else reserved
    if path in reserved:
        return reserved[path], []
    for imp in imports(source):
        if imp.path == path and imp.name not in ("_", "."):
            reserved[path] = imp.local_name
            return imp.local_name, []
    taken = declared_names(source) | set(reserved.values())
    base = default_name(path)
    candidates = [base, f"std{base}" if is_std(path) else f"{base}pkg"] + [f"{base}{n}" for n in range(2, 100)]
    name = next(c for c in candidates if c not in taken)
    alias = "" if name == base else f"{name} "
    reserved[path] = name
    return name, [_insertion(source, f'{alias}"{path}"', path)]


def _insertion(source: Source, spec: str, path: str) -> Edit:
    declarations = captures("(import_declaration) @d", source.root).get("d", [])
    blocks = [d for d in declarations if any(c.type == "import_spec_list" for c in d.named_children)]
    if blocks:
        return _into_block(source, blocks[0].named_children[0], spec, path)
    if declarations:
        single = declarations[0]
        old = source.text(single.named_children[0])
        first, second = sorted([old, spec], key=lambda s: s.split('"')[1])
        group_break = "\n" if is_std(path) != is_std(old.split('"')[1]) else ""
        text = f"import (\n\t{first}\n{group_break}\t{second}\n)"
        return Edit(single.start_byte, single.end_byte, text.encode())
    package = captures("(package_clause) @p", source.root)["p"][0]
    return Edit(package.end_byte, package.end_byte, f"\n\nimport {spec}".encode())


def _groups(source: Source, block: Node) -> list[list[Node]]:
    """The specs of an import block split where a blank line separates them."""
    groups: list[list[Node]] = []
    last_row = -2
    for spec in (c for c in block.named_children if c.type == "import_spec"):
        if not groups or (spec.start_point.row > last_row + 1 and _blank_between(source, last_row, spec)):
            groups.append([])
        groups[-1].append(spec)
        last_row = spec.end_point.row
    return groups


def _blank_between(source: Source, row: int, spec: Node) -> bool:
    lines = source.data.splitlines()[row + 1 : spec.start_point.row]
    return any(not line.strip() for line in lines)


def _spec_path(source: Source, spec: Node) -> str:
    return source.text(spec.child_by_field_name("path")).strip('"`')  # type: ignore[arg-type]


def _into_block(source: Source, block: Node, spec: str, path: str) -> Edit:
    groups = _groups(source, block)
    std_groups = [g for g in groups if all(is_std(_spec_path(source, s)) for s in g)]
    if not std_groups:
        if not groups:
            close = block.children[-1]
            return Edit(close.start_byte, close.start_byte, f"\t{spec}\n".encode())
        first = groups[0][0]
        at = source.line_start(first.start_byte)
        return Edit(at, at, f"\t{spec}\n\n".encode())
    group = std_groups[0]
    for existing in group:
        if _spec_path(source, existing) > path:
            at = source.line_start(existing.start_byte)
            comment = existing.prev_named_sibling
            while comment is not None and comment.type == "comment" and comment.end_point.row == _row(source, at) - 1:
                at = source.line_start(comment.start_byte)
                comment = comment.prev_named_sibling
            return Edit(at, at, f"\t{spec}\n".encode())
    last = group[-1]
    end = source.data.find(b"\n", last.end_byte)
    end = len(source.data) if end < 0 else end
    return Edit(end, end, f"\n\t{spec}".encode())


def _row(source: Source, offset: int) -> int:
    return source.position(offset)[0] - 1
