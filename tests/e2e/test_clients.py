"""Real Docker, skopeo and docker-py using the helper, in a hermetic world (see world.py).

Each scenario runs against the pip-installed console script and the built executable,
and asserts on what the client printed and on the calls the AWS endpoint saw.
"""

from __future__ import annotations

import json
import stat
import subprocess
import time
from pathlib import Path

import pytest

from e2e.conftest import E2E_KEY_ID, Client
from e2e.world import (
    ACCOUNT,
    API_HOSTS,
    DOCKER,
    ECR_HOST,
    ECR_IMAGE,
    PLAIN_HOST,
    PLAIN_IMAGE,
    PLAIN_PASSWORD,
    PLAIN_USER,
    World,
)

# One world (dockerd, registries) per package: all its tests in one pytest-xdist worker.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]

CRED_HELPERS = {"credHelpers": {ECR_HOST: "ecr"}}
UNENCRYPTED = "WARNING! Your password will be stored unencrypted"
DENIED = (
    f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: AccessDeniedException: "
    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
    "ecr:GetAuthorizationToken on resource: *"
)


def calls(world: World) -> dict[str, int]:
    assert world.fake is not None
    return dict(world.fake.calls)


def pulled(proc: subprocess.CompletedProcess[str], image: str, fresh: bool = True) -> None:
    """Assert that a ``docker pull`` succeeded and said so."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = "Downloaded newer image" if fresh else "Image is up to date"
    assert f"Status: {status} for {image}\n" in proc.stdout
    assert proc.stderr == "", "the helper or docker warned"


def test_cred_helpers_pull_fetches_once(client: Client, world: World) -> None:
    client.configure(CRED_HELPERS)
    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    assert calls(world) == {"ecr": 1}
    assert world.fake is not None
    (request,) = world.fake.requests
    assert request["host"] == "api.ecr.us-east-1.amazonaws.com"  # AWS's default endpoint
    assert (request["region"], request["key_id"]) == ("us-east-1", E2E_KEY_ID)
    assert json.loads(request["body"]) == {"registryIds": [ACCOUNT]}
    (entry,) = client.cache_dir.glob(f"{ECR_HOST}~*.token")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600

    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE, fresh=False)
    assert calls(world) == {"ecr": 1}, "the second pull called AWS"


def test_login_is_stored_used_and_erased(client: Client, world: World) -> None:
    client.configure(CRED_HELPERS)
    login = client.docker(
        "login", "-u", "AWS", "--password-stdin", ECR_HOST, stdin=world.ecr_password
    )
    assert login.returncode == 0, login.stdout + login.stderr
    assert "Login Succeeded" in login.stdout
    assert UNENCRYPTED not in login.stdout + login.stderr
    assert world.ecr_password not in client.config_file.read_text()
    assert list(client.cache_dir.glob(f"{ECR_HOST}~*.token")), "store kept nothing"

    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    assert calls(world) == {}, "the pull fetched a token instead of using the login"

    logout = client.docker("logout", ECR_HOST)
    assert (logout.returncode, logout.stderr) == (0, ""), logout.stdout + logout.stderr
    assert f"Removing login credentials for {ECR_HOST}" in logout.stdout
    assert not list(client.cache_dir.glob(f"{ECR_HOST}~*.token")), "erase left the token"

    client.docker("image", "rm", ECR_IMAGE)
    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    assert calls(world) == {"ecr": 1}


def test_creds_store_serves_ecr_and_keeps_other_logins(client: Client, world: World) -> None:
    client.configure({"credsStore": "ecr"})
    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    assert calls(world) == {"ecr": 1}

    login = client.docker(
        "login", "-u", PLAIN_USER, "--password-stdin", PLAIN_HOST, stdin=PLAIN_PASSWORD
    )
    assert login.returncode == 0, login.stdout + login.stderr
    assert "Login Succeeded" in login.stdout
    assert UNENCRYPTED not in login.stdout + login.stderr
    config = client.config_file.read_text()
    assert PLAIN_PASSWORD not in config
    assert json.loads(config)["auths"] == {PLAIN_HOST: {}}
    assert json.loads(client.helper("list").stdout)[PLAIN_HOST] == PLAIN_USER

    pulled(client.docker("pull", PLAIN_IMAGE), PLAIN_IMAGE)

    logout = client.docker("logout", PLAIN_HOST)
    assert (logout.returncode, logout.stderr) == (0, ""), logout.stdout + logout.stderr
    assert f"Removing login credentials for {PLAIN_HOST}" in logout.stdout
    assert PLAIN_HOST not in json.loads(client.helper("list").stdout)
    client.docker("image", "rm", PLAIN_IMAGE)
    anonymous = client.docker("pull", PLAIN_IMAGE)
    assert anonymous.returncode == 1
    assert "no basic auth credentials" in anonymous.stderr
    assert calls(world) == {"ecr": 1}, "a plain registry's login reached AWS"


def test_docker_manifest_inspect(client: Client, world: World) -> None:
    client.configure(CRED_HELPERS)
    proc = client.docker("manifest", "inspect", ECR_IMAGE)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert len(manifest["layers"]) == 1
    assert calls(world) == {"ecr": 1}


def test_skopeo_inspect_with_the_docker_config_as_authfile(client: Client, world: World) -> None:
    client.configure(CRED_HELPERS)
    argv = ["/usr/bin/skopeo", "inspect", "--authfile", str(client.config_file)]
    proc = client.run([*argv, f"docker://{ECR_IMAGE}"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Name"] == f"{ECR_HOST}/e2e/hello"
    again = client.run([*argv, f"docker://{ECR_IMAGE}"])
    assert json.loads(again.stdout)["Digest"] == json.loads(proc.stdout)["Digest"]
    assert calls(world) == {"ecr": 1}


DOCKER_PY = """
import json, sys
from docker.credentials import Store, errors
store = Store("ecr")
try:
    store.get(sys.argv[2])
    foreign = "found"
