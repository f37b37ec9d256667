"""The kubelet mode's pure parts in-process: parsing, rendering, the name rule, the seam."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest

from docker_credential_ecr import cli, kubelet
from docker_credential_ecr.commands import kubeletsetup
from docker_credential_ecr.errors import CredentialsNotFound, TokenError
from docker_credential_ecr.fileconfig import WebIdentity
from docker_credential_ecr.token import AuthToken
from fakeaws import FakeAWS
from support.environ import clean_env, offline_env
from support.helper import built_binary
from support.hosts import ECR_HOST, every_host_form
from support.kubelet import OTHER_ROLE, ROLE, password, request, sa_request
from support.services import ALIAS, HOST, World


class Provider:
    """A backend at the kubelet mode's seam: one answer, and what it was asked."""

    def __init__(self, answer: tuple[AuthToken, float] | Exception | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, WebIdentity | None]] = []

    def lease(
        self, server_url: str, web_identity: WebIdentity | None = None
    ) -> tuple[AuthToken, float] | None:
        self.asked.append((server_url, web_identity))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


GOLDEN = (
    '{"apiVersion": "%s", "kind": "CredentialProviderResponse", "cacheKeyType": "Registry", '
    '"cacheDuration": "5h59m12s", "auth": {"%s": {"username": "AWS", "password": "pw"}}}\n'
)


@pytest.mark.parametrize("version", kubelet.API_VERSIONS)
def test_golden_response(version: str) -> None:
    token = AuthToken("AWS", "pw", f"https://{ECR_HOST}", 1000.0, 44200.0)
    out = io.BytesIO()
    provider = Provider((token, 22600.0))
    status = kubelet.handle(
        provider, kubelet.parse_request(request(version=version)), None, out, print, lambda: 1048.0
    )
    assert status == 0
    assert out.getvalue().decode() == GOLDEN % (version, ECR_HOST)
    assert provider.asked == [(ECR_HOST, None)]


def test_a_token_error_reaches_the_caller() -> None:
    provider = Provider(TokenError(ECR_HOST, "AccessDenied: no"))
    with pytest.raises(TokenError):
        kubelet.handle(
            provider, kubelet.parse_request(request()), None, io.BytesIO(), print, time.time
        )


def test_anonymous_public_answer() -> None:
    out, notes = io.BytesIO(), list[str]()
    kubelet.handle(
        Provider(CredentialsNotFound()),
        kubelet.parse_request(request("public.ecr.aws/a/b")),
        None,
        out,
        notes.append,
        time.time,
    )
    assert json.loads(out.getvalue())["auth"] == {}
    assert notes == ["no ECR Public token for public.ecr.aws; the kubelet will pull anonymously"]


@pytest.mark.parametrize(
    ("program", "args", "expected"),
    [
        ("/usr/bin/ecr-credential-provider", [], ["get-credentials"]),
        ("ecr-credential-provider", ["get-credentials"], ["get-credentials"]),
        ("ecr-credential-provider", ["-v=2"], ["get-credentials", "-v=2"]),
        ("ecr-credential-provider", ["version"], ["version"]),
        ("/x/docker-credential-ecr", ["get"], ["get"]),
        ("/x/ecr-credential-provider.old", [], []),
    ],
)
def test_program_arguments(program: str, args: list[str], expected: list[str]) -> None:
    assert kubelet.program_arguments(program, args) == expected


def test_web_identity_needs_a_token_and_a_role() -> None:
    plain = kubelet.parse_request(request())
    with_token = kubelet.parse_request(sa_request("sa-token-x", role=None))
    annotated = kubelet.parse_request(sa_request("sa-token-x"))
    assert kubelet.web_identity_of(plain, OTHER_ROLE) is None
    assert kubelet.web_identity_of(with_token, "") is None
    found = kubelet.web_identity_of(annotated, OTHER_ROLE)
    assert found is not None
    assert found.role_arn == ROLE
    assert "sa-token-x" not in repr(found)


def test_in_process_errors_go_to_stderr(tmp_path: Path) -> None:
    err = io.StringIO()
    out = io.TextIOWrapper(io.BytesIO(), write_through=True)
    env = clean_env(tmp_path, None)
    status = cli.main(["get-credentials"], env, io.BytesIO(b"nope"), out, err)
    assert (status, err.getvalue()) == (
        1,
        "docker-credential-ecr: the request on stdin is not JSON\n",
    )


@pytest.mark.parametrize("host", every_host_form())
def test_every_host_form(
    host: str, tmp_path: Path, fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path, fake_aws)
    # botocore reads the process's environment, whatever cli.main is given.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, write_through=True)
    status = cli.main(
        ["get-credentials"],
        env,
        io.BytesIO(request(f"{host}/team/app:1").encode()),
        out,
        io.StringIO(),
    )
    assert status == 0
    assert password(json.loads(raw.getvalue()), host) == fake_aws.issued[0]
    assert fake_aws.total_calls() == 1


NAME_CASES = [[], ["get-credentials"], ["get"], ["list"], ["--version"], ["version"], ["-h"],
              ["--v=4", "get-credentials"], ["get-credentials", "get"], ["erase"]]  # fmt: skip


@pytest.mark.parametrize("args", NAME_CASES, ids=[" ".join(a) or "none" for a in NAME_CASES])
def test_the_launcher_applies_the_python_name_rule(tmp_path: Path, args: list[str]) -> None:
    """Differential: the binary run under the provider's name (the launcher's C rule) answers
    as the binary run under its own name with the arguments the Python rule gives."""
    binary = built_binary()
    if binary is None:
        pytest.skip("no built binary: run scripts/build-binary")
    env = offline_env(tmp_path)
    link = tmp_path / kubelet.PROGRAM
    link.symlink_to(binary)

    def run(command: list[str]) -> tuple[int, bytes, bytes]:
        proc = subprocess.run(command, input=b"nope\n", env=env, capture_output=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    expected = run([binary, *kubelet.program_arguments(str(link), args)])
    assert run([str(link), *args]) == expected


def test_the_documented_config_is_the_one_configure_writes() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "kubernetes.md").read_text()
    block = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == kubeletsetup.render().split("\n", 1)[1]


def test_a_request_for_an_aliased_image_is_answered_for_the_host_the_kubelet_asked(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)  # its configuration aliases ALIAS to HOST
    out = io.BytesIO()
    asked = kubelet.parse_request(
        json.dumps(
            {
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "kind": "CredentialProviderRequest",
                "image": f"{ALIAS}/team/app:1.0",
            }
        )
    )
    assert kubelet.handle(w.tokens, asked, None, out, w.warnings.append, w.clock) == 0
    answer = json.loads(out.getvalue())
    # The kubelet looks the auth up by the host it matched: the alias, not the registry.
    assert list(answer["auth"]) == [ALIAS]
    assert answer["auth"][ALIAS] == {"username": "AWS", "password": "s1"}
    assert [host for host, _ in w.asked] == [HOST]
    assert w.warnings == []
