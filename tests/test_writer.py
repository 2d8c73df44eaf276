"""writer.write_atomic on real files: what a write keeps, what it refuses, what a crash leaves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gofix_conc import writer
from gofix_conc.writer import WriteError, write_atomic

OLD = b"package x\n\nfunc F() {}\n"
NEW = b"package x\n\nfunc F() { _ = 1 }\n"


def _file(tmp_path: Path, name: str = "x.go", data: bytes = OLD, mode: int = 0o644) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("mode", [0o640, 0o755, 0o600])
def test_mode_is_kept(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, mode=mode)
    write_atomic(path, NEW, OLD)
    assert path.read_bytes() == NEW
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert _names(tmp_path) == ["x.go"]


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_symlink_is_written_through_to_its_target(tmp_path: Path, absolute: bool) -> None:
    (tmp_path / "src").mkdir()
    real = _file(tmp_path / "src", "real.go", mode=0o640)
    link = tmp_path / "link.go"
    pointing_at = str(real) if absolute else "src/real.go"
    link.symlink_to(pointing_at)
    write_atomic(link, NEW, OLD)
    assert link.is_symlink() and os.readlink(link) == pointing_at
    assert real.read_bytes() == NEW and not real.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert _names(tmp_path / "src") == ["real.go"]


def test_symlink_chain_reaches_the_last_target(tmp_path: Path) -> None:
    real = _file(tmp_path, "real.go")
    (tmp_path / "mid.go").symlink_to("real.go")
    (tmp_path / "top.go").symlink_to("mid.go")
    write_atomic(tmp_path / "top.go", NEW, OLD)
    assert real.read_bytes() == NEW
    assert (tmp_path / "mid.go").is_symlink() and (tmp_path / "top.go").is_symlink()


def test_dangling_symlink_is_an_error(tmp_path: Path) -> None:
    link = tmp_path / "x.go"
    link.symlink_to("gone.go")
    with pytest.raises(WriteError, match=r"symlink to gone.go, which does not exist; not written"):
        write_atomic(link, NEW, OLD)
    assert link.is_symlink() and _names(tmp_path) == ["x.go"]


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.go").symlink_to("b.go")
    (tmp_path / "b.go").symlink_to("a.go")
    with pytest.raises(WriteError, match="symlink loop; not written"):
        write_atomic(tmp_path / "a.go", NEW, OLD)
    assert _names(tmp_path) == ["a.go", "b.go"]


def test_hard_links_all_see_the_new_content(tmp_path: Path) -> None:
    path = _file(tmp_path, mode=0o640)
    other = tmp_path / "other.go"
    os.link(path, other)
    inode = path.stat().st_ino
    write_atomic(path, NEW, OLD)
    assert path.read_bytes() == NEW and other.read_bytes() == NEW
    assert path.stat().st_ino == inode and path.stat().st_nlink == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert _names(tmp_path) == ["other.go", "x.go"]


def test_shorter_content_in_place_leaves_no_tail(tmp_path: Path) -> None:
    path = _file(tmp_path)
    os.link(path, tmp_path / "other.go")
    write_atomic(path, b"package x\n", OLD)
    assert (tmp_path / "other.go").read_bytes() == b"package x\n"


def test_read_only_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = _file(tmp_path, mode=0o444)
    with pytest.raises(WriteError, match=r"read-only; not written \(use --force to write anyway\)"):
        write_atomic(path, NEW, OLD)
    assert path.read_bytes() == OLD and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert _names(tmp_path) == ["x.go"]


def test_force_writes_a_read_only_file_and_keeps_it_read_only(tmp_path: Path) -> None:
    path = _file(tmp_path, mode=0o444)
    write_atomic(path, NEW, OLD, force=True)
    assert path.read_bytes() == NEW and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_force_on_a_read_only_hard_link(tmp_path: Path) -> None:
    path = _file(tmp_path, mode=0o444)
    os.link(path, tmp_path / "other.go")
    with pytest.raises(WriteError, match="read-only"):
        write_atomic(path, NEW, OLD)
    write_atomic(path, NEW, OLD, force=True)
    assert (tmp_path / "other.go").read_bytes() == NEW
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_change_made_after_reading_is_never_overwritten(tmp_path: Path) -> None:
    path = _file(tmp_path, data=b"package x\n// edited by the user\n")
    with pytest.raises(WriteError, match="changed on disk since it was read; not written"):
        write_atomic(path, NEW, OLD)
    assert path.read_bytes() == b"package x\n// edited by the user\n"


@pytest.mark.parametrize("hard_link", [False, True], ids=["replace", "in-place"])
def test_a_change_made_while_writing_is_caught_before_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_link: bool
) -> None:
    path = _file(tmp_path)
    if hard_link:
        os.link(path, tmp_path / "other.go")
    real_fsync = os.fsync

    def edit_then_fsync(fd: int) -> None:  # the user saves while the new bytes are being flushed
        path.write_bytes(b"package x\n// saved meanwhile\n")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", edit_then_fsync)
    with pytest.raises(WriteError, match="changed on disk"):
        write_atomic(path, NEW, OLD)
    assert path.read_bytes() == b"package x\n// saved meanwhile\n"
    assert _names(tmp_path) == (["other.go", "x.go"] if hard_link else ["x.go"])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_owner_and_group_are_kept(tmp_path: Path) -> None:
    path = _file(tmp_path, mode=0o4755)
    os.chown(path, 1234, 1235)
    os.chmod(path, 0o4755)  # chown cleared the setuid bit
    write_atomic(path, NEW, OLD)
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (1234, 1235)
    assert stat.S_IMODE(st.st_mode) == 0o4755


def test_owner_that_cannot_be_given_means_writing_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)
    inode = path.stat().st_ino

    def not_allowed(fd: int, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    # As a user writing a file that belongs to someone else (say, group-writable).
    monkeypatch.setattr(os, "fchown", not_allowed)
    monkeypatch.setattr(os, "fstat", lambda fd, real=os.fstat: _other_owner(real(fd)))
    write_atomic(path, NEW, OLD)
    assert path.read_bytes() == NEW and path.stat().st_ino == inode
    assert _names(tmp_path) == ["x.go"]


def _other_owner(st: os.stat_result) -> os.stat_result:
    fields = list(st)
    fields[stat.ST_UID] = 4321
    return os.stat_result(fields)


def test_crash_before_the_rename_leaves_the_original_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path)

    def crash(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WriteError, match="Input/output error"):
        write_atomic(path, NEW, OLD)
    assert path.read_bytes() == OLD
    assert _names(tmp_path) == ["x.go"]


def test_failed_write_in_place_puts_the_original_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)
    os.link(path, tmp_path / "other.go")
    real_write, calls = os.write, []

    def half_then_fail(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) == 1:  # the new bytes; the restore's write goes through
            real_write(fd, bytes(data[:5]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(WriteError, match="No space left on device"):
        write_atomic(path, NEW, OLD)
    assert path.read_bytes() == OLD and (tmp_path / "other.go").read_bytes() == OLD
    assert _names(tmp_path) == ["other.go", "x.go"]


def test_when_the_original_cannot_be_put_back_the_backup_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)
    os.link(path, tmp_path / "other.go")

    def broken(fd: int, data: bytes) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(writer, "_overwrite", broken)
    with pytest.raises(WriteError, match=r"could not be restored; it is in .*\.gofix-conc-backup"):
        write_atomic(path, NEW, OLD)
    backups = [p for p in tmp_path.iterdir() if p.name.endswith(".gofix-conc-backup")]
    assert len(backups) == 1 and backups[0].read_bytes() == OLD


def test_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "x.go"
    os.mkfifo(fifo)
    with pytest.raises(WriteError, match="not a regular file"):
        write_atomic(fifo, NEW, OLD)


def test_a_directory_closed_to_new_files_means_writing_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path)
    inode = path.stat().st_ino
    real_mkstemp, backups = writer.tempfile.mkstemp, tmp_path / "elsewhere"
    backups.mkdir()

    def closed_directory(*, prefix: str, suffix: str, dir: object = None) -> tuple[int, str]:
        if dir is not None:  # root ignores directory permissions, so pretend
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(prefix=prefix, suffix=suffix, dir=backups)

    monkeypatch.setattr(writer.tempfile, "mkstemp", closed_directory)
    write_atomic(path, NEW, OLD)
    assert path.read_bytes() == NEW and path.stat().st_ino == inode
    assert _names(tmp_path) == ["elsewhere", "x.go"] and _names(backups) == []
