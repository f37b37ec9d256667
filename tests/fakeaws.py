"""A local AWS endpoint speaking ECR's, ECR Public's and STS's real wire protocols.

It serves ``GetAuthorizationToken`` (JSON 1.1, ``X-Amz-Target``) for ECR and
ECR Public, and ``AssumeRole``/``AssumeRoleWithWebIdentity``/``GetCallerIdentity``
(query protocol) for STS, over HTTP or HTTPS.  Tests control token lifetime and
latency, inject faults and count calls.  It checks that every request but
``AssumeRoleWithWebIdentity`` (which AWS takes unsigned) is SigV4-signed, but
does not verify signatures; with ``signature_window`` set it refuses, as AWS does,
a signature dated too far from its own clock.

It is also each place credentials come from that is not a file: the SSO portal's
``GetRoleCredentials`` (``AWS_ENDPOINT_URL_SSO``), the instance metadata service with
IMDSv2's session token (``AWS_EC2_METADATA_SERVICE_ENDPOINT``) and a container
credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` at ``/container``).  Every
access key it hands out is in ``role_of_key``, so a test tells which source an ECR call
was signed with.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
PUBLIC_TARGET = "SpencerFrontendService.GetAuthorizationToken"

FAULTS = ("throttle", "5xx", "deny", "reset", "hang", "garbage", "badtoken", "noexpiry")
_RAW_FAULTS: dict[str, tuple[bytes, str]] = {
    "garbage": (b"<html>not json", "text/html"),
    # Well-formed answers whose token is not base64 of "user:password", or has no expiry.
    "badtoken": (
        b'{"authorizationData": [{"authorizationToken": "not base64!", "expiresAt": 4102444800}]}',
        "application/x-amz-json-1.1",
    ),
    "noexpiry": (
        b'{"authorizationData": [{"authorizationToken": "QVdTOnBhc3N3b3Jk"}]}',
        "application/x-amz-json-1.1",
    ),
}
_JSON_FAULTS: dict[str, tuple[int, dict[str, str]]] = {
    "throttle": (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
    "5xx": (500, {"__type": "ServerException", "message": "internal failure"}),
    "deny": (
        400,
        {
            "__type": "AccessDeniedException",
            "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to "
            "perform: ecr:GetAuthorizationToken on resource: *",
        },
    ),
}


def make_certificate(
    directory: Path, names: list[str], ips: tuple[str, ...] = ()
) -> tuple[Path, Path, Path]:
    """Make a throw-away CA and a server certificate for ``names``; return (ca, cert, key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    sans = [f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ips]
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectAltName=" + ",".join(sans) + "\n"
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=docker-credential-ecr test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", f"/CN={names[0]}")  # fmt: skip
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2",
            "-extfile", "server.ext")  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


