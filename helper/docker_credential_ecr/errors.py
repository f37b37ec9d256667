"""The helper's exceptions: each is one line of output and exit status 1.

Messages are written for the person at the terminal and must never contain a
token or secret.  Each channel reports them one way: ``protocol.report`` for Docker
(the line on stdout, and stderr), ``cli`` for the kubelet (stderr) and for the
operator commands (stderr).
"""

from __future__ import annotations

NAME = "docker-credential-ecr"
NOT_FOUND = "credentials not found in native keychain"


def one_line(text: str) -> str:
    """Collapse a message (an AWS or OS error's) to one line, as every output line must be.

    >>> one_line("a" + chr(10) + " b")
    'a b'
    """
    return " ".join(text.split())


class HelperError(Exception):
    """Base of every error the helper reports; ``str()`` is the line shown to the user."""


class CredentialsNotFound(HelperError, LookupError):
    """Nothing for this server: Docker matches this exact text and falls back to anonymous."""

    def __init__(self) -> None:
        super().__init__(NOT_FOUND)


class InputError(HelperError, ValueError):
    """The request on stdin, the arguments or the environment are malformed."""


class TokenError(HelperError, RuntimeError):
    """An ECR token could not be had for a registry that is ours."""

    def __init__(self, host: str, reason: str, code: str = "Other") -> None:
        self.host = host
        self.reason = reason
        # AWS's error code, or the kind of failure: a metric's bounded label, never shown.
        self.code = code
        super().__init__(f"{NAME}: cannot get an ECR token for {host}: {reason}")


class DeadlineExceeded(TokenError, TimeoutError):
    """The AWS call did not finish within the ``get`` deadline."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(host, reason, "DeadlineExceeded")


class CacheError(HelperError, OSError):
    """The on-disk cache or login store cannot be used safely."""
