"""The kubelet's image credential provider protocol over byte streams.

The kubelet writes a ``CredentialProviderRequest`` (one image) on stdin and reads a
``CredentialProviderResponse`` from stdout.  Like ``protocol.handle`` for Docker,
``handle`` is dispatch only: the token comes from the same backend, cache and
identity rules.  The response lets the kubelet keep a token only until it enters
its refresh window, so the kubelet never holds a token the Docker mode would
already have replaced.
"""

from __future__ import annotations

from docker_credential_ecr import registry
from docker_credential_ecr.errors import NAME, CredentialsNotFound, InputError
from docker_credential_ecr.protocol import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, BinaryIO

    from docker_credential_ecr.fileconfig import WebIdentity
    from docker_credential_ecr.seams import Provider


# The action and the program name that select this mode: AWS's plugin is configured with
# ``args: [get-credentials]``, so replacing it only changes the provider's name.
ACTION = "get-credentials"
PROGRAM = "ecr-credential-provider"
# Under PROGRAM's name these still mean what they mean to the helper.
PROGRAM_OWN_ARGUMENTS = ("-h", "--help", "help", "-v", "--version", "version")

GROUP = "credentialprovider.kubelet.k8s.io"
API_VERSIONS = tuple(f"{GROUP}/{version}" for version in ("v1", "v1beta1", "v1alpha1"))
REQUEST_KIND = "CredentialProviderRequest"
RESPONSE_KIND = "CredentialProviderResponse"
# The annotation (and, failing it, the variable) naming the role a service account's
# token is exchanged for, as AWS's plugin reads them.
ROLE_ANNOTATION = "eks.amazonaws.com/ecr-role-arn"
# How long the kubelet may keep an answer without credentials (a host that is not
# ECR's, ECR Public without a token): long enough that a node without credentials
# does not ask AWS on every pull, short enough that fixed credentials are soon used.
ANONYMOUS_SECONDS = 300


class Request:
    """A parsed CredentialProviderRequest.

    A plain class: ``typing.NamedTuple`` would load ``typing`` on every Docker ``get``,
    which imports this module for its name rule.
    """

    __slots__ = ("annotations", "api_version", "image", "service_account_token")

    def __init__(
        self, api_version: str, image: str, service_account_token: str, annotations: dict[str, str]
    ) -> None:
        self.api_version = api_version
        self.image = image
        self.service_account_token = service_account_token
        self.annotations = annotations


def program_arguments(program: str, args: list[str]) -> list[str]:
    """The arguments as run under ``program``'s name: as ``ecr-credential-provider``,
    anything but the helper's own help and version options means ``get-credentials``.

    >>> program_arguments("/usr/bin/ecr-credential-provider", [])
    ['get-credentials']
    >>> program_arguments("ecr-credential-provider", ["--version"])
    ['--version']
    >>> program_arguments("docker-credential-ecr", [])
    []
    """
    if program.rpartition("/")[2] != PROGRAM:
        return args
    if args and (args[0] == ACTION or args[0] in PROGRAM_OWN_ARGUMENTS):
        return args
    return [ACTION, *args]


def parse_request(text: str) -> Request:
    """Parse and check a request; raise InputError saying what is wrong with it."""
    document = _json_object(text)
    version = _api_version(document)
    image = document.get("image")
    if not isinstance(image, str) or not image.strip():
        raise InputError(f"{NAME}: the request names no image")
    sa_token, annotations = _service_account(document)
    return Request(version, image.strip(), sa_token, annotations)


def _json_object(text: str) -> dict[str, Any]:
    """The request's JSON object; InputError if it is not one."""
    import json

    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's
        raise InputError(f"{NAME}: the request on stdin is not JSON") from None
    if not isinstance(document, dict):
        raise InputError(f"{NAME}: the request on stdin is not a JSON object")
    return document


def _api_version(document: Mapping[str, Any]) -> str:
    """The request's apiVersion, once it and the kind are ones this mode answers."""
    version, kind = document.get("apiVersion"), document.get("kind")
    if version not in API_VERSIONS:
        known = ", ".join(API_VERSIONS)
        raise InputError(f"{NAME}: unsupported apiVersion {version!r} (supported: {known})")
    if kind != REQUEST_KIND:
        raise InputError(f"{NAME}: kind is {kind!r}, expected {REQUEST_KIND}")
    return str(version)


