"""Writing fixed files: all or nothing, never over a change made meanwhile.

A file is written by one of two strategies, both ending with the file's
mode, owner and group as they were:

- **Replace** (the usual one): the new bytes go to a temporary file in the
  same directory, which gets the original's owner, group and mode, is
  flushed to disk and renamed over the original. A crash leaves the old file
  or the new one, never half of each.
- **In place**, when a rename would lose something: the file has other hard
  links (a rename gives the name a new inode and the other names keep the old
  code), the temporary file cannot be given the original's owner (we are not
  root and the file is not ours), or the directory does not let us create
  files. The same inode is rewritten. A plain truncate-and-write leaves an
  empty or half-written file if the process dies in between, so the original
  bytes are first copied to a backup file, flushed to disk; it is removed
  only once the new bytes are on disk, and if the write fails the original
  bytes are put back. After a crash the backup
  (``.<name>.<random>.gofix-conc-backup``) holds the code.

A symlink is written through: its target gets the new bytes and the link
stays a link. A dangling link or a loop is an error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

_TEMP_SUFFIX = ".gofix-conc"
_BACKUP_SUFFIX = ".gofix-conc-backup"


class WriteError(Exception):
    pass


class _InPlace(Exception):
    """The temporary file cannot stand in for the original: write in place."""


def write_atomic(path: Path, new: bytes, expected: bytes, *, force: bool = False) -> None:
    """Write ``new`` to ``path`` if it still holds ``expected``.

    A file without write permission for its owner (or that we may not write)
    is refused unless ``force``: root can write anything, so the mode bits,
    not only the access check, say whether the user meant it read-only.
    """
    target = _resolve(path)
    try:
        st = target.stat()
        if not stat.S_ISREG(st.st_mode):
            raise WriteError(f"{path}: not a regular file; not written")
        _check_unchanged(path, target, expected)
        read_only = not st.st_mode & stat.S_IWUSR or not os.access(target, os.W_OK)
        if read_only and not force:
            raise WriteError(f"{path}: read-only; not written (use --force to write anyway)")
        if st.st_nlink > 1:
            _write_in_place(path, target, new, expected, st)
            return
        try:
            _replace(path, target, new, expected, st)
        except _InPlace:
            _write_in_place(path, target, new, expected, st)
    except OSError as err:
        raise WriteError(f"{path}: {err.strerror or err}") from None


def _resolve(path: Path) -> Path:
    if not path.is_symlink():
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        raise WriteError(f"{path}: symlink to {os.readlink(path)}, which does not exist; not written") from None
    except (OSError, RuntimeError) as err:  # RuntimeError: a loop, before Python 3.13
        if isinstance(err, RuntimeError) or err.errno == errno.ELOOP:
            raise WriteError(f"{path}: symlink loop; not written") from None
        raise WriteError(f"{path}: {err.strerror or err}") from None


def _check_unchanged(path: Path, target: Path, expected: bytes) -> None:
    if target.read_bytes() != expected:
        raise WriteError(f"{path}: changed on disk since it was read; not written")


def _replace(path: Path, target: Path, new: bytes, expected: bytes, st: os.stat_result) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent)
    except PermissionError:
        raise _InPlace from None  # the directory is not ours to add to; the file may be
    try:
        with os.fdopen(fd, "wb") as handle:
            mine = os.fstat(handle.fileno())
            if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
                try:
                    os.fchown(handle.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    raise _InPlace from None
            # After the chown, which clears the set-id bits.
            os.fchmod(handle.fileno(), stat.S_IMODE(st.st_mode))
            handle.write(new)
            handle.flush()
            os.fsync(handle.fileno())
        _check_unchanged(path, target, expected)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def _write_in_place(path: Path, target: Path, new: bytes, expected: bytes, st: os.stat_result) -> None:
    backup = _backup(target, expected)
    try:
        _check_unchanged(path, target, expected)
        with _writable(target, st):
            fd = os.open(target, os.O_WRONLY)
    except BaseException:
        backup.unlink(missing_ok=True)
        raise
    # From here on the backup is removed only once the file holds whole bytes, old or new.
    try:
        try:
            _overwrite(fd, new)
        except BaseException:
            try:
                _overwrite(fd, expected)
            except OSError:
                raise WriteError(
                    f"{path}: write failed and the original could not be restored; it is in {backup}"
                ) from None
            backup.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)
    backup.unlink(missing_ok=True)


def _backup(target: Path, data: bytes) -> Path:
    """A flushed copy of ``data`` next to ``target`` (or in the temp dir if that directory is closed to us)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_BACKUP_SUFFIX, dir=target.parent)
    except PermissionError:
        fd, name = tempfile.mkstemp(prefix=f"{target.name}.", suffix=_BACKUP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _sync_directory(Path(name).parent)
    return Path(name)


def _overwrite(fd: int, data: bytes) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.ftruncate(fd, len(data))
    os.fsync(fd)


@contextlib.contextmanager
def _writable(target: Path, st: os.stat_result) -> Iterator[None]:
    """Lend the owner write permission for the open (``force`` on a read-only file we own)."""
    lend = not os.access(target, os.W_OK) and st.st_uid == os.geteuid()
    if lend:
        os.chmod(target, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
    try:
        yield
    finally:
        if lend:
            os.chmod(target, stat.S_IMODE(st.st_mode))


def _sync_directory(directory: Path) -> None:
    """Make a rename or a new file durable; some file systems cannot, which costs only durability."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
