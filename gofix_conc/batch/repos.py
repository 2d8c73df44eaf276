"""Repositories of a campaign: where they come from, their mirror clones, commits and Go modules.

The client keeps one shallow bare mirror per repository under the campaign
directory (``clones/<slug>.git``), fetched again at each run so a new commit
makes new units; workers clone from the mirror when they share the disk, from
the source otherwise. Modules are read from the commit's tree (``git
ls-tree``), so planning never checks anything out.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gofix_conc.batch import sandbox
from gofix_conc.discovery import SKIPPED_DIRS

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[\w.-]+@[\w.-]+:")  # scheme://... or scp-like user@host:path
GIT_TIMEOUT = 600


class SourceError(Exception):
    """A repository argument that names nothing usable."""


@dataclass(frozen=True)
class Repository:
    source: str  # a URL, or an absolute path
    slug: str
    name: str | None = None  # owner/name on the forge, when the forge listed it (--org)


@dataclass(frozen=True)
class Planned:
    repo: Repository
    mirror: Path
    commit: str | None = None
    modules: tuple[str, ...] = ()
    error: str | None = None


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


def slug_of(source: str) -> str:
    """``name-1a2b3c4d``: the last path component, made safe, and a hash of the whole source."""
    name = PurePosixPath(source.rstrip("/").split(":")[-1]).name.removesuffix(".git") or "repo"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40] or "repo"
    return f"{name}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def repository(text: str, base: Path | None = None) -> Repository:
    text = text.strip()
    if is_url(text):
        return Repository(text, slug_of(text))
    path = ((base or Path.cwd()) / text).resolve()
    if not path.exists():
        raise SourceError(f"no such repository: {text}")
    return Repository(str(path), slug_of(str(path)))


def sources(arguments: Iterable[str], repos_file: Path | None = None) -> list[Repository]:
    """The repositories named on the command line and in ``repos_file`` (one a line, # comments), each once."""
    found: list[Repository] = [repository(a) for a in arguments]
    if repos_file is not None:
        try:
            lines = repos_file.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise SourceError(f"cannot read {repos_file}: {err.strerror or err}") from None
        for raw in lines:
            line = re.sub(r"\s+#.*$", "", raw).strip()
            if line and not line.startswith("#"):
                found.append(repository(line, repos_file.parent))
    return list({r.source: r for r in found}.values())


def git(args: list[str], cwd: Path | None = None, timeout: float = GIT_TIMEOUT) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=sandbox.environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise subprocess.CalledProcessError(done.returncode, ["git", *args], done.stdout, said[-1] if said else "")
    return done.stdout


def fetch(repo: Repository, clones: Path) -> Planned:
    """Fetch the default branch's head into the repository's mirror; its commit and modules."""
    mirror = clones / f"{repo.slug}.git"
    try:
        if not (mirror / "HEAD").is_file():
            partial = clones / f".{repo.slug}.{os.getpid()}.tmp"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            git(["init", "-q", "--bare"], partial)
            partial.rename(mirror)  # a mirror exists whole or not at all
        git(["fetch", "-q", "--depth", "1", "--force", repo.source, "+HEAD:refs/gofix-conc/head"], mirror)
        commit = git(["rev-parse", "refs/gofix-conc/head^{commit}"], mirror).strip()
        return Planned(repo, mirror, commit, modules(mirror, commit))
    except subprocess.CalledProcessError as err:
        return Planned(repo, mirror, error=f"git {err.cmd[1]} failed: {err.stderr or err.returncode}")
    except subprocess.TimeoutExpired as err:
        return Planned(repo, mirror, error=f"git {err.cmd[1]} timed out after {err.timeout:.0f}s")
    except OSError as err:
        return Planned(repo, mirror, error=f"cannot fetch: {err}")


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p in SKIPPED_DIRS or p.startswith((".", "_")) for p in parts)


def modules(mirror: Path, commit: str) -> tuple[str, ...]:
    """Directories holding a go.mod outside vendor/, testdata/, hidden and _ directories, as the go tool sees them.

    A repository with Go files and no go.mod at all is one unit at its root.
    """
    names = git(["ls-tree", "-r", "-z", "--name-only", commit], mirror).split("\0")
    found = set()
    any_go = False
    for name in filter(None, names):
        path = PurePosixPath(name)
        if _skipped(path.parts[:-1]):
            continue
        if path.name == "go.mod":
            found.add(str(path.parent))
        elif path.suffix == ".go":
            any_go = True
    if not found and any_go:
        found.add(".")
    return tuple(sorted(found, key=lambda m: (m != ".", m)))


def go_work_uses(root: Path, module_dir: Path) -> bool | None:
    """Whether ``module_dir`` is a `use` of a go.work between it and ``root``; None when there is no go.work."""
    for directory in [module_dir, *module_dir.parents]:
        work = directory / "go.work"
        if work.is_file():
            uses = _uses(work.read_text(encoding="utf-8", errors="replace"))
            return any((directory / u).resolve() == module_dir.resolve() for u in uses)
        if directory == root:
            break
    return None


def _uses(text: str) -> list[str]:
    text = re.sub(r"//.*", "", text)
    found = []
    for block in re.findall(r"^\s*use\s*\((.*?)\)", text, re.MULTILINE | re.DOTALL):
        found += [line.strip().strip('"`') for line in block.splitlines() if line.strip()]
    found += [m.strip('"`') for m in re.findall(r"^\s*use\s+([^\s(]+)", text, re.MULTILINE)]
    return found
