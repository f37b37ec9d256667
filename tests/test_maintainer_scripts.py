"""The packages' maintainer scripts pass shellcheck, as the repository's scripts do.

They are generated (packaging/package.py), so the pre-commit hook never sees them:
the .deb's postinst, prerm and postrm, and the .rpm's %post, %preun and %postun
scriptlets as the spec carries them, each checked as the POSIX sh that runs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import package
import pytest

pytestmark = pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck")

SCRIPTLETS = ("%post", "%preun", "%postun")


def shellcheck(tmp_path: Path, name: str, script: str) -> subprocess.CompletedProcess[str]:
    """shellcheck one script as POSIX sh."""
    path = tmp_path / name
    path.write_text(script)
    return subprocess.run(
        ["shellcheck", "--shell=sh", "--severity=style", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def rpm_scriptlets(tmp_path: Path) -> dict[str, str]:
    """The spec's scriptlets, each as the script rpm runs (/bin/sh, with $1 the count)."""
    (tmp_path / "tree").mkdir()
    spec = package.rpm_spec(package.metadata(), tmp_path / "tree", 1_700_000_000)
    sections = re.split(r"^(%[a-z]+)\n", spec, flags=re.MULTILINE)
    found = {
        head: "#!/bin/sh\n" + body
        for head, body in zip(sections[1::2], sections[2::2], strict=True)
        if head in SCRIPTLETS
    }
    assert sorted(found) == sorted(SCRIPTLETS)
    return found


@pytest.mark.parametrize("name", ["postinst", "prerm", "postrm"])
def test_deb_maintainer_scripts_pass_shellcheck(tmp_path: Path, name: str) -> None:
    result = shellcheck(tmp_path, name, package.deb_scripts()[name])
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", SCRIPTLETS)
def test_rpm_scriptlets_pass_shellcheck(tmp_path: Path, name: str) -> None:
    result = shellcheck(tmp_path, name.lstrip("%"), rpm_scriptlets(tmp_path)[name])
    assert result.returncode == 0, result.stdout


def test_the_check_fails_on_a_script_with_a_planted_mistake(tmp_path: Path) -> None:
    # The purge line with its quotes taken off: a home with a space would be split.
    script = package.deb_scripts()["postrm"]
    quoted = re.search(r'"(\$\{home%/\}[^"]*)"', script)
    assert quoted is not None
    planted = script.replace(quoted.group(0), quoted.group(1))
    result = shellcheck(tmp_path, "postrm", planted)
    assert result.returncode != 0
    assert "SC2086" in result.stdout
