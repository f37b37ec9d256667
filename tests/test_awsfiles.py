"""awsfiles.review and trust.check_file: which AWS files botocore may read, on real trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docker_credential_ecr import awsfiles, trust
from docker_credential_ecr.config import Settings

OTHER = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")


def home_with(tmp_path: Path, name: str = "home") -> Path:
    home = tmp_path / name
    (home / ".aws").mkdir(parents=True)
    return home


def no_home(uid: int) -> str | None:
    return None


def test_a_trusted_home_and_files_change_nothing(tmp_path: Path) -> None:
    home = home_with(tmp_path)
    (home / ".aws" / "config").write_text("[default]\n")
    found = awsfiles.review({"HOME": str(home)}, os.geteuid(), no_home)
    assert (found.changes, found.refused) == ({}, [])


def test_a_file_others_can_write_becomes_the_empty_file(tmp_path: Path) -> None:
    home = home_with(tmp_path)
    config = home / ".aws" / "config"
    config.write_text("[default]\n")
    config.chmod(0o666)
    found = awsfiles.review({"HOME": str(home)}, os.geteuid(), no_home)
    assert found.changes == {"AWS_CONFIG_FILE": os.devnull}
    assert found.refused == [
        f"not reading {config} ({config} is writable by group and others (mode 666))"
    ]
    assert found.applied({"HOME": str(home)})["AWS_CONFIG_FILE"] == os.devnull


@needs_root
def test_a_named_file_of_another_user_is_removed_from_the_environment(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("jwt")
    os.chown(token, OTHER, OTHER)
    environ = {"HOME": str(home_with(tmp_path)), "AWS_WEB_IDENTITY_TOKEN_FILE": str(token)}
    found = awsfiles.review(environ, 0, no_home)
    assert found.changes == {"AWS_WEB_IDENTITY_TOKEN_FILE": None}
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in found.applied(environ)


def test_a_fifo_is_refused_before_botocore_could_block_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "bundle"
    os.mkfifo(fifo, 0o600)
    assert trust.check_file(str(fifo), os.geteuid()) == f"{fifo} is not a regular file"


def test_a_trusted_symlink_is_followed_and_its_target_checked(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.write_text("x")
    link = tmp_path / "link"
    link.symlink_to("real")
    assert trust.check_file(str(link), os.geteuid()) is None
    target.chmod(0o620)
    assert trust.check_file(str(link), os.geteuid()) == (
        f"{target} is writable by group (mode 620)"
    )
    assert trust.check_file(str(tmp_path / "absent"), os.geteuid()) is None


@needs_root
def test_an_untrusted_home_is_replaced_by_the_users_own(tmp_path: Path) -> None:
    theirs = home_with(tmp_path, "theirs")
    os.chown(theirs, OTHER, OTHER)
    own = home_with(tmp_path, "own")
    found = awsfiles.review({"HOME": str(theirs)}, 0, lambda uid: str(own))
    assert found.changes == {"HOME": str(own)}
    assert found.refused == [
        f"not reading {theirs}/.aws ({theirs} is owned by uid {OTHER}); HOME={own}"
    ]
    # The password database's home fails too: no home at all for botocore.
    os.chown(own, OTHER, OTHER)
    assert awsfiles.review({"HOME": str(theirs)}, 0, lambda uid: str(own)).changes == {
        "HOME": awsfiles.NO_HOME
    }


def test_the_cache_key_follows_what_botocore_may_read(tmp_path: Path) -> None:
    home = home_with(tmp_path)
    config = home / ".aws" / "config"
    config.write_text("[profile p]\n")
    environ = {"HOME": str(home), "AWS_ECR_CACHE_DIR": str(tmp_path / "cache")}
    trusted = Settings(environ).identity_tag()
    assert trusted != "default"  # the file's identity is part of the key
    config.chmod(0o646)
    refused = Settings(environ)
    # Read as the empty file: the key of a host with no AWS config file, whatever it holds.
    assert refused.identity_tag() != trusted
    assert refused.aws_changes == {"AWS_CONFIG_FILE": os.devnull}
    assert refused.refused == [f"not reading {config} ({config} is writable by others (mode 646))"]


def test_make_dirs_makes_each_missing_level_private(tmp_path: Path) -> None:
    made = trust.make_dirs(str(tmp_path / "a" / "b"), os.geteuid())
    assert made == str(tmp_path / "a" / "b")
    assert [oct((tmp_path / p).stat().st_mode & 0o777) for p in ("a", "a/b")] == ["0o700"] * 2


@needs_root
def test_make_dirs_refuses_a_level_another_user_made(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.chown(tmp_path / "a", OTHER, OTHER)
    with pytest.raises(trust.UntrustedPath, match=f"{tmp_path}/a is owned by uid {OTHER}"):
        trust.make_dirs(str(tmp_path / "a" / "b"), 0)
    assert not (tmp_path / "a" / "b").exists()
