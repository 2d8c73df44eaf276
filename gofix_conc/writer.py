"""Writing fixed files: all or nothing, never over a change made meanwhile."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class WriteError(Exception):
    pass


def write_atomic(path: Path, new: bytes, expected: bytes) -> None:
    """Replace ``path`` with ``new`` if it still holds ``expected``.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, get the original's mode, and are renamed over the original: a crash
    leaves either the old file or the new one, never half of each.
    """
    try:
        if path.read_bytes() != expected:
            raise WriteError(f"{path}: changed on disk since it was read; not written")
        mode = stat.S_IMODE(path.stat().st_mode)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gofix-conc", dir=path.parent)
    except OSError as err:
        raise WriteError(f"{path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"{path}: {err.strerror or err}") from None
