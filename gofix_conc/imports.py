"""Adding an import the way gofmt lays it out, aliased when the name is taken.

import "fmt"                      ⇒ import (\n\t"fmt"\n\t"log"\n)
import (\n\t"fmt"\n\n\t"x.io/y"\n)  ⇒ "log" sorted into the standard-library group
(no imports)                      ⇒ import "log" after the package clause
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.model import Edit
from gofix_conc.source import Source, captures, parse, spelled


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
    """The file's imports, in order (read once per text: every rule asks)."""
    found = source.memo.get("imports")
    if found is None:
        found = source.memo["imports"] = tuple(_imports(source))
    return list(found)


def _imports(source: Source) -> Iterator[Import]:
    # Imports only stand at the top of the file: no need to search the whole tree.
    for declaration in _declarations(source):
        for spec in captures("(import_spec) @s", declaration).get("s", []):
            path_node = spec.child_by_field_name("path")
            name_node = spec.child_by_field_name("name")
            path = source.text(path_node).strip('"`') if path_node else ""
            yield Import(path, source.text(name_node) if name_node else None, spec)


def _declarations(source: Source) -> list[Node]:
    return [d for d in source.root.named_children if d.type == "import_declaration"]


_NAME_KINDS = ("identifier", "type_identifier", "package_identifier")


def _names_something(source: Source, name: str) -> bool:
    """Whether the file uses or declares ``name`` (an identifier, type or package name): a new import
    must not take it. Looked for only where its bytes stand, not by queries over the whole tree."""
    word, root = name.encode(), source.root
    for at in spelled(source.data, word):
        node = root.descendant_for_byte_range(at, at + len(word))
        if node is not None and node.type in _NAME_KINDS and node.text == word:
            return True
    return False


def package_names(path: Path, source: Source) -> frozenset[str]:
    """Package-level names declared in the other files of the package ``path`` belongs to.

    A file's imports share their names with the package scope, so a new import
    must not take one (``debug`` declared in debug.go, ``runtime/debug`` imported here).
    """
    from gofix_conc import index  # the index reads imports with this module

    return index.view(path, source).sibling_names()


def add_import(source: Source, path: str, reserved: Iterable[str] = ()) -> tuple[str, list[Edit]]:
    """The name to use for package ``path`` and the edits that import it."""
    names, edits = add_imports(source, [path], reserved)
    return names[path], edits


def add_imports(source: Source, paths: list[str], reserved: Iterable[str] = ()) -> tuple[dict[str, str], list[Edit]]:
    """Names for several packages and the edits importing those not yet imported.

    ``reserved``: more names a new import must not take (package-level names of other files).
    """
    names: dict[str, str] = {}
    existing = imports(source)
    new_specs: list[tuple[str, str]] = []
    taken = {i.local_name for i in existing} | set(reserved)

    def free(name: str) -> bool:
        return name not in taken and not _names_something(source, name)

    for path in sorted(dict.fromkeys(paths)):
        found = next((i for i in existing if i.path == path and i.name not in ("_", ".")), None)
        if found is not None:
            names[path] = found.local_name
            continue
        base = default_name(path)
        candidates = [base, f"std{base}" if is_std(path) else f"{base}pkg"] + [f"{base}{n}" for n in range(2, 100)]
        name = next(c for c in candidates if free(c))
        taken.add(name)
        names[path] = name
        new_specs.append((path, f'{"" if name == base else name + " "}"{path}"'))
    return names, _insertions(source, new_specs) if new_specs else []


def _block_text(specs: list[tuple[str, str]]) -> str:
    std = sorted((s for s in specs if is_std(s[0])), key=lambda s: s[0])
    other = sorted((s for s in specs if not is_std(s[0])), key=lambda s: s[0])
    groups = ["".join(f"\t{text}\n" for _, text in group) for group in (std, other) if group]
    return "import (\n" + "\n".join(groups) + ")"


def _insertions(source: Source, specs: list[tuple[str, str]]) -> list[Edit]:
    found = _declarations(source)
    if source.root.has_error:  # a declaration may stand below an error node: the whole tree is searched
        found = captures("(import_declaration) @d", source.root).get("d", [])
    # import "C" must stay alone right under its cgo preamble comment: never add to it.
    cgo = [d for d in found if any(_spec_path(source, s) == "C" for s in captures("(import_spec) @s", d).get("s", []))]
    declarations = [d for d in found if d not in cgo]
    blocks = [d for d in declarations if any(c.type == "import_spec_list" for c in d.named_children)]
    if blocks:
        block = blocks[0].named_children[0]
        return [_into_block(source, block, text, path) for path, text in specs]
    if declarations:
        single = declarations[0]
        old = single.named_children[0]
        old_path = source.text(old.child_by_field_name("path")).strip('"`')  # type: ignore[arg-type]
        text = _block_text([(old_path, source.text(old)), *specs])
        return [Edit(single.start_byte, single.end_byte, text.encode())]
    anchor = cgo[-1] if cgo else captures("(package_clause) @p", source.root)["p"][0]
    text = f"import {specs[0][1]}" if len(specs) == 1 else _block_text(specs)
    return [Edit(anchor.end_byte, anchor.end_byte, f"\n\n{text}".encode())]


def _groups(source: Source, block: Node) -> list[list[Node]]:
    """The specs of an import block split where a blank line separates them."""
    groups: list[list[Node]] = []
    last: Node | None = None
    for spec in (c for c in block.named_children if c.type == "import_spec"):
        if last is None or _blank_between(source, last, spec):
            groups.append([])
        groups[-1].append(spec)
        last = spec
    return groups


def _blank_between(source: Source, last: Node, spec: Node) -> bool:
    """Whether a blank line stands between the lines of two specs."""
    lines = source.data[last.end_byte : spec.start_byte].split(b"\n")[1:-1]  # the whole lines between them
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


def package_identifiers(statements: str) -> set[str]:
    """Names used as ``name.X`` in Go statements and declared nowhere in them."""
    prefix = b"package p\nfunc _() {\n"
    tree = parse(prefix + statements.encode() + b"\n}\n")
    operands = captures("(selector_expression operand: (identifier) @id)", tree.root_node).get("id", [])
    return {(i.text or b"").decode() for i in operands if scopes.resolve(i) is None}


def rename_packages(statements: str, renames: dict[str, str]) -> str:
    """Go statements with each package name ``old`` they use as ``old.X`` written ``renames[old]``."""
    if all(old == new for old, new in renames.items()):
        return statements  # every package keeps its default name: nothing to rename
    prefix = b"package p\nfunc _() {\n"
    tree = parse(prefix + statements.encode() + b"\n}\n")
    data = statements.encode()
    operands = captures("(selector_expression operand: (identifier) @id)", tree.root_node).get("id", [])
    for ident in sorted(operands, key=lambda n: n.start_byte, reverse=True):
        name = (ident.text or b"").decode()
        new = renames.get(name) if scopes.resolve(ident) is None else None
        if new is not None and new != name:
            start, end = ident.start_byte - len(prefix), ident.end_byte - len(prefix)
            data = data[:start] + new.encode() + data[end:]
    return data.decode()
