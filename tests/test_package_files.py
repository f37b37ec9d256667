"""What packaging/package.py puts in the .deb and .rpm, checked without building them:
the configuration files it ships, the manual page, and the copyright file's coverage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import manpage
import package
import pytest

from docker_credential_ecr import commands, fileconfig

SHIPPED = Path(package.PACKAGING) / "package"


def uncommented(text: str) -> str:
    """The example settings of a commented file, with their comment signs taken off."""
    return "\n".join(line[2:] for line in text.splitlines() if line.startswith("# ") and (
        line[2:3] in "[\"" or re.match(r"# [a-z_]+ = ", line)))  # fmt: skip


def test_shipped_config_is_valid_as_shipped_and_uncommented() -> None:
    text = (SHIPPED / "config.toml").read_text()
    assert fileconfig.parse(text, "config.toml").registries == {}
    example = fileconfig.parse(uncommented(text), "config.toml")
    assert len(example.registries) == 3
    assert example.aliases


def test_shipped_environment_file_names_only_known_variables() -> None:
    from docker_credential_ecr import config

    known = {*config.IDENTITY_VARIABLES, "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}
    for line in (SHIPPED / "default").read_text().splitlines():
        if line.startswith("#") and "=" in line and " " not in line.split("=")[0]:
            name = line.lstrip("#").split("=")[0]
            assert name in known or name.startswith(config.PREFIX), name


def test_manual_page_has_every_command_and_no_roff_warnings(tmp_path: Path) -> None:
    page = manpage.render("2026-01-01")
    for command in commands.COMMANDS:
        assert f".SS {command.name}\n" in page
    (tmp_path / "page.1").write_text(page)
    if shutil.which("man") is None:
        pytest.skip("no man(1) here to render the page with")
    argv = ["man", "--warnings", "-l", str(tmp_path / "page.1")]
    man = subprocess.run(argv, capture_output=True, text=True, check=False, env={"MANWIDTH": "80"})
    assert man.stderr == ""
    assert "configure --kubelet" in " ".join(man.stdout.split())


def test_copyright_covers_every_carried_library(tmp_path: Path) -> None:
    folder = tmp_path / "docker-credential-ecr"
    (folder / "_internal" / "glibc").mkdir(parents=True)
    for known in ("_internal/glibc/libc.so.6", "_internal/libssl.so.3", "_internal/json/x.pyc"):
        (folder / known).parent.mkdir(parents=True, exist_ok=True)
        (folder / known).write_bytes(b"\x7fELF")
    package.check_components(folder)
    (folder / "_internal" / "libunknown.so.1").write_bytes(b"\x7fELF")
    with pytest.raises(SystemExit, match=r"libunknown\.so\.1"):
        package.check_components(folder)
