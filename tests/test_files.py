"""Private files in-process: what is read, what is refused, and how a file is replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docker_credential_ecr import files, trust
from support.files import mode
from support.users import OTHER


def private(path: Path, data: bytes = b"secret") -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_read_private_reads_only_a_private_regular_file_of_ours(tmp_path: Path) -> None:
    own = private(tmp_path / "own")
    assert files.read_private(str(own)) == b"secret"
    loose = private(tmp_path / "loose")
    loose.chmod(0o640)
    link = tmp_path / "link"
    link.symlink_to(own)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)  # opened for reading, a FIFO would block without O_NONBLOCK
    foreign = private(tmp_path / "foreign")
    os.chown(foreign, OTHER, OTHER)
    for refused in (loose, link, fifo, foreign, tmp_path, tmp_path / "missing"):
        assert files.read_private(str(refused)) is None, refused


def test_read_private_refuses_a_file_over_its_limit(tmp_path: Path) -> None:
    path = private(tmp_path / "big", b"x" * 11)
    assert files.read_private(str(path), limit=10) is None
    assert files.read_private(str(path), limit=11) == b"x" * 11


def test_read_regular_is_none_when_absent_and_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    assert files.read_regular(str(tmp_path / "missing")) is None
    path = tmp_path / "config"
    path.write_bytes(b"a = 1\n")
    found = files.read_regular(str(path))
    assert found is not None
    assert (found[0], found[1].st_ino) == (b"a = 1\n", path.stat().st_ino)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="is not a regular file"):
        files.read_regular(str(fifo))
    with pytest.raises(OSError, match="is not a regular file"):
        files.read_regular(str(tmp_path))


@pytest.mark.usefixtures("umask_000")
def test_ensure_private_dir_makes_every_level_0700(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    files.ensure_private_dir(str(deep))
    assert (mode(tmp_path / "a"), mode(deep)) == (0o700, 0o700)
    files.ensure_private_dir(str(deep))  # again: the same directory, accepted


def test_ensure_private_dir_refuses_and_never_mends_an_unsafe_one(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(OSError, match="writable by others"):
        files.ensure_private_dir(str(loose))
    assert mode(loose) == 0o777  # shared directories are not chmod-ed
    theirs = tmp_path / "theirs"
    theirs.mkdir(0o700)
    os.chown(theirs, OTHER, OTHER)
    with pytest.raises(OSError, match=f"owned by uid {OTHER}"):
        files.ensure_private_dir(str(theirs))
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="not a directory"):
        files.ensure_private_dir(str(tmp_path / "file"))
    (tmp_path / "link").symlink_to(tmp_path / "a-private-one")
    (tmp_path / "a-private-one").mkdir(0o700)
    with pytest.raises(OSError, match="symlink"):
        files.ensure_private_dir(str(tmp_path / "link"))


@pytest.mark.usefixtures("umask_000")
def test_replace_file_gives_the_mode_and_owner_asked_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"old")
    inode = path.stat().st_ino
    files.replace_file(str(path), b"new", 0o6644, owner=(OTHER, OTHER))
    info = path.stat()
    assert path.read_bytes() == b"new"
    assert (mode(path), info.st_uid, info.st_gid) == (0o644, OTHER, OTHER)  # no set-ID bits
    assert info.st_ino != inode  # a new file renamed over the old, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_replace_file_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(trust.UntrustedPath, match="writable"):
        files.replace_file(str(shared / "out.json"), b"{}")
    assert list(shared.iterdir()) == []


def test_a_failed_replace_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "f").mkdir()  # renaming a file over a directory fails
    with pytest.raises(IsADirectoryError):
        files.write_private(str(target / "f"), b"x")
    assert [p.name for p in target.iterdir()] == ["f"]


@pytest.mark.usefixtures("umask_000")
def test_open_append_makes_a_private_log_and_refuses_links(tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    fd = files.open_append(str(log))
    try:
        os.write(fd, b"line\n")
    finally:
        os.close(fd)
    assert (log.read_bytes(), mode(log)) == (b"line\n", 0o600)
    os.link(log, tmp_path / "second-name")  # a hard link could name any file of root's
    with pytest.raises(trust.UntrustedPath, match="one link"):
        files.open_append(str(log))
    (tmp_path / "symlink.log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError, match="symbolic links"):  # ELOOP: O_NOFOLLOW met a link
        files.open_append(str(tmp_path / "symlink.log"))
    assert not (tmp_path / "elsewhere").exists()


def test_only_old_temporaries_are_removed(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    old = tmp_path / f".x.token{files.TEMPORARY}1-aa"
    new = tmp_path / f".y.token{files.TEMPORARY}2-bb"
    kept = tmp_path / "x.token"
    for path in (old, new, kept):
        path.write_bytes(b"")
        os.utime(path, (now - 601, now - 601))
    os.utime(new, (now - 5, now - 5))  # a writer still at work
    files.remove_stale_temporaries(str(tmp_path), now)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.name, kept.name])
    files.remove_stale_temporaries(str(tmp_path / "missing"), now)  # nothing there: no error


def test_remove_is_quiet_when_the_file_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    files.remove(str(path))
    files.remove(str(path))
    assert not path.exists()