def make_password(expiration: float) -> str:
    """Return a password shaped like ECR's: base64 of JSON with an ``expiration``."""
    document = {
        "payload": secrets.token_urlsafe(48),
        "datakey": secrets.token_urlsafe(24),
        "version": "2",
        "type": "DATA_KEY",
        "expiration": int(expiration),
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


class FakeAWS:
    """The endpoint's state: what it answers, what went wrong on purpose, what it saw."""

    def __init__(
        self, tls: tuple[str, str] | None = None, address: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        self.lifetime = 12 * 3600.0
        self.delay = 0.0
        self.faults: list[str] = []
        self.sticky_fault: str | None = None
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.password_for: dict[str, str] = {}
        # The role each access key it issued belongs to: which role an ECR call used.
        self.role_of_key: dict[str, str] = {}
        # Web identity tokens it accepts (None: any non-empty one).
        self.web_identity_tokens: set[str] | None = None
        # The instance role the metadata service reports, and its IMDSv2 session tokens.
        self.instance_role = "fake-instance-role"
        self.imds_tokens: set[str] = set()
        # IMDSv2's token request goes unanswered, as from a container behind hop limit 1.
        self.imds_silent = False
        # The Authorization header the container endpoint wants ("": none).
        self.container_authorization = ""
        # Refuse signatures dated more than this many seconds off (AWS: 300); None: any.
        self.signature_window: float | None = None
        # Seconds this endpoint's clock is ahead of the machine's: its Date, expiries and
        # signature check, as AWS's clock would be seen from a host whose clock is off.
        self.clock_offset = 0.0
        # Called with each request's record as it arrives, before any delay or fault.
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server(address, _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The endpoint's base URL."""
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self._server.server_address[1]}"

    def start(self) -> FakeAWS:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release anything waiting in a ``hang`` fault."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget calls, issued tokens and faults (``password_for`` and timing are kept)."""
        with self._lock:
            self.faults = []
            self.sticky_fault = None
            self.calls.clear()
            self.requests.clear()
            self.issued.clear()
            self.role_of_key.clear()

    def now(self) -> float:
        """The time on this endpoint's clock."""
        return time.time() + self.clock_offset

    def total_calls(self) -> int:
        """All API calls seen, whatever the answer."""
        with self._lock:
            return sum(self.calls.values())

    def next_fault(self) -> str | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
            return self.sticky_fault


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client goes away mid-answer (tests kill clients on purpose)."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    region = "us-east-1"

    def setup(self) -> None:
        """Send each answer at once, as AWS's front ends do.

        An answer goes out as two writes (headers, then body).  With Nagle's
        algorithm the body waits for the client to acknowledge the headers,
        which a client delays by up to 40 ms: a stall AWS does not have, and
        which would hide most of a helper's own cost on a cache miss.
        """
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    @property
    def fake(self) -> FakeAWS:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_POST(self) -> None:
        fake = self.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        auth = self.headers.get("Authorization", "")
        if target == ECR_TARGET:
            name = "ecr"
        elif target == PUBLIC_TARGET:
            name = "ecr-public"
        else:
            form = urllib.parse.parse_qs(body.decode())
            name = "sts:" + form.get("Action", ["?"])[0]
        scope = (
            auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if "Credential=" in auth
            else []
        )
        self.region = scope[2] if len(scope) > 2 else "us-east-1"
        record = {
            "api": name,
            "key_id": scope[0] if scope else "",
            "region": self.region,
            "body": body.decode(),
            "host": self.headers.get("Host"),
            "time": time.monotonic(),
        }
        with fake._lock:
            fake.calls[name] += 1
            fake.requests.append(record)
        if fake.on_request is not None:
            fake.on_request(record)
        if fake.delay:
            fake._stop.wait(fake.delay)
        unsigned_ok = name == "sts:AssumeRoleWithWebIdentity"
        if not unsigned_ok and not auth.startswith("AWS4-HMAC-SHA256 "):
            self._json(
                400, {"__type": "MissingAuthenticationTokenException", "message": "unsigned"}
            )
            return
        if not unsigned_ok and self._skewed(name, fake.signature_window):
            return
        self._answer(name, body, fake.next_fault())

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, by this endpoint's clock."""
        return super().date_time_string(self.fake.now() if timestamp is None else timestamp)

    def _skewed(self, name: str, window: float | None) -> bool:
        """Refuse a signature dated outside the window, with AWS's error and message."""
        stamp = self.headers.get("X-Amz-Date", "")
        if window is None or not stamp:
            return False
        signed = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        now = datetime.datetime.fromtimestamp(self.fake.now(), datetime.UTC)
        if abs((now - signed).total_seconds()) <= window:
            return False
        margin = datetime.timedelta(seconds=window)
        message = (
            f"Signature not yet current: {stamp} is still later than {now + margin:%Y%m%dT%H%M%SZ}"
            if signed > now
            else f"Signature expired: {stamp} is now earlier than {now - margin:%Y%m%dT%H%M%SZ}"
        )
        if name.startswith("sts:"):
            self._raw(403, _sts_error("SignatureDoesNotMatch", message), "text/xml")
        else:
            self._json(403, {"__type": "InvalidSignatureException", "message": message})
        return True

    def do_PUT(self) -> None:
        """IMDSv2: a session token for the metadata service's later GETs."""
        if self.fake.imds_silent:
            self.fake._stop.wait(30)
            return
        if self.path != "/latest/api/token" or not self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self._raw(400, b"", "text/plain")
            return
        token = secrets.token_urlsafe(24)
        with self.fake._lock:
            self.fake.calls["imds:token"] += 1
            self.fake.imds_tokens.add(token)
        self._raw(200, token.encode(), "text/plain")

    def do_GET(self) -> None:
        """The credential sources that are not AWS APIs: SSO, IMDS, a container endpoint."""
        path = urllib.parse.urlsplit(self.path).path
        if path == "/federation/credentials":
            self._sso()
        elif path.startswith("/latest/meta-data/iam/security-credentials"):
            self._imds(path)
        elif path == "/container":
            self._container()
        else:
            self._raw(404, b"", "text/plain")

    def _issue(self, source: str) -> dict[str, str]:
        """New temporary credentials, remembered as ``source``'s."""
        key_id = f"ASIA{secrets.token_hex(8).upper()}"
        with self.fake._lock:
            self.fake.calls[source.split("=", 1)[0]] += 1
            self.fake.role_of_key[key_id] = source
        expiration = datetime.datetime.fromtimestamp(time.time() + 3600, datetime.UTC)
        return {
            "AccessKeyId": key_id,
            "SecretAccessKey": secrets.token_urlsafe(30),
            "Token": secrets.token_urlsafe(60),
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _sso(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if not self.headers.get("x-amz-sso_bearer_token"):
            self._json(401, {"__type": "UnauthorizedException", "message": "no token"})
            return
        account, role = query.get("account_id", ["?"])[0], query.get("role_name", ["?"])[0]
        issued = self._issue(f"sso=arn:aws:iam::{account}:role/{role}")
        expiration = int((time.time() + 3600) * 1000)
        credentials = {
            "accessKeyId": issued["AccessKeyId"],
            "secretAccessKey": issued["SecretAccessKey"],
            "sessionToken": issued["Token"],
            "expiration": expiration,
        }
        self._raw(200, json.dumps({"roleCredentials": credentials}).encode(), "application/json")

    def _imds(self, path: str) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") not in self.fake.imds_tokens:
            self._raw(401, b"", "text/plain")
            return
        role = self.fake.instance_role
        listing = path.rstrip("/").endswith(
            ("security-credentials", "security-credentials-extended")
        )
        if listing:
            self._raw(200, role.encode(), "text/plain")
            return
        if not path.endswith(f"/{role}"):
            self._raw(404, b"", "text/plain")
            return
        issued = {"Code": "Success", "Type": "AWS-HMAC", **self._issue(f"imds={role}")}
        self._raw(200, json.dumps(issued).encode(), "application/json")

    def _container(self) -> None:
        wanted = self.fake.container_authorization
        if wanted and self.headers.get("Authorization") != wanted:
            self._raw(403, b'{"message": "bad authorization"}', "application/json")
            return
        self._raw(200, json.dumps(self._issue("container=task-role")).encode(), "application/json")

    def _answer(self, name: str, body: bytes, fault: str | None) -> None:
        """Answer a signed call: as asked, or with the fault the test injected."""
        if fault == "hang":
            self.fake._stop.wait(600)
            return
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if name.startswith("sts:"):
            self._sts(name, fault, urllib.parse.parse_qs(body.decode()))
        elif fault in _JSON_FAULTS:
            self._json(*_JSON_FAULTS[fault])
        elif fault in _RAW_FAULTS:
            self._raw(200, *_RAW_FAULTS[fault])
        else:
            self._token(name, body)

    def _token(self, name: str, body: bytes) -> None:
        fake = self.fake
        expires = fake.now() + fake.lifetime
        request = json.loads(body or b"{}")
        account = (request.get("registryIds") or ["000000000000"])[0]
        password = fake.password_for.get(account) or make_password(expires)
        with fake._lock:
            fake.issued.append(password)
        token = base64.b64encode(f"AWS:{password}".encode()).decode()
        if name == "ecr-public":
            self._json(
                200, {"authorizationData": {"authorizationToken": token, "expiresAt": expires}}
            )
            return
        self._json(
            200,
            {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "expiresAt": expires,
                        "proxyEndpoint": f"https://{account}.dkr.ecr.{self.region}.amazonaws.com",
                    }
                ]
            },
        )

    def _sts(self, name: str, fault: str | None, form: dict[str, list[str]]) -> None:
        if fault == "deny":
            self._raw(403, _sts_error("AccessDenied", "not authorized to assume role"), "text/xml")
            return
        if fault in ("throttle", "5xx"):
            self._raw(
                500 if fault == "5xx" else 400,
                _sts_error("Throttling", "Rate exceeded"),
                "text/xml",
            )
            return
        action = name.split(":", 1)[1]
        if action == "AssumeRoleWithWebIdentity":
            accepted = self.fake.web_identity_tokens
            token = form.get("WebIdentityToken", [""])[0]
            if not token or (accepted is not None and token not in accepted):
                message = "Incorrect token audience or expired token"
                self._raw(400, _sts_error("InvalidIdentityToken", message), "text/xml")
                return
        if action in ("AssumeRole", "AssumeRoleWithWebIdentity"):
            key_id = f"ASIA{secrets.token_hex(8).upper()}"
            with self.fake._lock:
                self.fake.role_of_key[key_id] = form.get("RoleArn", ["?"])[0]
            expiration = datetime.datetime.fromtimestamp(time.time() + 3600, datetime.UTC)
            result = (
                f"<{action}Result><Credentials>"
                f"<AccessKeyId>{key_id}</AccessKeyId>"
                f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
                f"<SessionToken>{secrets.token_urlsafe(60)}</SessionToken>"
                f"<Expiration>{expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>"
                "</Credentials><AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId>"
                "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
                f"</{action}Result>"
            )
        else:
            result = (
                "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ci</Arn>"
                "<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
            )
        xml = (
            f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">{result}'
            f"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{action}Response>"
        )
        self._raw(200, xml.encode(), "text/xml")

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._raw(status, json.dumps(document).encode(), "application/x-amz-json-1.1")

    def _raw(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(body)


def _sts_error(code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    ).encode()


def main() -> int:
    """Serve plain HTTP on 127.0.0.1 until stdin closes; print the URL first, the calls last.

    For checks outside pytest (``scripts/fresh-host``): the URL goes in an AWS config
    file's ``endpoint_url``, and the call counts show what the helper really asked.
    """
    import sys

    fake = FakeAWS().start()
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()
    print(json.dumps(dict(fake.calls)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
