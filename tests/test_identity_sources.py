"""Every AWS identity source, end to end: the installed script and the built executable
get their ECR token signed with credentials from each source, served by the local
endpoint, and the cache key changes with the identity and stays when nothing that
chooses it changed.

Sources: an SSO session profile (a cached SSO token, the portal's GetRoleCredentials),
``credential_process``, a ``source_profile`` chain, web identity, container credentials
(``AWS_CONTAINER_CREDENTIALS_FULL_URI``) and the instance metadata service (IMDSv2).
docs/credentials.md says how to use each.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

from fakeaws import FakeAWS
from support.helper import Runner, get, secret_of

ACCOUNT = "123456789012"  # the account of support.hosts.ECR_HOST


def without_keys(env: dict[str, str]) -> dict[str, str]:
    """``env`` with its static keys gone, so the SDK's chain finds the source under test."""
    return {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def ecr_sources(fake: FakeAWS) -> list[str]:
    """Where the key of each ECR call came from, in order (``role_of_key``'s names)."""
    return [
        fake.role_of_key.get(r["key_id"], r["key_id"]) for r in fake.requests if r["api"] == "ecr"
    ]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def answered(runner: Runner, env: dict[str, str]) -> str:
    proc = get(runner, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return secret_of(proc)


def test_an_sso_session_profile(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    home = Path(env["HOME"])
    config = write(
        home / ".aws" / "config",
        f"""
        [profile dev]
        sso_session = corp
        sso_account_id = {ACCOUNT}
        sso_role_name = Puller
        [profile ops]
        sso_session = corp
        sso_account_id = {ACCOUNT}
        sso_role_name = Operator
        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = us-east-1
        sso_registration_scopes = sso:account:access
        """,
    )
    # The SDK names the cached token after the session: the SHA-1 of its name.
    digest = hashlib.sha1(b"corp", usedforsecurity=False).hexdigest()
    cached = home / ".aws" / "sso" / "cache" / f"{digest}.json"
    token = {
        "startUrl": "https://corp.awsapps.com/start",
        "region": "us-east-1",
        "accessToken": "sso-access-token",
        "expiresAt": "2099-01-01T00:00:00Z",
    }
    write(cached, json.dumps(token))
    sso = {
        **without_keys(env),
        "AWS_CONFIG_FILE": str(config),
        "AWS_ENDPOINT_URL_SSO": fake_aws.url,
    }
    dev = {**sso, "AWS_PROFILE": "dev"}
    answered(runner, dev)
    write(cached, json.dumps({**token, "accessToken": "rotated"}))  # the same identity
    answered(runner, dev)
    answered(runner, {**sso, "AWS_PROFILE": "ops"})  # another role: another key
    assert ecr_sources(fake_aws) == [
        f"sso=arn:aws:iam::{ACCOUNT}:role/Puller",
        f"sso=arn:aws:iam::{ACCOUNT}:role/Operator",
    ]


def test_a_credential_process(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    def process(name: str, key_id: str) -> Path:
        script = write(
            tmp_path / "bin" / name,
            f"""\
            #!/bin/sh
            echo '{{"Version": 1, "AccessKeyId": "{key_id}", "SecretAccessKey": "s",
                   "SessionToken": "t", "Expiration": "2099-01-01T00:00:00Z"}}'
            """,
        )
        script.chmod(0o755)
        return script

    config = write(
        tmp_path / "aws" / "config",
        f"""
        [profile vault]
        credential_process = {process("vault", "AKIDFROMPROCESS00001")}
        [profile anywhere]
        credential_process = {process("anywhere", "AKIDFROMPROCESS00002")}
        """,
    )
    base = {**without_keys(env), "AWS_CONFIG_FILE": str(config)}
    answered(runner, {**base, "AWS_PROFILE": "vault"})
    # The process hands out new keys (aws-vault's rotation): the same profile, the same
    # identity, so the cached token serves.
    process("vault", "AKIDFROMPROCESS00009")
    answered(runner, {**base, "AWS_PROFILE": "vault"})
    answered(runner, {**base, "AWS_PROFILE": "anywhere"})
    assert ecr_sources(fake_aws) == ["AKIDFROMPROCESS00001", "AKIDFROMPROCESS00002"]


def test_a_source_profile_chain(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    credentials = write(
        tmp_path / "aws" / "credentials",
        """
        [base]
        aws_access_key_id = AKIDSOURCEPROFILE001
        aws_secret_access_key = base-secret
        """,
    )
    config = write(
        tmp_path / "aws" / "config",
        f"""
        [profile base]
        [profile chained]
        role_arn = arn:aws:iam::{ACCOUNT}:role/chained
        source_profile = base
        """,
    )
    chained = {
        **without_keys(env),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_PROFILE": "chained",
    }
    answered(runner, chained)
    answered(runner, chained)
    # The role assumed with the source profile's own key.
    (assume,) = [r for r in fake_aws.requests if r["api"] == "sts:AssumeRole"]
    assert assume["key_id"] == "AKIDSOURCEPROFILE001"
    # An edited profile is another identity (its file's identity is in the key).
    config.write_text(config.read_text().replace("role/chained", "role/chained-2"))
    answered(runner, chained)
    assert ecr_sources(fake_aws) == [
        f"arn:aws:iam::{ACCOUNT}:role/chained",
        f"arn:aws:iam::{ACCOUNT}:role/chained-2",
    ]


def test_web_identity(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    token_file = write(tmp_path / "token", "first-token")
    web = {
        **without_keys(env),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/irsa",
    }
    answered(runner, web)
    token_file.write_text("rotated-token")  # the kubelet rotates it: the same identity
    answered(runner, web)
    answered(runner, {**web, "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/other"})
    assert ecr_sources(fake_aws) == [
        f"arn:aws:iam::{ACCOUNT}:role/irsa",
        f"arn:aws:iam::{ACCOUNT}:role/other",
    ]


def test_container_credentials(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.container_authorization = "Bearer pod-identity"
    container = {
        **without_keys(env),
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{fake_aws.url}/container",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer pod-identity",
    }
    answered(runner, container)
    answered(runner, container)
    moved = {**container, "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{fake_aws.url}/container?2"}
    answered(runner, moved)  # another endpoint: another identity
    assert ecr_sources(fake_aws) == ["container=task-role", "container=task-role"]
    assert fake_aws.calls["container"] == 2


def test_the_instance_metadata_service_with_imdsv2(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    instance = without_keys(env)
    del instance["AWS_EC2_METADATA_DISABLED"]
    instance["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake_aws.url + "/"
    answered(runner, instance)
    first_role = fake_aws.instance_role
    # The instance's role replaced: an instance has one identity at a time, so the
    # cached token serves until its refresh (docs/credentials.md) without asking IMDS.
    fake_aws.instance_role = "replaced-instance-role"
    answered(runner, instance)
    assert fake_aws.calls["imds:token"] >= 1  # IMDSv2: a session token first
    assert fake_aws.calls["imds"] == 1
    # A profile chosen on the instance is another identity, even one whose credentials
    # come from the same metadata service.
    config = write(
        Path(env["HOME"]) / "instance-config",
        f"""
        [profile assumed]
        role_arn = arn:aws:iam::{ACCOUNT}:role/from-instance
        credential_source = Ec2InstanceMetadata
        """,
    )
    answered(runner, {**instance, "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "assumed"})
    (assume,) = [r for r in fake_aws.requests if r["api"] == "sts:AssumeRole"]
    assert fake_aws.role_of_key.get(assume["key_id"]) == "imds=replaced-instance-role"
    assert ecr_sources(fake_aws) == [
        f"imds={first_role}",
        f"arn:aws:iam::{ACCOUNT}:role/from-instance",
    ]
