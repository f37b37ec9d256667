"""The docker-credential-helpers protocol over byte streams, independent of any backend.

``handle`` is pure dispatch: it reads the request from ``stdin``, calls the
helper, writes the answer to ``stdout`` and returns the exit status.  Errors
become one line on stdout and status 1, as Docker expects.
"""

from __future__ import annotations

from docker_credential_ecr.errors import CredentialsNotFound, HelperError, InputError

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from typing import BinaryIO

    from docker_credential_ecr.seams import Helper


ACTIONS = ("get", "store", "erase", "list")
NO_SERVER_URL = "no credentials server URL"
NO_USERNAME = "no credentials username"
# Docker sends one short line; a bound keeps hostile input from costing memory.
MAX_INPUT = 64 * 1024

_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"} | {c: f"\\u{c:04x}" for c in range(0x20)}


def json_string(text: str) -> str:
    r"""Return ``text`` as a JSON string literal, without importing ``json`` on the hot path.

    C twin: packaging/fastpath.c json_string

    >>> json_string('a"b\\c\n')
    '"a\\"b\\\\c\\u000a"'
    """
    return '"' + text.translate(_ESCAPES) + '"'


def read_text(stdin: BinaryIO) -> str:
    """Read the whole request as UTF-8, refusing oversized or undecodable input."""
    data = stdin.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        raise InputError(f"request on stdin is larger than {MAX_INPUT} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request on stdin is not valid UTF-8") from None


def handle(
    helper: Helper, action: str, stdin: BinaryIO, stdout: BinaryIO, stderr: BinaryIO | None = None
) -> int:
    """Run one protocol action; return the exit status."""
    try:
        answer = _dispatch(helper, action, stdin)
    except HelperError as exc:
        return report(exc, action, stdout, stderr)
    stdout.write(answer.encode())
    stdout.flush()
    return 0


def report(exc: HelperError, action: str, stdout: BinaryIO, stderr: BinaryIO | None) -> int:
    """Write an error as Docker expects it and return the exit status, 1.

    The line goes to stdout.  A failed ``get`` other than "not found" also goes
    to ``stderr``: the Docker CLI drops a helper's ``get`` error and pulls
    anonymously, but it passes the helper's stderr through, so that is where
    the user sees why.
    """
    line = (" ".join(str(exc).split()) + "\n").encode()
    if stderr is not None and action == "get" and not isinstance(exc, CredentialsNotFound):
        stderr.write(line)
        stderr.flush()
    stdout.write(line)
    stdout.flush()
    return 1


def _dispatch(helper: Helper, action: str, stdin: BinaryIO) -> str:
    if action == "get":
        server_url = read_text(stdin).strip()
        if not server_url:
            raise InputError(NO_SERVER_URL)
        username, secret = helper.get(server_url)
        return (
            f'{{"ServerURL":{json_string(server_url)},"Username":{json_string(username)},'
            f'"Secret":{json_string(secret)}}}\n'
        )
    if action == "store":
        server_url, username, secret = _parse_store(read_text(stdin))
        helper.add(server_url, username, secret)
        return ""
    if action == "erase":
        server_url = read_text(stdin).strip()
        if not server_url:
            raise InputError(NO_SERVER_URL)
        helper.delete(server_url)
        return ""
    if action == "list":
        import json

        return json.dumps(helper.list()) + "\n"
    raise InputError(f"docker-credential-ecr: unknown action: {action}")


def _parse_store(text: str) -> tuple[str, str, str]:
    import json

    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's
        raise InputError(
            "store expects a JSON object with ServerURL, Username and Secret on stdin"
        ) from None
    if not isinstance(document, dict):
        raise InputError("store expects a JSON object with ServerURL, Username and Secret")
    fields = [document.get(name, "") for name in ("ServerURL", "Username", "Secret")]
    if not all(isinstance(f, str) for f in fields):
        raise InputError("ServerURL, Username and Secret must be strings")
    server_url, username, secret = (f.strip() if i < 2 else f for i, f in enumerate(fields))
    if not server_url:
        raise InputError(NO_SERVER_URL)
    if not username:
        raise InputError(NO_USERNAME)
    return server_url, username, secret
