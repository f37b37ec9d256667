"""The function-size gate of .pre-commit-config.yaml fails past its limits, in C and Python.

The gate's command is read from the configuration, so these tests prove the arguments
scripts/test really runs, not a copy of them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".pre-commit-config.yaml"
Render = Callable[[int, int], str]


def gate() -> list[str]:
    """The function-size hook's command line, its .venv/bin/ path made absolute."""
    text = CONFIG.read_text()
    hook = text[text.index("id: function-size") :]
    found = re.search(r"^\s*entry: (.+)$", hook, re.MULTILINE)
    assert found, "the function-size hook has no entry"
    argv = shlex.split(found.group(1))
    return [str(ROOT / argv[0]), *argv[1:]]


def c_function(branches: int, lines: int) -> str:
    """A C function of ``lines`` lines with ``branches`` if statements."""
    body = [f"    if (x == {i})\n        return {i};" for i in range(branches)]
    body += ["    x++;"] * max(0, lines - 2 * branches - 4)
    return "int f(int x)\n{\n" + "\n".join(body) + "\n    return x;\n}\n"


def python_function(branches: int, lines: int) -> str:
    """A Python function of ``lines`` lines with ``branches`` if statements."""
    body = [f"    if x == {i}:\n        return {i}" for i in range(branches)]
    body += ["    x += 1"] * max(0, lines - 2 * branches - 2)
    return "def f(x: int) -> int:\n" + "\n".join(body) + "\n    return x\n"


def check(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    """Run the gate over one file holding ``source``."""
    path = tmp_path / name
    path.write_text(source)
    return subprocess.run([*gate(), str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("name", "render"), [("f.c", c_function), ("f.py", python_function)])
def test_a_function_at_the_limits_passes(tmp_path: Path, name: str, render: Render) -> None:
    result = check(tmp_path, name, render(9, 40))
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("name", "render"), [("f.c", c_function), ("f.py", python_function)])
def test_complexity_over_ten_fails(tmp_path: Path, name: str, render: Render) -> None:
    result = check(tmp_path, name, render(10, 25))
    assert result.returncode != 0
    assert "11 CCN" in result.stdout


@pytest.mark.parametrize(("name", "render"), [("f.c", c_function), ("f.py", python_function)])
def test_a_function_over_forty_lines_fails(tmp_path: Path, name: str, render: Render) -> None:
    result = check(tmp_path, name, render(1, 45))
    assert result.returncode != 0
    assert "warning: f has" in result.stdout


def test_the_c_gate_fails_on_a_finding_and_passes_clean_code(tmp_path: Path) -> None:
    tidy = str(ROOT / "scripts" / "lib" / "tidy")
    clean = tmp_path / "clean.c"
    clean.write_text('#include <string.h>\nint f(const char *s) { return strcmp(s, "x") == 0; }\n')
    bad = tmp_path / "bad.c"
    bad.write_text(
        '#include <string.h>\nint f(const char *s) { return !strcmp(s, "x") || strcmp(s, "y"); }\n'
    )
    assert subprocess.run([tidy, str(clean)], capture_output=True, check=False).returncode == 0
    found = subprocess.run([tidy, str(bad)], capture_output=True, text=True, check=False)
    assert found.returncode != 0
    assert "bugprone-suspicious-string-compare" in found.stdout
