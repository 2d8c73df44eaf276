"""Fixes as patch files: one unified diff for ``git apply`` / ``patch -p1``, or mbox patches for ``git am``.

Each file's diff has git's headers (``diff --git``, ``index``) so that git
knows the file's mode and blobs, and plain ``---``/``+++`` lines so that GNU
patch reads it too. Names follow git: a name holding a space gets a trailing
tab on its ``---``/``+++`` lines (patch stops a name there), a name holding a
quote, a backslash or a control character is C-quoted. Other non-ASCII names
are written as UTF-8, as with ``core.quotePath=false``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.header import Header
from pathlib import Path

from gofix_conc import __version__, reporters

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}
_ESCAPES |= {'"': '\\"', "\\": "\\\\"}
_NEEDS_QUOTES = re.compile(r'["\\\x00-\x1f\x7f]')


@dataclass(frozen=True)
class FilePatch:
    name: str  # relative to where the patch is applied, forward slashes
    old: bytes
    new: bytes
    mode: int = 0o100644


def quote_name(name: str) -> str:
    """``name`` as git writes it in a diff header."""
    if not _NEEDS_QUOTES.search(name):
        return name
    out = []
    for char in name:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _header_name(prefix: str, name: str) -> str:
    quoted = quote_name(prefix + name)
    return quoted + "\t" if " " in name and not quoted.startswith('"') else quoted


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_mode(path: Path) -> int:
    try:
        executable = path.stat().st_mode & stat.S_IXUSR
    except OSError:
        executable = 0
    return 0o100755 if executable else 0o100644


def file_diff(patch: FilePatch) -> str:
    """One file's change in git's format."""
    body = reporters.unified_diff(patch.old, patch.new, _header_name("a/", patch.name), _header_name("b/", patch.name))
    if not body:
        return ""
    head = f"diff --git {quote_name('a/' + patch.name)} {quote_name('b/' + patch.name)}\n"
    index = f"index {blob_id(patch.old)[:12]}..{blob_id(patch.new)[:12]} {patch.mode:o}\n"
    return head + index + body


def unified(patches: Iterable[FilePatch]) -> str:
    return "".join(file_diff(p) for p in patches)


def diffstat(patches: Sequence[FilePatch]) -> str:
    rows = []
    added = removed = 0
    for p in patches:
        lines = file_diff(p).splitlines()[4:]
        plus = sum(1 for line in lines if line.startswith("+"))
        minus = sum(1 for line in lines if line.startswith("-"))
        added, removed = added + plus, removed + minus
        rows.append((p.name, plus, minus))
    width = max((len(name) for name, _, _ in rows), default=0)
    out = [
        f" {name:<{width}} | {plus + minus} {'+' * min(plus, 40)}{'-' * min(minus, 40)}" for name, plus, minus in rows
    ]
    files = len(rows)
    summary = f" {files} file{'s' * (files != 1)} changed"
    if added:
        summary += f", {added} insertion{'s' * (added != 1)}(+)"
    if removed:
        summary += f", {removed} deletion{'s' * (removed != 1)}(-)"
    return "\n".join([*out, summary]) + "\n"


def _encoded(text: str) -> str:
    """A header value, RFC 2047-encoded when it is not ASCII."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def mbox(
    message: str,
    patches: Sequence[FilePatch],
    author: tuple[str, str],
    number: int,
    total: int,
    date: float | None = None,
) -> str:
    """One patch as ``git format-patch`` writes it; ``git am`` takes the commit message from it."""
    subject, _, body = message.partition("\n")
    prefix = "[PATCH]" if total == 1 else f"[PATCH {number}/{total}]"
    name, address = author
    headers = [
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
        f"From: {email.utils.formataddr((name, address), charset='utf-8')}",
        f"Date: {email.utils.formatdate(date, localtime=True)}",
        f"Subject: {_encoded(f'{prefix} {subject}')}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    text = (
        body.strip("\n") + "\n---\n" + diffstat(patches) + "\n" + unified(patches) + f"-- \ngofix-conc {__version__}\n"
    )
    if "\r" in text:
        # git am strips CRs from 8bit mail lines (unless --keep-cr): base64 keeps a CRLF file's line endings.
        headers[-1] = "Content-Transfer-Encoding: base64"
        text = base64.encodebytes(text.encode()).decode()
    return "\n".join(headers) + "\n\n" + text + "\n"


def mbox_name(number: int, subject: str) -> str:
    """``0001-fix-concurrency-bound-goroutines-in-loops.patch``, as ``git format-patch`` names it."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", subject).strip("-.")[:52].rstrip("-.")
    return f"{number:04d}-{slug}.patch"
