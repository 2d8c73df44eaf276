"""What a unit's processes may see and use: no credentials, no downloads, bounded CPU and memory.

A campaign runs on repositories nobody reviewed: their build must not reach
the forge tokens of whoever runs it, fetch a toolchain or modules from the
internet, or take the machine down. Every subprocess of a unit gets
:func:`environment` and :func:`limits`; ``go generate`` is never run and tests
run only with ``--verify race``.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Callable, Mapping

# Forge and CI credentials by name, then anything that looks like one.
TOKEN_NAMES = frozenset(
    {
        "GOFIX_CONC_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "GITLAB_TOKEN",
        "GL_TOKEN",
        "CI_JOB_TOKEN",
        "GITEA_TOKEN",
        "FORGEJO_TOKEN",
        "BITBUCKET_TOKEN",
        "GOPRIVATE_TOKEN",
        "NETRC",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
    }
)
_SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE_KEY|(^|_)AUTH(_|$)", re.IGNORECASE)
# Kept although they match: they hold no secret (SSH agents sign without handing out keys).
_KEEP = frozenset({"SSH_AUTH_SOCK", "XAUTHORITY"})


def is_secret(name: str) -> bool:
    return name not in _KEEP and (name in TOKEN_NAMES or bool(_SECRET.search(name)))


def environment(base: Mapping[str, str] | None = None, goproxy: str | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without credentials, with Go kept offline and local."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not is_secret(k)}
    proxy = goproxy or "off"
    env.update(
        GOTOOLCHAIN="local",  # never download another Go
        GOPROXY=proxy,
        GOFIX_VERIFY_GOPROXY=proxy,  # what verify.py hands to go
        GIT_TERMINAL_PROMPT="0",  # a private repository fails instead of asking for a password
        GCM_INTERACTIVE="never",
    )
    if goproxy is None:
        env["GONOSUMDB"] = "*"
        env["GOSUMDB"] = "off"  # nothing to check against offline; go.sum in the repository still applies
    env.pop("GOFLAGS", None)  # verify.py chooses -mod=mod or -mod=vendor per module
    return env


def limits(cpu_seconds: int | None, memory_mb: int | None) -> Callable[[], None]:
    """A ``preexec_fn`` setting RLIMIT_CPU and RLIMIT_AS; children (git, go, the compiler) inherit them."""

    def apply() -> None:
        if cpu_seconds:
            # The soft limit sends SIGXCPU, the hard one a few seconds later SIGKILL.
            _lower(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5)
        if memory_mb:
            size = memory_mb * 1024 * 1024
            _lower(resource.RLIMIT_AS, size, size)

    return apply


def _lower(kind: int, soft: int, hard: int) -> None:
    """Lower a limit; never try to raise one above the hard limit already in force (not allowed)."""
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))
