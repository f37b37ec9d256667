"""``store``, ``erase`` and ``list``: a plain registry's login kept and listed, a ``docker
login`` token for ECR used until erased or expired, ``list`` without the network.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from docker_credential_ecr.cache import decode
from fakeaws import FakeAWS, make_password
from support.environ import CLOSED_ENDPOINT as CLOSED_PORT
from support.helper import NOT_FOUND, Runner, get, secret_of
from support.hosts import ECR_HOST


def test_store_get_list_erase_for_a_plain_registry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    login = {"ServerURL": "registry.example:5000", "Username": "bob", "Secret": 'pa$$ "word"'}
    stored = runner.run(["store"], json.dumps(login), env)
    assert (stored.returncode, stored.stdout) == (0, "")
    assert json.loads(get(runner, env, "registry.example:5000").stdout) == login
    assert json.loads(runner.run(["list"], "", env).stdout) == {"registry.example:5000": "bob"}
    logins = Path(env["AWS_ECR_CACHE_DIR"], "logins")
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in logins.iterdir())
    erased = runner.run(["erase"], "https://registry.example:5000/\n", env)
    assert (erased.returncode, erased.stdout) == (0, "")
    assert get(runner, env, "registry.example:5000").stdout == NOT_FOUND
    assert json.loads(runner.run(["list"], "", env).stdout) == {}
    assert fake_aws.total_calls() == 0


def test_docker_login_token_for_ecr_is_used_until_erased(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    password = make_password(time.time() + 12 * 3600)
    stored = runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert (stored.returncode, stored.stdout) == (0, "")
    assert secret_of(get(runner, env, f"https://{ECR_HOST}")) == password
    assert fake_aws.total_calls() == 0
    assert runner.run(["erase"], ECR_HOST, env).returncode == 0
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_docker_login_token_is_kept_until_its_own_expiry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    # A password minted 11 hours ago has an hour left.  Its expiry comes from the
    # password itself; its refresh window from the time of the store.
    expiry = int(time.time() + 3600)
    password = make_password(expiry)
    runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert secret_of(get(runner, env)) == password
    assert fake_aws.total_calls() == 0
    (entry,) = Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token")
    token = decode(entry.read_bytes())
    assert token is not None
    assert token.expires_at == expiry


def test_docker_login_with_an_expired_password_is_not_kept(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    password = make_password(time.time() - 60)
    stored = runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert (stored.returncode, stored.stdout) == (0, "")
    assert stored.stderr == (
        f"docker-credential-ecr: warning: the password given for {ECR_HOST} has expired; "
        "not keeping it\n"
    )
    assert secret_of(get(runner, env)) == fake_aws.issued[0]


def test_ignore_creds_storage_makes_store_and_erase_no_ops(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["AWS_ECR_IGNORE_CREDS_STORAGE"] = "true"
    login = json.dumps({"ServerURL": "registry.example", "Username": "u", "Secret": "s"})
    assert runner.run(["store"], login, env).returncode == 0
    assert get(runner, env, "registry.example").stdout == NOT_FOUND
    assert not Path(env["AWS_ECR_CACHE_DIR"]).exists()
    assert runner.run(["erase"], "registry.example", env).returncode == 0


def test_erase_of_nothing_succeeds(runner: Runner, env: dict[str, str]) -> None:
    for url in (ECR_HOST, "https://index.docker.io/v1/", "nothing.example"):
        proc = runner.run(["erase"], url, env)
        assert (proc.returncode, proc.stdout) == (0, "")


def test_list_is_local_only(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    secret_of(get(runner, env))
    runner.run(
        ["store"], json.dumps({"ServerURL": "r.example", "Username": "u", "Secret": "s"}), env
    )
    offline = {**env, "AWS_ENDPOINT_URL_ECR": CLOSED_PORT}
    listed = runner.run(["list"], "", offline)
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == {f"https://{ECR_HOST}": "AWS", "r.example": "u"}
