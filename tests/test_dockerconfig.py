"""dockerconfig in-process: where Docker's config.json is, and edits that keep the rest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from docker_credential_ecr import dockerconfig

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_docker_config_wins_over_home() -> None:
    environ = {"DOCKER_CONFIG": "/etc/dc", "HOME": "/home/u"}
    assert dockerconfig.path_for(environ) == "/etc/dc/config.json"
    assert dockerconfig.path_for({"HOME": "/home/u"}) == "/home/u/.docker/config.json"


def test_a_missing_file_or_directory_is_an_empty_configuration(tmp_path: Path) -> None:
    assert dockerconfig.load(str(tmp_path / "config.json")) == {}
    assert dockerconfig.load(str(tmp_path / "absent" / "config.json")) == {}


def test_an_edit_keeps_every_other_key_and_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    kept = {"auths": {"quay.io": {"auth": "eA=="}}, "credHelpers": {"gcr.io": "gcloud"}}
    path.write_text(json.dumps(kept))
    path.chmod(0o640)
    dockerconfig.edit(str(path), lambda d: dockerconfig.configure(d, [HOST], False))
    document = json.loads(path.read_text())
    assert document == {**kept, "credHelpers": {"gcr.io": "gcloud", HOST: "ecr"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text().startswith("{\n\t")  # Docker's own indentation


def test_a_new_file_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "docker" / "config.json"
    dockerconfig.edit(str(path), lambda d: dockerconfig.configure(d, [HOST], True))
    assert json.loads(path.read_text()) == {"credHelpers": {HOST: "ecr"}, "credsStore": "ecr"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_unconfigure_takes_off_only_our_entries(tmp_path: Path) -> None:
    document: dict[str, object] = {
        "credsStore": "ecr",
        "credHelpers": {HOST: "ecr", "gcr.io": "gcloud"},
    }
    assert dockerconfig.unconfigure(document, [HOST]) == {
        "credsStore": "ecr",
        "credHelpers": {"gcr.io": "gcloud"},
    }
    assert dockerconfig.unconfigure(document, None) == {"credHelpers": {"gcr.io": "gcloud"}}


@pytest.mark.parametrize(
    ("content", "message"),
    [("[]", "does not hold a JSON object"), ("[" * 100_000, "nested too deeply")],
)
def test_a_config_that_is_not_an_object_is_refused_and_left_as_it_was(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        dockerconfig.edit(str(path), lambda d: dockerconfig.configure(d, [HOST], False))
    assert path.read_text() == content


def test_a_symlinked_or_fifo_config_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "config.json"
    link.symlink_to(real)
    with pytest.raises(OSError, match="is a symlink"):
        dockerconfig.load(str(link))
    link.unlink()
    os.mkfifo(link)
    with pytest.raises(OSError, match="is not a regular file"):
        dockerconfig.load(str(link))
