"""Where the token cache lives and when it cannot be used: corrupt, unwritable, turned off,
HOME unset, no home at all.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST
from support.tokens import seed


def test_corrupt_cache_is_rewritten(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    seed(env, requested_ago=0, expires_in=3600)
    entry = next(Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token"))
    entry.write_bytes(b"\x00garbage")
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_unwritable_cache_still_answers_and_warns(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    env["AWS_ECR_CACHE_DIR"] = str(tmp_path / "not-a-dir" / "cache")
    proc = get(runner, env)
    assert secret_of(proc) == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()  # warned once
    assert line.startswith("docker-credential-ecr: warning: cannot use the token cache (")


def test_disabled_cache_calls_aws_every_time(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["AWS_ECR_DISABLE_CACHE"] = "1"
    secret_of(get(runner, env))
    secret_of(get(runner, env))
    assert fake_aws.calls["ecr"] == 2
    assert not Path(env["AWS_ECR_CACHE_DIR"]).exists()


def test_home_unset_uses_the_passwd_home(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    del env["HOME"], env["AWS_ECR_CACHE_DIR"]
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert list((tmp_path / "xdg" / "docker-credential-ecr").glob("*.token"))


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_no_home_and_no_passwd_entry_says_what_to_set(
    env: dict[str, str], runner: Runner, other_user_dir: Path
) -> None:
    del env["HOME"], env["AWS_ECR_CACHE_DIR"]
    # The binary unpacks as that user, by default into $TMPDIR/docker-credential-ecr-54321.
    env.pop("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", None)
    env["TMPDIR"] = str(other_user_dir)
    as_user = ["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups"]
    command = runner.command
    if runner.name == "binary":
        # The checkout may be where uid 54321 cannot read (under /root, mode 0700).
        command = [str(shutil.copy(command[0], other_user_dir / "docker-credential-ecr"))]
    else:
        probe = [*as_user, *command, "version"]
        if subprocess.run(probe, env=env, capture_output=True, check=False).returncode:
            pytest.skip(f"uid 54321 cannot run {command[0]} (a checkout it cannot read)")
    proc = subprocess.run(
        [*as_user, *command, "get"],
        input=ECR_HOST,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        1,
        "docker-credential-ecr: no home directory for uid 54321; set AWS_ECR_CACHE_DIR or HOME\n",
    )
