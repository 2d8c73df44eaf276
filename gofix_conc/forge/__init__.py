"""Forge clients for the PR bot: which forge a remote is on, its API, the token, one adapter per forge."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gofix_conc.forge import gitea, github, gitlab
from gofix_conc.forge.base import (
    Comment,
    Forge,
    ForgeError,
    PullRequest,
    Repository,
    RetryPolicy,
    State,
    Suggestion,
)
from gofix_conc.forge.gitea import Gitea
from gofix_conc.forge.github import GitHub
from gofix_conc.forge.gitlab import GitLab

__all__ = [
    "KINDS",
    "Comment",
    "Forge",
    "ForgeError",
    "PullRequest",
    "Repository",
    "RetryPolicy",
    "State",
    "Suggestion",
    "Target",
    "connect",
    "detect",
    "org_repositories",
    "strip_credentials",
    "token_from_env",
]

KINDS = ("github", "gitlab", "gitea")
_ADAPTERS = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}
TOKEN_VARIABLES = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?!//)(?P<path>.+)$")  # git@host:owner/name.git


@dataclass(frozen=True)
class Target:
    kind: str  # github, gitlab or gitea
    api_url: str
    repo: str  # owner/name; group/subgroup/name on GitLab
    web_url: str  # the forge's web root (https://github.com), links in the PR body start here


def strip_credentials(url: str) -> str:
    """``url`` without a user or password: what may be shown or used as a git config key."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git") and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return url


def _host_and_path(url: str) -> tuple[str, str, str] | None:
    """(scheme, host[:port], repository path) of a remote URL, or None for a local path."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git", "git+ssh", "ssh+git"):
        host = parts.netloc.rsplit("@", 1)[-1]
        if parts.scheme != "https" and parts.scheme != "http":
            host = host.split(":", 1)[0]  # an ssh port says nothing about the web host
        return parts.scheme, host, parts.path
    if not parts.scheme or len(parts.scheme) == 1:  # scp-like (a Windows drive letter is one character)
        match = _SCP.match(url)
        if match and "/" not in match["host"]:
            return "ssh", match["host"], match["path"]
    return None


def _guess_kind(host: str) -> str | None:
    name = host.split(":", 1)[0].lower()
    if name == "github.com" or name.startswith("github."):
        return "github"
    if "gitlab" in name:
        return "gitlab"
    if name == "codeberg.org" or "gitea" in name or "forgejo" in name:
        return "gitea"
    return None


def detect(remote_url: str, kind: str | None = None, api_url: str | None = None, repo: str | None = None) -> Target:
    """The forge behind ``remote_url``; ``kind``, ``api_url`` and ``repo`` override what the URL says."""
    if kind is not None and kind not in KINDS:
        raise ForgeError(f"unknown forge {kind!r}: choose one of {', '.join(KINDS)}")
    parsed = _host_and_path(remote_url)
    host = ""
    if parsed is not None:
        scheme, host, path = parsed
        path = path.strip("/")
        path = path[: -len(".git")] if path.endswith(".git") else path
        repo = repo or path
        kind = kind or _guess_kind(host)
    shown = strip_credentials(remote_url)
    if kind is None:
        raise ForgeError(f"cannot tell which forge {shown} is on: pass --forge github, gitlab or gitea")
    if not repo or "/" not in repo.strip("/"):
        raise ForgeError(f"cannot tell the repository (owner/name) from {shown}: pass --repo OWNER/NAME")
    repo = repo.strip("/")
    if api_url is None:
        if not host:
            raise ForgeError(f"{shown} is not on a web host: pass --api-url with --forge {kind}")
        web_host = host.split(":", 1)[0] if parsed and parsed[0] not in ("http", "https") else host
        scheme = "http" if parsed and parsed[0] == "http" else "https"
        if kind == "github":
            api_url = "https://api.github.com" if web_host == "github.com" else f"{scheme}://{web_host}/api/v3"
        else:
            api_url = f"{scheme}://{web_host}/api/{'v4' if kind == 'gitlab' else 'v1'}"
    api_url = api_url.rstrip("/")
    return Target(kind, api_url, repo, _web_root(api_url))


def _web_root(api_url: str) -> str:
    if api_url == "https://api.github.com":
        return "https://github.com"
    return re.sub(r"/api(/v\d+)?$", "", api_url)


def token_from_env(kind: str, environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("GOFIX_CONC_TOKEN") or env.get(TOKEN_VARIABLES[kind]) or None


def connect(target: Target, token: str, retry: RetryPolicy | None = None) -> Forge:
    return _ADAPTERS[target.kind](target.api_url, target.repo, target.web_url, token, retry)


def org_repositories(
    kind: str, api_url: str, token: str, org: str, retry: RetryPolicy | None = None
) -> list[Repository]:
    """Every repository of organisation ``org`` (GitLab: group, subgroups included), all pages."""
    if kind not in KINDS:
        raise ForgeError(f"unknown forge {kind!r}: choose one of {', '.join(KINDS)}")
    http = _ADAPTERS[kind](api_url, "", _web_root(api_url), token, retry).http  # its headers and auth, no repository
    lister = {"github": github.org_repositories, "gitlab": gitlab.org_repositories, "gitea": gitea.org_repositories}
    return lister[kind](http, org)