except errors.CredentialsNotFound:
    foreign = "not found"
print(json.dumps({"get": store.get(sys.argv[1]), "list": store.list(), "foreign": foreign}))
"""


def test_docker_py_store_get_and_list(client: Client, world: World) -> None:
    pytest.importorskip("docker", reason="docker-py (pip install docker) is not installed")
    proc = client.python(DOCKER_PY, ECR_HOST, PLAIN_HOST)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {
        "get": {"ServerURL": ECR_HOST, "Username": "AWS", "Secret": world.ecr_password},
        "list": {f"https://{ECR_HOST}": "AWS"},
        "foreign": "not found",
    }
    assert calls(world) == {"ecr": 1}


def test_assumed_role_profile_through_sts_at_its_real_hostname(
    client: Client, world: World, tmp_path: Path
) -> None:
    aws = client.home / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        "[profile base]\naws_access_key_id = AKIDE2EBASEPROFILE01\n"
        "aws_secret_access_key = base-secret\n\n"
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\n"
        "source_profile = base\n"
    )
    del client.env["AWS_ACCESS_KEY_ID"], client.env["AWS_SECRET_ACCESS_KEY"]
    client.env["AWS_PROFILE"] = "puller"
    client.configure(CRED_HELPERS)
    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    client.docker("image", "rm", ECR_IMAGE)
    pulled(client.docker("pull", ECR_IMAGE), ECR_IMAGE)
    assert calls(world) == {"sts:AssumeRole": 1, "ecr": 1}
    assert world.fake is not None
    sts, ecr = world.fake.requests
    assert sts["host"] in API_HOSTS
    assert sts["host"].startswith("sts.")
    assert ecr["key_id"].startswith("ASIA")


def test_denied_token_reason_reaches_the_user(client: Client, world: World) -> None:
    client.configure(CRED_HELPERS)
    assert world.fake is not None
    world.fake.sticky_fault = "deny"
    proc = client.docker("pull", ECR_IMAGE)
    assert proc.returncode == 1
    assert "Status: Downloaded" not in proc.stdout
    assert "no basic auth credentials" in proc.stderr  # dockerd, pulling without credentials
    assert calls(world) == {"ecr": 1}
    assert world.fake.issued == []
    # Docker discards a helper's failed `get` (stdout) and pulls anonymously; only the
    # helper's stderr reaches the user, so the helper writes its reason there too.
    assert DENIED in proc.stderr
    assert proc.stderr.index(DENIED) < proc.stderr.index("no basic auth credentials")
    assert proc.stderr.count(DENIED) == 1


def passwd_with_root_home(tmp_path: Path, home: str) -> Path:
    """A copy of /etc/passwd whose root entry has ``home`` as its home directory."""
    lines = []
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "root":
            fields[5] = home
        lines.append(":".join(fields))
    passwd = tmp_path / "passwd"
    passwd.write_text("\n".join(lines) + "\n")
    return passwd


def test_home_unset_uses_the_account_home(client: Client, world: World, tmp_path: Path) -> None:
    # As under a systemd unit: no HOME, no DOCKER_CONFIG; both Docker and the helper
    # must find the account's home in the password database.
    home = tmp_path / "account-home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps(CRED_HELPERS))
    passwd = passwd_with_root_home(tmp_path, str(home))
    env = {k: v for k, v in client.env.items() if k not in ("HOME", "DOCKER_CONFIG")}
    proc = client.run([DOCKER, "pull", ECR_IMAGE], env=env, passwd=passwd)
    pulled(proc, ECR_IMAGE)
    assert calls(world) == {"ecr": 1}
    assert list((home / ".cache" / "docker-credential-ecr").glob(f"{ECR_HOST}~*.token"))
    assert not client.cache_dir.exists()


def test_home_unset_and_no_account_home_says_what_to_set(
    client: Client, world: World, tmp_path: Path
) -> None:
    pytest.importorskip("docker", reason="docker-py (pip install docker) is not installed")
    passwd = passwd_with_root_home(tmp_path, "")
    env = {k: v for k, v in client.env.items() if k not in ("HOME", "DOCKER_CONFIG")}
    code = (
        "import sys\nfrom docker.credentials import Store, errors\n"
        "try:\n    Store('ecr').get(sys.argv[1])\nexcept errors.StoreError as e:\n"
        "    print(e)\n    raise SystemExit(3)\n"
    )
    started = time.monotonic()
    proc = client.python(code, ECR_HOST, env=env, passwd=passwd)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no home directory for uid 0; set AWS_ECR_CACHE_DIR or HOME" in proc.stdout
    assert elapsed < 10
    assert calls(world) == {}


def test_a_legacy_build_with_creds_store_pulls_a_configured_registry_not_yet_cached(
    client: Client, world: World
) -> None:
    # The legacy builder sends the auth of every registry `list` names, got by `get`:
    # a configured registry with no token yet must be listed, or its FROM is anonymous.
    config = client.tmp / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\n')
    client.env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)
    client.configure({"credsStore": "ecr"})
    assert json.loads(client.helper("list").stdout) == {f"https://{ECR_HOST}": "AWS"}
    assert calls(world) == {}  # listing asks AWS nothing
    context = client.tmp / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {ECR_IMAGE}\nLABEL built=by-the-legacy-builder\n")
    client.env["DOCKER_BUILDKIT"] = "0"
    built = client.docker("build", "--tag", "e2e/legacy:1", str(context))
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Successfully tagged e2e/legacy:1" in built.stdout
    assert calls(world) == {"ecr": 1}
    client.docker("image", "rm", "e2e/legacy:1")
