"""Contexts in Go code: the ``context.Context`` (or ``*http.Request``) a
function receives, what a name means at a point where no identifier stands
yet, and the import of a package once its last use is rewritten away.

func (s *S) Get(ctx context.Context, id string)   ⇒ ctx (a usable context parameter)
func handle(w http.ResponseWriter, r *http.Request) ⇒ r (its Context() is usable)
func (s *S) Get(_ context.Context, id string)      ⇒ blank: the function says it ignores its context
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import imports, scopes
from gofix_conc.model import Edit
from gofix_conc.source import Source, captures


@dataclass(frozen=True)
class Parameters:
    """The context-carrying parameters of one function."""

    kind: str  # "context" (context.Context) or "request" (*http.Request)
    usable: list[scopes.Declaration]  # named, not "_"
    blank: int  # "_" or unnamed parameters of that type


def import_name(source: Source, path: str) -> str | None:
    """The name the file uses for package ``path``; None when not imported or imported as ``_``/``.``."""
    found = next((i for i in imports.imports(source) if i.path == path and i.name not in ("_", ".")), None)
    return found.local_name if found is not None else None


def _is_qualified(type_node: Node | None, package: str | None, name: bytes) -> bool:
    if package is None or type_node is None or type_node.type != "qualified_type":
        return False
    pkg = type_node.child_by_field_name("package")
    ident = type_node.child_by_field_name("name")
    return pkg is not None and ident is not None and pkg.text == package.encode() and ident.text == name


def parameters(function: Node, context: str | None, http: str | None) -> Parameters | None:
    """The ``context.Context`` parameters of ``function``, else its ``*http.Request`` ones; None if neither."""
    params = function.child_by_field_name("parameters")
    found: dict[str, tuple[list[scopes.Declaration], int]] = {"context": ([], 0), "request": ([], 0)}
    for declaration in params.named_children if params is not None else []:
        type_node = declaration.child_by_field_name("type")
        if _is_qualified(type_node, context, b"Context"):
            kind = "context"
        elif (
            type_node is not None
            and type_node.type == "pointer_type"
            and _is_qualified(next(iter(type_node.named_children), None), http, b"Request")
        ):
            kind = "request"
        else:
            continue
        usable, blank = found[kind]
        names = [n for n in declaration.children_by_field_name("name") if n.is_named]
        blank += len([n for n in names if n.text == b"_"]) + (0 if names else 1)
        for name in names:
            decl = scopes.resolve(name) if name.text != b"_" else None
            if decl is not None:
                usable.append(decl)
        found[kind] = (usable, blank)
    for kind in ("context", "request"):
        usable, blank = found[kind]
        if usable or blank:
            return Parameters(kind, usable, blank)
    return None


def visible(at: Node, name: str) -> scopes.Declaration | None:
    """The declaration ``name`` would refer to if written where ``at`` stands (None: not in this file)."""
    child, node = at, at.parent
    while node is not None:
        if node.type == "statement_list":
            for statement in node.named_children:
                if statement.end_byte > child.start_byte:
                    break
                for decl in scopes.declared_by(statement):
                    if decl.name == name:
                        return scopes.resolve(decl.node)  # a := redeclaration is the earlier variable
        elif node.type == "source_file":
            return None
        else:
            for decl in scopes.header_declarations(node, child):
                if decl.name == name:
                    return decl
        child, node = node, node.parent
    return None


def package_uses(source: Source, name: str) -> list[Node]:
    """Every ``name.X`` of the file that names the imported package (not a local variable of that name)."""
    found = []
    for ident in captures("(selector_expression operand: (identifier) @p)", source.root).get("p", []):
        if ident.text == name.encode() and scopes.resolve(ident) is None:
            found.append(ident)
    for ident in captures("(qualified_type package: (package_identifier) @p)", source.root).get("p", []):
        if ident.text == name.encode():
            found.append(ident)
    return found


def import_spec(source: Source, path: str) -> Node | None:
    return next((i.node for i in imports.imports(source) if i.path == path and i.name not in ("_", ".")), None)


def remove_import(source: Source, spec: Node) -> Edit:
    """The edit deleting an import spec (its whole declaration when it is the only one), gofmt-clean."""
    holder = spec.parent
    if holder is not None and holder.type == "import_spec_list":
        siblings = [c for c in holder.named_children if c.type == "import_spec"]
        if len(siblings) > 1:
            return _delete_line(source, spec)
        holder = holder.parent
    return _delete_line(source, holder if holder is not None else spec)


def _delete_line(source: Source, node: Node) -> Edit:
    """Delete the lines ``node`` covers; where blank lines would pile up (or open/close a block), one goes too."""
    data = source.data
    start = source.line_start(node.start_byte)
    newline = data.find(b"\n", node.end_byte)
    end = len(data) if newline < 0 else newline + 1
    previous = data[source.line_start(max(start - 1, 0)) : start].strip() if start > 0 else b"("
    after = data.find(b"\n", end)
    following = data[end : len(data) if after < 0 else after].strip()
    if not following and after >= 0 and (not previous or previous.endswith(b"(")):
        end = after + 1
    elif not previous and start > 0 and following == b")":
        start = source.line_start(start - 1)
    return Edit(start, end, b"")
