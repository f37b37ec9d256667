"""The AWS side: sessions, clients and GetAuthorizationToken, with boto3 and botocore.

It turns ``GetAuthorizationToken`` answers into AuthTokens and every AWS or
network failure into a one-line TokenError.  Each call runs in a worker thread
so that the whole fetch, credential resolution and retries included, ends by
the deadline whatever the network does.

Clients come from a boto3 Session over a botocore session configured here
(profile, region, credentials); one session serves a whole miss, an assumed
role's credentials included, so its configuration files and models are read
once.  ``doctor`` makes the same session, clients and call through this
module's public functions, so that what it checks is what a miss does.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import threading
import time
from typing import cast

import boto3.session
import botocore
import botocore.config
import botocore.exceptions
import botocore.session

from docker_credential_ecr import __version__, log
from docker_credential_ecr.errors import NAME, DeadlineExceeded, TokenError, one_line
from docker_credential_ecr.token import CLOCK_SKEW, AuthToken, describe_offset, local_expiry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from typing import Any

    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr_public import ECRPublicClient
    from mypy_boto3_sts import STSClient

    from docker_credential_ecr.config import Options
    from docker_credential_ecr.fileconfig import RegistryConfig, WebIdentity
    from docker_credential_ecr.registry import Registry

    # What GetAuthorizationToken answered: the encoded token, its expiry, the endpoint,
    # and the time on AWS's clock when it answered (its Date header).
    Answer = tuple[str, datetime | None, str, float | None]

NO_CREDENTIALS = (
    "no AWS credentials found; provide them with AWS_PROFILE, AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, or an instance or task role"
)


def make_fetcher(
    options: Options, clock: Callable[[], float]
) -> Callable[[Registry, RegistryConfig], AuthToken]:
    """Return a fetcher that gets a registry's token from AWS within the deadline."""
    config = botocore_config(options)

    def fetch(registry: Registry, identity: RegistryConfig) -> AuthToken:
        return _within_deadline(
            registry.host, options.deadline, lambda: _fetch(registry, identity, config, clock)
        )

    return fetch


def botocore_config(options: Options, attempts: int | None = None) -> botocore.config.Config:
    """The client configuration every AWS call of the helper uses: timeouts, retries, agent."""
    return botocore.config.Config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"total_max_attempts": attempts or options.max_attempts, "mode": "standard"},
        user_agent_extra=f"{NAME}/{__version__}",
    )


