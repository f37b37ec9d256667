"""Settings from the environment: defaults, overrides, and one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import platformdirs
import pytest

from docker_credential_ecr.config import Settings, default_cache_dir
from docker_credential_ecr.errors import InputError


@pytest.mark.parametrize(
    "overrides",
    [
        {"HOME": "/home/alice"},
        {"HOME": "/home/alice", "XDG_CACHE_HOME": "/var/tmp/xdg"},
        {"HOME": "/home/alice", "XDG_CACHE_HOME": "relative/ignored"},
        {"HOME": "/home/alice", "XDG_CACHE_HOME": ""},
        {"HOME": "relative-home"},
        {},
    ],
)
def test_default_cache_dir_agrees_with_platformdirs(
    overrides: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    expected = platformdirs.user_cache_dir("docker-credential-ecr", ensure_exists=False)
    assert default_cache_dir(dict(os.environ)) == expected


def test_defaults() -> None:
    s = Settings({"HOME": "/h"})
    assert s.cache.directory == "/h/.cache/docker-credential-ecr"
    assert s.cache.enabled
    assert not s.ignore_creds_storage
    aws = s.aws
    assert (aws.connect_timeout, aws.read_timeout, aws.max_attempts, aws.deadline) == (2, 5, 3, 25)
    assert s.identity_tag() == "default"


def test_overrides() -> None:
    s = Settings(
        {
            "HOME": "/h",
            "AWS_ECR_CACHE_DIR": "/c",
            "AWS_ECR_DISABLE_CACHE": "1",
            "AWS_ECR_IGNORE_CREDS_STORAGE": "true",
            "DOCKER_CREDENTIAL_ECR_DEADLINE": "7.5",
            "DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS": "5",
            "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "debug",
        }
    )
    assert (s.cache.directory, s.cache.enabled, s.ignore_creds_storage) == ("/c", False, True)
    assert (s.aws.deadline, s.aws.max_attempts, s.log_level) == (7.5, 5, "DEBUG")


def test_identity_tag_separates_identities_without_revealing_them() -> None:
    tags = {
        Settings({"HOME": "/h", **extra}).identity_tag()
        for extra in (
            {},
            {"AWS_PROFILE": "a"},
            {"AWS_PROFILE": "b"},
            {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
            {"AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
        )
    }
    assert len(tags) == 5
    assert all("AKIA" not in t and "/" not in t for t in tags)
    assert (
        Settings({"AWS_PROFILE": "a", "HOME": "/h"}).identity_tag()
        == Settings({"AWS_PROFILE": "a", "HOME": "/x"}).identity_tag()
    )


@pytest.mark.parametrize(
    "name",
    [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ],
)
def test_every_identity_variable_changes_the_key(name: str) -> None:
    assert (
        Settings({"HOME": "/h", name: "x"}).identity_tag()
        != Settings({"HOME": "/h"}).identity_tag()
    )


def fake_stat(files: dict[str, tuple[int, int, int, int]]) -> Callable[[str], os.stat_result]:
    """A stat that knows only ``files``: path -> (device, inode, size, mtime_ns)."""

    def stat(path: str) -> os.stat_result:
        if path not in files:
            raise FileNotFoundError(path)
        dev, ino, size, mtime_ns = files[path]
        fields = [0o100600, ino, dev, 1, 0, 0, size, 0, 0, 0, 0.0, 0.0, 0.0, 0, mtime_ns, 0]
        return os.stat_result(fields)

    return stat


@pytest.mark.parametrize("which", ["config", "credentials"])
def test_each_change_to_an_aws_file_is_a_new_identity(which: str) -> None:
    path = f"/h/.aws/{which}"
    tags = [
        Settings({"HOME": "/h"}, stat=fake_stat(files)).identity_tag()
        for files in (
            {},
            {path: (1, 10, 100, 5)},
            {path: (1, 10, 101, 5)},  # edited: longer
            {path: (1, 10, 100, 6)},  # edited in place: newer
            {path: (1, 11, 100, 5)},  # replaced by another file
            {path: (2, 10, 100, 5)},  # on another filesystem
        )
    ]
    assert tags[0] == "default"
    assert len(set(tags)) == len(tags)


def test_aws_files_are_found_as_botocore_finds_them() -> None:
    seen: list[str] = []

    def stat(path: str) -> os.stat_result:
        seen.append(path)
        raise FileNotFoundError(path)

    Settings({"HOME": "/h"}, stat=stat)
    Settings(
        {"HOME": "/h", "AWS_CONFIG_FILE": "~/cfg", "AWS_SHARED_CREDENTIALS_FILE": "/c"}, stat=stat
    )
    assert seen == ["/h/.aws/config", "/h/.aws/credentials", "/h/cfg", "/c"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCKER_CREDENTIAL_ECR_DEADLINE", "soon"),
        ("DOCKER_CREDENTIAL_ECR_DEADLINE", "0"),
        ("DOCKER_CREDENTIAL_ECR_READ_TIMEOUT", "-1"),
        ("DOCKER_CREDENTIAL_ECR_CONNECT_TIMEOUT", "nan"),
        ("DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS", "2.5"),
        ("DOCKER_CREDENTIAL_ECR_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values_are_one_line_errors(name: str, value: str) -> None:
    with pytest.raises(InputError) as info:
        Settings({"HOME": "/h", name: value})
    message = str(info.value)
    assert message.startswith("docker-credential-ecr: " + name)
    assert "\n" not in message


def test_home_unset_falls_back_to_passwd(tmp_path: Path) -> None:
    import pwd

    try:
        pwd.getpwuid(os.getuid())
    except KeyError:  # pragma: no cover - only in odd containers
        pytest.skip("this uid has no passwd entry")
    assert Settings({}).cache.directory.endswith("/.cache/docker-credential-ecr")
    assert Settings({"AWS_ECR_CACHE_DIR": str(tmp_path)}).cache.directory == str(tmp_path)
