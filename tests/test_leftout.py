"""What the frozen program leaves out of boto3 (packaging/leftout.py) no code path loads.

Every way the helper reaches AWS runs here from the package, under an audit hook
that notes each module imported and each file opened; none may be a module the
spec excludes or a file of boto3's data, which the frozen program does not have.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import leftout
import pytest

from docker_credential_ecr import kubelet
from fakeaws import FakeAWS
from support.environ import clean_env
from support.hosts import ECR_HOST

# Runs the helper's __main__ with argv[2:], noting imports and opened files in argv[1].
WATCHED = """
import runpy, sys
note = open(sys.argv.pop(1), "a", encoding="utf-8")
def hook(event, args):
    if event in ("import", "open") and isinstance(args[0], str):
        note.write(f"{event} {args[0]}\\n")
        note.flush()
sys.addaudithook(hook)
sys.argv[0] = "docker-credential-ecr"
runpy.run_module("docker_credential_ecr", run_name="__main__")
"""

ROLE = "arn:aws:iam::123456789012:role/puller"
PROFILE_ROLE = (
    "[profile base]\naws_access_key_id = AKIDBASEPROFILE00001\naws_secret_access_key = b\n"
    f"[profile puller]\nrole_arn = {ROLE}\nsource_profile = base\nregion = us-east-1\n"
)


def watched(args: list[str], stdin: str, env: dict[str, str], notes: Path) -> list[str]:
    """Run the helper with ``args`` and return what it imported and opened, as it ran."""
    proc = subprocess.run(
        [sys.executable, "-c", WATCHED, str(notes), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return notes.read_text().splitlines()


def left_out_in(notes: list[str]) -> list[str]:
    """The notes that name something the frozen program does not carry."""
    data = f"/{leftout.DATA}/"
    return [
        n
        for n in notes
        if (n.startswith("import ") and n[7:].startswith(tuple(leftout.MODULES)))
        or (n.startswith("open ") and data in n)
    ]


def paths(tmp_path: Path, env: dict[str, str]) -> dict[str, tuple[list[str], str, dict[str, str]]]:
    """Each way to AWS: (arguments, standard input, environment)."""
    profile = tmp_path / "aws-config"
    profile.write_text(PROFILE_ROLE)
    config = tmp_path / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\nrole_arn = "{ROLE}"\n')
    config.chmod(0o600)
    service_account = json.dumps(
        {
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": f"{ECR_HOST}/team/app:1",
            "serviceAccountToken": "sa-token",
            "serviceAccountAnnotations": {kubelet.ROLE_ANNOTATION: ROLE},
        }
    )
    docker = Path(env["HOME"]) / ".docker"
    docker.mkdir(mode=0o700)
    (docker / "config.json").write_text(json.dumps({"credHelpers": {ECR_HOST: "ecr"}}))
    no_keys = {
        k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    return {
        "static keys": (["get"], ECR_HOST, env),
        "ECR Public": (["get"], "public.ecr.aws", env),
        "a profile's role": (
            ["get"],
            ECR_HOST,
            {**no_keys, "AWS_PROFILE": "puller", "AWS_CONFIG_FILE": str(profile)},
        ),
        "the configuration file's role": (
            ["get"],
            ECR_HOST,
            {**env, "DOCKER_CREDENTIAL_ECR_CONFIG": str(config)},
        ),
        "a service account's role": (["get-credentials"], service_account, env),
        "doctor": (["doctor", ECR_HOST], "", env),
    }


@pytest.mark.parametrize(
    "way",
    [
        "static keys",
        "ECR Public",
        "a profile's role",
        "the configuration file's role",
        "a service account's role",
        "doctor",
    ],
)
def test_no_way_to_aws_loads_what_the_frozen_program_leaves_out(
    fake_aws: FakeAWS, tmp_path: Path, way: str
) -> None:
    # Not the env fixture: that one is made for each runner, and this runs the package.
    env = clean_env(tmp_path, fake_aws)
    args, stdin, environ = paths(tmp_path, env)[way]
    notes = watched(args, stdin, environ, tmp_path / "notes")
    assert fake_aws.total_calls() >= 1
    assert "import boto3.session" in notes  # the hook saw the AWS side
    assert left_out_in(notes) == []


def test_the_check_sees_a_left_out_module(tmp_path: Path) -> None:
    """The hook notes boto3's S3 customisation and its data when a resource is made."""
    script = (
        "import boto3.session\n"
        "boto3.session.Session(region_name='us-east-1').resource('s3')\n"
        "import boto3.s3.transfer\n"
    )
    wrapper = WATCHED.replace(
        'runpy.run_module("docker_credential_ecr", run_name="__main__")', "exec(sys.argv[1])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, str(tmp_path / "notes"), script],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = left_out_in((tmp_path / "notes").read_text().splitlines())
    assert "import boto3.s3.transfer" in found
    assert any(n.startswith("open ") and n.endswith("resources-1.json") for n in found)
