"""Regular expressions compiled at build time: the same patterns as ``re``'s, or none at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# In a fresh interpreter with the generated module on its path: install the table,
# then compile every pattern in it both ways and report what differs.
CHECK = """
import re._compiler, sys
from docker_credential_ecr import regexcache
import dce_regexes
original = re._compiler.compile
installed = regexcache.install()
differ = []
for pattern, flags in dce_regexes.TABLE:
    ours, theirs = re._compiler.compile(pattern, flags), original(pattern, flags)
    same = (ours == theirs and ours.groupindex == theirs.groupindex
            and ours.groups == theirs.groups and ours.flags == theirs.flags)
    if not same:
        differ.append(pattern)
print(installed, len(dce_regexes.TABLE), len(differ), re._compiler.compile is not original)
"""


def generate(target: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "regexes.py"), str(target)],
        check=True,
        capture_output=True,
    )


def check(path: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK],
        env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.split()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("gen") / "dce_regexes.py"
    generate(target)
    return target


def test_every_pattern_a_miss_compiles_comes_out_the_same(generated: Path) -> None:
    installed, total, differ, hooked = check(generated.parent)
    # botocore's and urllib3's, recorded: not an empty check.  (About 120 from a plain
    # interpreter; fewer under coverage, which has already imported some of their modules.)
    assert int(total) >= 50
    assert (installed, differ, hooked) == (total, "0", "True")


def test_a_table_from_another_interpreter_is_not_used(generated: Path, tmp_path: Path) -> None:
    text = generated.read_text()
    key = text.splitlines()[1]
    (tmp_path / "dce_regexes.py").write_text(text.replace(key, "KEY = 'another python'"))
    installed, total, differ, hooked = check(tmp_path)
    assert (installed, differ, hooked) == ("0", "0", "False")
    assert int(total) >= 50


def test_without_a_table_nothing_is_installed() -> None:
    """The package form: no dce_regexes on the path, so re is left as it is."""
    code = (
        "import re._compiler\n"
        "from docker_credential_ecr import regexcache\n"
        "original = re._compiler.compile\n"
        "print(regexcache.install(), re._compiler.compile is original)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0", "True"]


def test_installing_twice_hooks_re_once(generated: Path) -> None:
    code = (
        "import re._compiler\n"
        "from docker_credential_ecr import regexcache\n"
        "first = regexcache.install(); hook = re._compiler.compile\n"
        "print(first, first == regexcache.install(), re._compiler.compile is hook)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(generated.parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    first, same_count, same_hook = proc.stdout.split()
    assert int(first) >= 50  # it did install: a second install had something to repeat
    assert (same_count, same_hook) == ("True", "True")


def test_the_table_is_the_same_every_time(generated: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again.py")
    assert (tmp_path / "again.py").read_bytes() == generated.read_bytes()
