"""Why the instance metadata service gave no credentials, for ``doctor``: turned off, not
there, blocked (a connection that is never accepted), silent after IMDSv2's token request
on a connection it accepted (a container behind the default hop limit of 1: the answer's
packets die on the way), or there with no role.  Each has its own fix."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_ENDPOINT = "http://169.254.169.254/"
HOP_LIMIT_FIX = (
    "from a container, raise the instance's hop limit: aws ec2 modify-instance-metadata-options"
    " --instance-id <id> --http-put-response-hop-limit 2"
)


def explain(environ: Mapping[str, str], timeout: float = 1.0) -> tuple[str, str]:
    """What the metadata service says about this host's role, and the fix, as one line each."""
    if environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return (
            "the instance metadata service is not asked (AWS_EC2_METADATA_DISABLED=true)",
            "give credentials another way, or unset AWS_EC2_METADATA_DISABLED on EC2",
        )
    base = environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
    base = base.rstrip("/") + "/"
    if not base.startswith(("http://", "https://")):
        return (
            f"the metadata endpoint {base} is not an http URL",
            "fix AWS_EC2_METADATA_SERVICE_ENDPOINT",
        )
    blocked = _blocked(base, timeout)
    if blocked is not None:
        return blocked
    # The metadata service is link-local: never through a proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    put = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
        base + "latest/api/token", method="PUT", headers={_TTL: "60"}
    )
    try:
        with opener.open(put, timeout=timeout) as answer:
            token = answer.read().decode()
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        if _timed_out(exc):
            said = f"the metadata service at {base} did not answer IMDSv2's token request"
            return f"{said} within {timeout:g} s", HOP_LIMIT_FIX
        return (
            f"no instance metadata service answers at {base} ({_reason(exc)})",
            "off EC2, or with the metadata endpoint blocked: set AWS_PROFILE or keys instead",
        )
    return _role(opener, base, token, timeout)


def _blocked(base: str, timeout: float) -> tuple[str, str] | None:
    """The line and fix when a connection to ``base`` is never accepted (dropped packets,
    unlike the hop limit, which lets the connection through and drops only the answer)."""
    url = urllib.parse.urlsplit(base)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except TimeoutError:
        return (
            f"nothing accepts a connection to the metadata service at {base} within"
            f" {timeout:g} s (a firewall drops it, or this is not EC2)",
            "let this host (or container) reach it, or set AWS_PROFILE or keys instead",
        )
    except OSError:
        return None  # refused, unreachable: the token request below says which
    return None


def _role(
    opener: urllib.request.OpenerDirector, base: str, token: str, timeout: float
) -> tuple[str, str]:
    listing = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked by explain
        base + "latest/meta-data/iam/security-credentials/", headers={_SESSION: token}
    )
    try:
        with opener.open(listing, timeout=timeout) as answer:
            roles = answer.read().decode().split()
    except urllib.error.HTTPError as exc:
        roles = [] if exc.code == 404 else ["?"]
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        return f"the metadata service stopped answering ({_reason(exc)})", HOP_LIMIT_FIX
    if not roles:
        return (
            "the instance has no role (no instance profile is attached)",
            "attach an instance profile whose role allows docker-credential-ecr policy's actions",
        )
    return (
        f"the instance's role {roles[0]} gave no usable credentials",
        "check the instance profile and the role's trust policy (ec2.amazonaws.com)",
    )


_TTL = "X-aws-ec2-metadata-token-ttl-seconds"
_SESSION = "X-aws-ec2-metadata-token"  # the header that carries IMDSv2's session


def _timed_out(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    return getattr(reason, "strerror", None) or str(reason)
