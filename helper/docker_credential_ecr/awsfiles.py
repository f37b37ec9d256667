"""Which of the AWS SDK's files botocore may read: the trusted-path rule for what root reads.

botocore reads files that its environment names (``AWS_CONFIG_FILE``, ...) and files
under ``~/.aws`` (the config and credentials files, the SSO and login token caches,
service models under ``~/.aws/models``).  Run as root with another user's ``HOME``
(``sudo -E``), that user would choose root's credentials (a ``credential_process``
that root runs), its endpoints and its CA.  So, as OpenSSH does for
``authorized_keys``, each file is read only if it passes ``trust.check_file``, and
``~`` means a home whose ``.aws`` passes ``trust.check_dir``.

The result is a set of changes to the environment botocore sees: a refused file is
replaced by an empty one (``/dev/null``) or its variable removed, and ``HOME`` by the
user's own home from the password database.  The settings key the cache on that
changed environment, so a token is kept under the identity that really got it.
"""

from __future__ import annotations

import os

from docker_credential_ecr import trust

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

# Files named by a variable, botocore's default for each (None: only the variable
# names one), and what a refused one becomes: the empty file, or no variable at all.
FILES: tuple[tuple[str, str | None, str | None], ...] = (
    ("AWS_CONFIG_FILE", "~/.aws/config", os.devnull),
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", os.devnull),
    ("AWS_WEB_IDENTITY_TOKEN_FILE", None, None),
    ("AWS_CREDENTIAL_FILE", None, None),  # the EC2 command-line tools' file
    ("AWS_CA_BUNDLE", None, None),
)
# A home whose .aws fails the rule, and no trusted one in the password database.
NO_HOME = os.devnull


class Review:
    """What botocore's environment must change, and one line per refused file."""

    __slots__ = ("changes", "refused")

    def __init__(self) -> None:
        self.changes: dict[str, str | None] = {}  # None: remove the variable
        self.refused: list[str] = []

    def say(self, path: str, why: str) -> None:
        """Warn of a refused file, unless there is nothing there to read anyway."""
        if os.path.lexists(path):
            self.refused.append(f"not reading {path} ({why}")

    def applied(self, environ: Mapping[str, str]) -> dict[str, str]:
        """``environ`` as botocore will see it."""
        result = dict(environ)
        for name, value in self.changes.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = value
        return result


def review(environ: Mapping[str, str], euid: int, home_of: Callable[[int], str | None]) -> Review:
    """Check the home and each file botocore would read for ``environ``; say what to change.

    ``home_of`` gives a uid's home from the password database, or None.
    """
    found = Review()
    home = environ.get("HOME", "")
    if home.startswith("/"):
        why = _untrusted_dir(os.path.join(home, ".aws"), euid)
        if why:
            home = _trusted_home(home_of(euid), euid)
            found.changes["HOME"] = home  # even with no .aws yet: it could appear meanwhile
            found.say(os.path.join(environ["HOME"], ".aws"), f"{why}); HOME={home}")
    for name, default, replacement in FILES:
        path = environ.get(name) or default
        if not path:
            continue
        expanded = os.path.abspath(expand(path, home))
        why = trust.check_file(expanded, euid)
        if why:
            found.changes[name] = replacement
            found.say(expanded, f"{why})")
    return found


def expand(path: str, home: str) -> str:
    """botocore's ``expandvars`` then ``expanduser``, with ``home`` for ``~``."""
    path = os.path.expandvars(path)
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return os.path.expanduser(path)


def _untrusted_dir(path: str, euid: int) -> str | None:
    try:
        trust.check_dir(path, euid)
    except OSError as exc:
        return str(exc)
    return None


def _trusted_home(home: str | None, euid: int) -> str:
    if home and home.startswith("/") and not _untrusted_dir(os.path.join(home, ".aws"), euid):
        return home
    return NO_HOME


def apply(changes: Mapping[str, str | None], environ: MutableMapping[str, str]) -> None:
    """Make the process's environment what botocore may see, before botocore is imported.

    botocore reads ``os.environ`` itself, and expands ``~`` into class attributes when
    it is imported (its SSO cache, its service-model path), so this happens at the
    edge, in ``cli``, before the first import.
    """
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def passwd_home(uid: int) -> str | None:
    """A uid's home directory from the password database, or None."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return None