def _within_deadline(host: str, deadline: float, call: Callable[[], AuthToken]) -> AuthToken:
    outcome: list[AuthToken | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the calling thread as is
            outcome.append(exc)

    worker = threading.Thread(target=run, name="ecr-fetch", daemon=True)
    worker.start()
    worker.join(deadline)
    if not outcome:
        raise DeadlineExceeded(host, f"no answer from AWS within {deadline:g}s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch(
    registry: Registry,
    identity: RegistryConfig,
    config: botocore.config.Config,
    clock: Callable[[], float],
) -> AuthToken:
    requested_at = clock()
    try:
        started = time.perf_counter()
        session = session_for(registry, identity, config)
        session.get_credentials()  # here rather than in the client, to time it apart
        resolved = time.perf_counter()
        client = client_for(session, registry, config, identity.region)
        built, sent = time.perf_counter(), clock()
        encoded, expires, endpoint, served = ask(client, registry)
        # AWS's Date was read somewhere in the round trip: its middle is the best guess.
        received = (sent + clock()) / 2
        log.debug(
            "fetched %s: credentials %.1f ms, client %.1f ms, request %.1f ms",
            registry.host,
            1000 * (resolved - started),
            1000 * (built - resolved),
            1000 * (time.perf_counter() - built),
        )
    except botocore.exceptions.NoCredentialsError:
        raise TokenError(registry.host, NO_CREDENTIALS, "NoCredentials") from None
    except botocore.exceptions.ClientError as exc:
        reason = aws_error(exc) + skew_hint(exc.response, clock())
        raise TokenError(registry.host, reason, aws_code(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise TokenError(registry.host, one_line(str(exc)), type(exc).__name__) from None
    return _token(registry.host, encoded, expires, endpoint, requested_at, served, received)


def server_time(response: Mapping[str, Any]) -> float | None:
    """The time on AWS's clock when it answered, from the response's Date header."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        # A Date names the second it fell in: its middle is the best guess.
        return email.utils.parsedate_to_datetime(date).timestamp() + 0.5 if date else None
    except (TypeError, ValueError):
        return None


def refused_offset(response: Mapping[str, Any], now: float) -> float | None:
    """For a refused call: AWS's clock's offset from this host's when it is far enough off
    (over CLOCK_SKEW) to be the likely cause, else None.

    AWS refuses a request signed more than 5 minutes from its own clock, with an error
    that names neither clock; the answer's Date tells how far off this host is.
    """
    served = server_time(response)
    if served is None or abs(served - now) <= CLOCK_SKEW:
        return None
    return served - now


def skew_hint(response: Mapping[str, Any], now: float) -> str:
    """For a refused call: the clock's offset and its fix, when that is likely the cause."""
    offset = refused_offset(response, now)
    return "" if offset is None else f" ({describe_offset(offset)}: set the clock, with NTP)"


def aws_code(exc: botocore.exceptions.ClientError) -> str:
    """AWS's error code, kept to a label's worth: a word of at most 64 characters."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code if code.isidentifier() and len(code) <= 64 else "Other"


def aws_error(exc: botocore.exceptions.ClientError) -> str:
    """An error AWS answered, as ``Code: Message``."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '') or exc}"


def ask(client: ECRClient | ECRPublicClient, registry: Registry) -> Answer:
    """Call GetAuthorizationToken on the registry's service; ECR Public has no registry ids."""
    if registry.public:
        public = cast("ECRPublicClient", client).get_authorization_token()
        data = public["authorizationData"]
        return (
            data.get("authorizationToken", ""),
            data.get("expiresAt"),
            f"https://{registry.host}",
            server_time(cast("Mapping[str, Any]", public)),
        )
    log.debug("GetAuthorizationToken for %s in %s", registry.account, registry.region)
    answer = cast("ECRClient", client).get_authorization_token(registryIds=[registry.account])
    item = (answer.get("authorizationData") or [{}])[0]
    return (
        item.get("authorizationToken", ""),
        item.get("expiresAt"),
        item.get("proxyEndpoint") or f"https://{registry.host}",
        server_time(cast("Mapping[str, Any]", answer)),
    )


def session_for(
    registry: Registry, identity: RegistryConfig, config: botocore.config.Config
) -> boto3.session.Session:
    """Return a session with the AWS identity configured for a registry.

    A service account's role (the kubelet mode) is assumed with its token and
    nothing else; otherwise static keys or a named profile from the
    configuration file, else the default credential chain; then, if a role is
    configured, that role assumed through STS, whose credentials the same
    session then holds.
    """
    if identity.web_identity is not None:
        return _web_identity_session(registry, identity, identity.web_identity, config)
    if identity.aws_access_key_id:
        core = botocore.session.Session()
        # The configuration file accepts an access key id only with its secret.
        core.set_credentials(identity.aws_access_key_id, identity.aws_secret_access_key or "")
    else:
        core = botocore.session.Session(profile=identity.profile)
    # The region the credential chain's own STS calls use (a profile's role, web
    # identity) when credentials are resolved before any client is made: the
    # client's, as botocore would take it from the client made first.
    core.set_config_variable("region", client_region(registry, identity.region))
    session = boto3.session.Session(botocore_session=core)
    if not identity.role_arn:
        return session
    options: dict[str, object] = {
        "RoleArn": identity.role_arn,
        "RoleSessionName": identity.role_session_name or NAME,
    }
    if identity.external_id:
        options["ExternalId"] = identity.external_id
    if identity.duration_seconds:
        options["DurationSeconds"] = identity.duration_seconds
    answer = sts_client(session, registry, identity, config).assume_role(**options)  # type: ignore[arg-type]
    _hold(core, answer["Credentials"])
    return session


def _web_identity_session(
    registry: Registry,
    identity: RegistryConfig,
    web_identity: WebIdentity,
    config: botocore.config.Config,
) -> boto3.session.Session:
    """Assume a service account's role with its token: an unsigned call, no node credentials."""
    core = botocore.session.Session()
    session = boto3.session.Session(botocore_session=core)
    unsigned = config.merge(botocore.config.Config(signature_version=botocore.UNSIGNED))
    answer = sts_client(session, registry, identity, unsigned).assume_role_with_web_identity(
        RoleArn=web_identity.role_arn,
        RoleSessionName=identity.role_session_name or NAME,
        WebIdentityToken=web_identity.token,
    )
    _hold(core, answer["Credentials"])
    return session


def sts_client(
    session: boto3.session.Session,
    registry: Registry,
    identity: RegistryConfig,
    config: botocore.config.Config,
) -> STSClient:
    """The STS client of a registry's session, in the region its role calls use."""
    return session.client("sts", region_name=_sts_region(registry, identity), config=config)


def _sts_region(registry: Registry, identity: RegistryConfig) -> str:
    return identity.region or (registry.region if not registry.public else "us-east-1")


def _hold(core: botocore.session.Session, credentials: Mapping[str, Any]) -> None:
    """Make an assumed role's credentials the session's, for the clients made after."""
    core.set_credentials(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )


def client_for(
    session: boto3.session.Session,
    registry: Registry,
    config: botocore.config.Config,
    region: str | None = None,
) -> ECRClient | ECRPublicClient:
    """Return the registry's ECR or ECR Public client, FIPS or dual-stack as its host says."""
    cfg = config.merge(
        botocore.config.Config(
            use_fips_endpoint=registry.fips, use_dualstack_endpoint=registry.dualstack
        )
    )
    name = client_region(registry, region)
    if registry.public:
        return session.client("ecr-public", region_name=name, config=cfg)
    return session.client("ecr", region_name=name, config=cfg)


def client_region(registry: Registry, configured: str | None) -> str:
    """The region of a registry's client: ECR Public's own, else the configured or the host's."""
    return registry.region if registry.public else configured or registry.region


def _token(
    host: str,
    encoded: str,
    expires: datetime | None,
    endpoint: str,
    requested_at: float,
    served: float | None,
    received: float,
) -> AuthToken:
    try:
        user, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = secret = user = ""
    if not sep or not user or not secret:
        raise TokenError(host, "AWS returned a malformed authorization token")
    if expires is None:
        raise TokenError(host, "AWS returned a token without an expiry")
    expires_at, offset = local_expiry(expires.timestamp(), served, received)
    return AuthToken(user, secret, endpoint, requested_at, expires_at, offset)
