"""Write the manual page docker-credential-ecr(1) from the program's own help texts.

Usage: python packaging/manpage.py OUTPUT.1 [DATE]

The synopsis, the commands and their options come from ``cli.usage()`` and each
command's parser, so the page cannot drift from what ``--help`` prints; only the
sections that ``--help`` does not have (files, exit status) are written here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "helper"))

from docker_credential_ecr import __version__, cli, commands, fileconfig, kubelet
from docker_credential_ecr.commands.context import Parser
from docker_credential_ecr.config import ROOT_CACHE_DIR
from docker_credential_ecr.errors import NAME

FILES = (
    (fileconfig.SYSTEM_FILE, "the system configuration file: per-registry identity, aliases"),
    (f"~/.config/{fileconfig.USER_FILE}", "the user's, overlaying the system's"),
    ("~/.docker/config.json", "Docker's configuration, where configure adds credHelpers"),
    (f"~/.cache/{NAME}", "the token cache ($XDG_CACHE_HOME, AWS_ECR_CACHE_DIR: elsewhere)"),
    (ROOT_CACHE_DIR, "root's token cache when the one in its home fails the trust checks"),
    (f"/etc/default/{NAME}", "the environment of the systemd units"),
)
EXIT_STATUS = (
    ("0", "success"),
    ("1", "failure or bad input, the command line's included: one line says why"),
)


def escape(line: str) -> str:
    """A line of text as roff prints it: backslashes doubled, no control character first."""
    line = line.replace("\\", "\\e")
    return "\\&" + line if line.startswith((".", "'")) else line


def verbatim(text: str) -> list[str]:
    """Preformatted text, kept line for line."""
    return [".nf", *(escape(line) for line in text.rstrip("\n").split("\n")), ".fi"]


def command_help(command: commands.Command) -> str:
    """What ``NAME <command> --help`` prints."""
    import importlib

    module = importlib.import_module(f"{commands.__name__}.{command.module}")
    parser = Parser(prog=f"{NAME} {command.name}", description=command.summary)
    module.arguments(parser, command.name)
    return parser.format_help()


def render(date: str) -> str:
    """The whole page."""
    usage = cli.usage()
    synopsis, _, description = usage.partition("\n\n")
    lines = [
        f'.TH {NAME.upper()} 1 "{date}" "{NAME} {__version__}" "User Commands"',
        ".SH NAME",
        f"{NAME} \\- Docker credential helper and kubelet credential provider for Amazon ECR",
        ".SH SYNOPSIS",
        *verbatim("\n".join(line.strip() for line in synopsis.removeprefix("Usage:").split("\n"))),
        ".SH DESCRIPTION",
        *verbatim(description),
        ".PP",
        f"Under the name {escape(kubelet.PROGRAM)} it is the kubelet's image credential"
        f" provider, as if run as {escape(NAME)} {escape(kubelet.ACTION)}.",
        ".SH COMMANDS",
    ]
    for command in commands.COMMANDS:
        lines += [".SS " + command.name, *verbatim(command_help(command))]
    lines.append(".SH FILES")
    for path, what in FILES:
        lines += [".TP", f".I {escape(path)}", escape(what)]
    lines.append(".SH EXIT STATUS")
    for status, meaning in EXIT_STATUS:
        lines += [".TP", f".B {status}", escape(meaning)]
    lines += [".SH SEE ALSO", ".BR docker (1),", ".BR kubelet (8)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write the page to ``argv[1]``, dated ``argv[2]`` (default: today, UTC)."""
    import time

    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal; the page must not vary
    date = argv[2] if len(argv) > 2 else time.strftime("%Y-%m-%d", time.gmtime())
    Path(argv[1]).write_text(render(date))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