def _service_account(document: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The service account's token and annotations, both empty when the kubelet sends none."""
    sa_token = document.get("serviceAccountToken") or ""
    annotations = document.get("serviceAccountAnnotations") or {}
    if not isinstance(sa_token, str):
        raise InputError(f"{NAME}: serviceAccountToken must be a string")
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        raise InputError(f"{NAME}: serviceAccountAnnotations must map names to strings")
    return sa_token, annotations


def image_registry(image: str) -> str:
    """The registry part of an image reference: host and port, as the kubelet matches it.

    >>> image_registry("123456789012.dkr.ecr.us-east-1.amazonaws.com:443/a/b@sha256:00")
    '123456789012.dkr.ecr.us-east-1.amazonaws.com:443'
    >>> image_registry("docker.io/public.ecr.aws/x:1")
    'docker.io'
    """
    return registry.authority_of(image).lower()


def go_duration(seconds: float) -> str:
    """Whole seconds written as Go's ``time.Duration`` prints them (what the kubelet parses).

    >>> go_duration(21552.9), go_duration(300), go_duration(7), go_duration(-5)
    ('5h59m12s', '5m0s', '7s', '0s')
    """
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def response(api_version: str, auth: Mapping[str, tuple[str, str]], hold: float) -> str:
    """The CredentialProviderResponse: ``auth`` maps registries to (username, password)."""
    import json

    document = {
        "apiVersion": api_version,
        "kind": RESPONSE_KIND,
        "cacheKeyType": "Registry",
        "cacheDuration": go_duration(hold),
        "auth": {host: {"username": u, "password": p} for host, (u, p) in auth.items()},
    }
    return json.dumps(document) + "\n"


def web_identity_of(request: Request, default_role: str) -> WebIdentity | None:
    """The service account's role and token, if the request has a token and a role is named."""
    from docker_credential_ecr.config import sha256_hex
    from docker_credential_ecr.fileconfig import WebIdentity

    role = request.annotations.get(ROLE_ANNOTATION, "").strip() or default_role
    if not request.service_account_token or not role:
        return None
    digest = sha256_hex(request.service_account_token.encode("utf-8", "surrogateescape"))
    return WebIdentity(role, request.service_account_token, digest)


def handle(
    provider: Provider,
    request: Request,
    web_identity: WebIdentity | None,
    stdout: BinaryIO,
    warn: Callable[[str], None],
    clock: Callable[[], float],
) -> int:
    """Answer one request; return the exit status.  A failure raises TokenError."""
    server = image_registry(request.image)
    try:
        found = provider.lease(server, web_identity)
        if found is None:
            warn(
                f"{registry.host_of(server)} is not an ECR registry; answering without credentials"
            )
    except CredentialsNotFound:
        warn(f"no ECR Public token for {server}; the kubelet will pull anonymously")
        found = None
    if found is None:
        answer = response(request.api_version, {}, ANONYMOUS_SECONDS)
    else:
        token, refresh_at = found
        answer = response(
            request.api_version, {server: (token.user, token.secret)}, refresh_at - clock()
        )
    stdout.write(answer.encode())
    stdout.flush()
    return 0


def matches(pattern: str, image: str) -> bool:
    """Whether a ``matchImages`` entry covers an image, by the kubelet's rule: as many host
    labels, each matching its glob; the same port; the entry's path a prefix of the image's.

    >>> matches("*.dkr.ecr.*.amazonaws.com", "1.dkr.ecr.us-east-1.amazonaws.com/app:1")
    True
    >>> matches("*.amazonaws.com", "1.dkr.ecr.us-east-1.amazonaws.com/app:1")
    False
    """
    import fnmatch

    def parts(reference: str) -> tuple[list[str], str, str]:
        address, _, path = reference.removeprefix("https://").partition("/")
        host, _, port = address.partition(":")
        return host.split("."), port, path

    globs, glob_port, glob_path = parts(pattern)
    labels, port, path = parts(image)
    return (
        len(globs) == len(labels)
        and all(map(fnmatch.fnmatchcase, labels, globs))
        and glob_port == port
        and path.startswith(glob_path)
    )


def read_request(stdin: BinaryIO) -> Request:
    """Read and parse the request on stdin."""
    return parse_request(read_text(stdin))
