"""Every command line the documents show is one the helper takes: each
``docker-credential-ecr ...`` in a code span or a code block of README.md and docs/ is
parsed by the command's own parser, so a renamed option or command cannot stay in the
documents for a new user to type.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from docker_credential_ecr import commands
from docker_credential_ecr.errors import NAME, InputError

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The docker-credential-helpers actions: Docker's, each reading stdin, without options.
ACTIONS = ("get", "store", "erase", "list", "version")
_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.M | re.S)
_FENCED = re.compile(r"^```.*?^```", re.M | re.S)
_SPAN = re.compile(r"`([^`\n]+)`")
# Where the command's own words end in a shell line.
_SHELL = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "<<<", "2>", "2>&1", "(", ")", "&"})
# Words that run the command after them (and their options), as in ``sudo -E env X=1 cmd``.
_PLACEHOLDER = re.compile(r"invalid (?:\w+ value|choice): '([A-Z][A-Z_]*)'")
_ALTERNATIVES = re.compile(r"(\w)\|[\w|-]+")
_PUNCTUATION = frozenset("();<>|&")
_PREFIXES = frozenset({"sudo", "env", "exec", "time", "nohup", "command"})


def shown(text: str) -> list[str]:
    """The code the document shows: each shell block's lines (continuations joined),
    then each code span outside the blocks.

    >>> shown("Run `a b`.\\n```sh\\nc \\\\\\n  d\\n```\\n```toml\\nx = `e f`\\n```\\n")
    ['c d', 'a b']
    """
    lines = []
    for block in _BLOCK.findall(text):
        lines.extend(re.sub(r"\\\n\s*", "", block).splitlines())
    # A table cell's span writes its pipes as \\|.
    spans = [span.replace("\\|", "|") for span in _SPAN.findall(_FENCED.sub("", text))]
    return lines + spans


def synopsis(word: str) -> str:
    """A usage line's word as typed: ``[--pull]`` is ``--pull``, ``HOST...`` is ``HOST``."""
    return word.strip("[]").removesuffix("...")


def invocations(code: str) -> list[list[str]]:
    """The words after each ``docker-credential-ecr`` run in ``code``, up to the shell's own.

    >>> invocations("sudo -E docker-credential-ecr doctor --kubelet | less; ln -s x")
    [['doctor', '--kubelet']]
    >>> invocations("ln -s docker-credential-ecr x; env A=1 docker-credential-ecr doctor --kubelet")
    [['doctor', '--kubelet']]
    >>> invocations("docker-credential-ecr status [--format table|json] [--registry HOST ...]")
    [['status', '--format', 'table', '--registry', 'HOST']]
    """
    # A usage line's alternatives (``table|json``, no spaces) are the first one, not a pipe.
    code = _ALTERNATIVES.sub(r"\1", code)
    try:
        lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # not shell (prose in a span)
        return []
    found = []
    runs = True  # whether the next word is in a command's place
    for i, word in enumerate(words):
        if runs and Path(word).name == NAME:
            found.append(_arguments(words[i + 1 :]))
        prefix = word in _PREFIXES or "=" in word.split("/")[0] or word.startswith("-")
        runs = word in _SHELL or (runs and prefix)
    return found


def _arguments(words: list[str]) -> list[str]:
    """The command's own words: up to the shell's, with a usage line's notation undone."""
    tail = []
    for word in words:
        if word in _SHELL or set(word) <= _PUNCTUATION or word.startswith("#"):
            break
        typed = synopsis(word)
        if typed:
            tail.append(typed)
    return tail


def all_shown() -> list[tuple[str, list[str]]]:
    """Each invocation the documents show, with the document it is in."""
    found: list[tuple[str, list[str]]] = []
    for path in DOCUMENTS:
        for code in shown(path.read_text()):
            found.extend((path.name, words) for words in invocations(code) if words)
    return found


def check(words: list[str]) -> str | None:
    """Why ``words`` are not a command line the helper takes, or None if they are."""
    if words[0].startswith("-"):
        return None  # --help, --version
    name, argv = words[0], words[1:]
    if name in ACTIONS:
        return f"{name} takes no arguments" if argv else None
    command = commands.find(name)
    if command is None:
        return f"no command {name!r}"
    parser = commands.parser_for(command)
    try:
        parser.parse_args(argv)
    except InputError as exc:
        # A usage line's placeholder (HOST, SECONDS) is not a value, but its option is real.
        placeholder = _PLACEHOLDER.search(str(exc))
        return None if placeholder and placeholder.group(1) in argv else str(exc)
    return None


SHOWN = all_shown()


def test_the_documents_show_the_commands() -> None:
    # Without this, a broken extraction would pass every check below.
    names = {words[0] for _, words in SHOWN if words}
    assert {"configure", "doctor", "status", "refresh", "export", "policy"} <= names
    assert len(SHOWN) > 30


@pytest.mark.parametrize(
    ("document", "words"), SHOWN, ids=[f"{d}: {' '.join(w)}" for d, w in SHOWN]
)
def test_each_command_shown_is_one_the_helper_takes(document: str, words: list[str]) -> None:
    assert check(words) is None, f"{document}: {NAME} {shlex.join(words)}: {check(words)}"


def test_a_wrong_command_line_is_caught() -> None:
    assert check(["doctor", "--no-such-option"]) is not None
    assert check(["configure", "--kubelet"]) is None
    assert check(["no-such-command"]) == "no command 'no-such-command'"
    assert check(["get", "extra"]) == "get takes no arguments"


def test_the_examples_in_this_module_hold() -> None:
    import doctest
    import sys

    result = doctest.testmod(sys.modules[__name__])
    assert result.attempted > 0
    assert result.failed == 0
