"""The on-disk token cache: format, permissions, atomicity, hostile files (the login
store's are in test_logins.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docker_credential_ecr import files
from docker_credential_ecr.cache import ORPHAN_AGE, TokenCache, decode, encode
from docker_credential_ecr.token import AuthToken
from support.files import mode

NOW = 1_800_000_000.0


def tok(secret: str = "pw", requested: float = NOW, lifetime: float = 43200) -> AuthToken:
    return AuthToken("AWS", secret, "https://h", requested, requested + lifetime)


def test_write_read_round_trip_private_modes_under_umask_000(
    tmp_path: Path, umask_000: None
) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("host~default", tok(), NOW)
    assert cache.read("host~default") == tok()
    assert mode(tmp_path / "c") == 0o700
    assert mode(tmp_path / "c" / "host~default.token") == 0o600
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["host~default.token"]


def test_existing_loose_directory_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    # Others may already have put things in it, and it may be shared: never chmod it.
    d = tmp_path / "c"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    with pytest.raises(OSError, match=r"writable by others \(mode 777\)"):
        TokenCache(str(d)).write("k", tok(), NOW)
    assert mode(d) == 0o777
    assert list(d.iterdir()) == []


def test_existing_readable_directory_is_used_as_it_is(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    TokenCache(str(d)).write("k", tok(), NOW)
    assert mode(d) == 0o755
    assert mode(d / "k.token") == 0o600


def test_symlinked_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "c").symlink_to(real)
    with pytest.raises(OSError, match="symlink"):
        TokenCache(str(tmp_path / "c")).write("k", tok(), NOW)
    assert list(real.iterdir()) == []


def test_symlinked_cache_file_is_not_followed(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("k", tok(), NOW)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    entry = tmp_path / "c" / "k.token"
    entry.unlink()
    entry.symlink_to(victim)
    assert cache.read("k") is None
    cache.write("k", tok("new"), NOW)
    assert victim.read_text() == "precious"
    assert cache.read("k") == tok("new")


@pytest.mark.parametrize("content", [b"", b"garbage", b"\xff" * 100, encode(tok())[:-10]])
def test_corrupt_entry_reads_as_empty_and_is_rewritten(tmp_path: Path, content: bytes) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("k", tok(), NOW)
    (tmp_path / "c" / "k.token").write_bytes(content)
    assert cache.read("k") is None
    cache.write("k", tok("again"), NOW)
    assert cache.read("k") == tok("again")


def test_entry_readable_by_others_is_ignored(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("k", tok(), NOW)
    (tmp_path / "c" / "k.token").chmod(0o644)
    assert cache.read("k") is None


def test_entry_that_is_a_directory_reads_as_empty(tmp_path: Path) -> None:
    (tmp_path / "c" / "k.token").mkdir(parents=True)
    assert TokenCache(str(tmp_path / "c")).read("k") is None


def test_expired_entries_are_dropped_on_write(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("old", tok(requested=NOW - 50000), NOW - 50000)
    cache.write("live", tok(), NOW)
    assert sorted(k for k, _ in cache.entries()) == ["live"]


def test_locks_and_notes_of_keys_long_unused_are_dropped_on_write(tmp_path: Path) -> None:
    # The kubelet mode keys tokens by service-account token, which rotates: each old
    # key leaves a lock behind that nothing will use again.
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("kept", tok(), NOW)
    directory = tmp_path / "c"
    old = NOW - ORPHAN_AGE - 60
    for name in ("kept.lock", "gone-sa1.lock", "gone-sa1.failed", "recent.lock", "other.txt"):
        (directory / name).write_text("")
        os.utime(directory / name, (old, old))
    os.utime(directory / "recent.lock", (NOW - 60, NOW - 60))
    cache.write("live", tok(), NOW)
    left = sorted(p.name for p in directory.iterdir())
    assert left == ["kept.lock", "kept.token", "live.token", "other.txt", "recent.lock"]


def test_a_long_unused_lock_that_is_held_is_not_removed(tmp_path: Path) -> None:
    """A refresh that has held its lock for over a day keeps its lock file, so a waiter
    arriving meanwhile cannot make a second one at the same path and refresh beside it."""
    cache = TokenCache(str(tmp_path / "c"))
    release = cache.acquire("held", timeout=1)
    lock = tmp_path / "c" / "held.lock"
    old = NOW - ORPHAN_AGE - 60
    os.utime(lock, (old, old))
    cache.write("other", tok(), NOW)
    assert lock.exists()
    assert try_lock_elsewhere(tmp_path / "c", "held").startswith("busy")
    release()
    cache.write("other", tok(), NOW)
    assert not lock.exists()


def test_erase_host_removes_every_identity(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    for key in ("a.example~default", "a.example~1234", "b.example~default"):
        cache.write(key, tok(), NOW)
    cache.erase_host("a.example")
    assert [k for k, _ in cache.entries()] == ["b.example~default"]


def test_encode_refuses_line_breaks() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        encode(AuthToken("A\nB", "s", "e", 0, 1))


def test_decode_rejects_wrong_magic_and_inverted_times() -> None:
    good = encode(tok())
    assert decode(good.replace(b"v1", b"v9")) is None
    assert decode(encode(AuthToken("AWS", "s", "e", 10, 5))) is None


def try_lock_elsewhere(directory: Path, key: str = "k") -> str:
    code = (
        "import sys; from docker_credential_ecr.cache import TokenCache\n"
        "try:\n    TokenCache(sys.argv[1]).acquire(sys.argv[2], timeout=0.2)()\n"
        "except TimeoutError as e:\n    print('busy', e)\nelse:\n    print('acquired')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(directory), key],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_lock_excludes_other_processes_until_released(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    release = cache.acquire("k", timeout=1)
    assert mode(tmp_path / "c" / "k.lock") == 0o600
    assert try_lock_elsewhere(tmp_path / "c").startswith("busy refresh lock for k busy")
    release()
    assert try_lock_elsewhere(tmp_path / "c") == "acquired\n"
    assert (tmp_path / "c" / "k.lock").exists()  # never deleted: waiters must share one inode


def test_lock_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    (tmp_path / "c").mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "c" / "k.lock").symlink_to(victim)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        cache.acquire("k", timeout=0.1)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        cache.refreshing("k")
    assert victim.read_text() == "keep"
    assert mode(victim) == 0o644


def test_short_lived_entries_are_kept_until_they_expire(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("short", tok(lifetime=60), NOW)  # within the clock-skew margin, not expired
    cache.write("other", tok(), NOW + 30)
    assert sorted(k for k, _ in cache.entries()) == ["other", "short"]
    cache.write("other", tok(), NOW + 61)
    assert [k for k, _ in cache.entries()] == ["other"]


def test_leftovers_of_killed_writers_are_removed_once_old(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    cache.write("k", tok(), NOW)
    old = tmp_path / "c" / f".k.token{files.TEMPORARY}123-abcd"
    young = tmp_path / "c" / f".k.token{files.TEMPORARY}456-ef01"
    for path, mtime in ((old, NOW - 601), (young, NOW - 5)):
        path.write_bytes(b"partial")
        os.utime(path, (mtime, mtime))
    cache.write("k", tok(), NOW)
    assert not old.exists()
    assert young.exists()


def test_refreshing_tells_whether_another_process_holds_the_lock(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path / "c"))
    assert cache.refreshing("k") is False
    code = (
        "import sys\nfrom docker_credential_ecr.cache import TokenCache\n"
        "release = TokenCache(sys.argv[1]).acquire('k', 1)\n"
        "print('held', flush=True)\nsys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "c")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    assert cache.refreshing("k") is True
    assert cache.refreshing("k") is True  # asking does not take it
    holder.communicate("", timeout=30)
    assert cache.refreshing("k") is False
    assert mode(tmp_path / "c" / "k.lock") == 0o600
