"""The configuration file through the real command: identities, roles, aliases, cache, refresh."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

from docker_credential_ecr.cache import encode
from docker_credential_ecr.token import AuthToken
from fakeaws import FakeAWS
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST
from support.tokens import cache_entry

EU_HOST = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
AWS_CONFIG = """
[profile alpha]
aws_access_key_id = AKIDALPHA00000000001
aws_secret_access_key = alpha-secret

[profile beta]
aws_access_key_id = AKIDBETA000000000001
aws_secret_access_key = beta-secret
"""


def configure(env: dict[str, str], tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(path)
    aws = tmp_path / "aws-config"
    aws.write_text(AWS_CONFIG)
    env["AWS_CONFIG_FILE"] = str(aws)
    return path


def test_each_registry_uses_its_own_profile(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(
        env,
        tmp_path,
        f'[registries."{ECR_HOST}"]\nprofile = "alpha"\n'
        '[registries."*.dkr.ecr.eu-west-1.amazonaws.com"]\nprofile = "beta"\n',
    )
    secret_of(get(runner, env))
    secret_of(get(runner, env, EU_HOST))
    secret_of(get(runner, env))
    assert [(r["key_id"], r["region"]) for r in fake_aws.requests] == [
        ("AKIDALPHA00000000001", "us-east-1"),
        ("AKIDBETA000000000001", "eu-west-1"),
    ]


def test_role_with_external_id_is_assumed_once_per_token(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(
        env,
        tmp_path,
        f'[registries."{ECR_HOST}"]\nprofile = "alpha"\n'
        'role_arn = "arn:aws:iam::123456789012:role/puller"\nexternal_id = "fleet"\n'
        'role_session_name = "host-7"\nduration_seconds = 1800\n',
    )
    for _ in range(3):
        assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls == {"sts:AssumeRole": 1, "ecr": 1}
    form = urllib.parse.parse_qs(fake_aws.requests[0]["body"])
    assert form["RoleArn"] == ["arn:aws:iam::123456789012:role/puller"]
    assert (form["ExternalId"], form["RoleSessionName"], form["DurationSeconds"]) == (
        ["fleet"],
        ["host-7"],
        ["1800"],
    )
    assert fake_aws.requests[0]["key_id"] == "AKIDALPHA00000000001"
    assert fake_aws.requests[1]["key_id"].startswith("ASIA")


def test_static_keys_from_a_private_file(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(
        env,
        tmp_path,
        f'[registries."{ECR_HOST}"]\naws_access_key_id = "AKIDFILEKEYS00000001"\n'
        'aws_secret_access_key = "file-secret"\n',
    )
    secret_of(get(runner, env))
    assert fake_aws.requests[0]["key_id"] == "AKIDFILEKEYS00000001"


def test_secret_keys_in_a_readable_file_are_refused_in_one_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    path = configure(
        env,
        tmp_path,
        f'[registries."{ECR_HOST}"]\naws_access_key_id = "AKID"\n'
        'aws_secret_access_key = "file-secret"\n',
        mode=0o644,
    )
    proc = get(runner, env)
    code, out = proc.returncode, proc.stdout
    assert code == 1
    assert out.startswith(f"docker-credential-ecr: {path} holds AWS secret keys")
    assert out.count("\n") == 1
    assert "file-secret" not in out
    assert fake_aws.total_calls() == 0


def test_alias_answers_with_the_registry_it_stands_for(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(env, tmp_path, f'[aliases]\n"registry.internal.example" = "{EU_HOST}"\n')
    proc = get(runner, env, "https://registry.internal.example/v2/")
    code, out = proc.returncode, proc.stdout
    assert code == 0
    assert json.loads(out) == {
        "ServerURL": "https://registry.internal.example/v2/",
        "Username": "AWS",
        "Secret": fake_aws.issued[0],
    }
    assert json.loads(fake_aws.requests[0]["body"]) == {"registryIds": ["210987654321"]}
    assert secret_of(get(runner, env, EU_HOST)) == fake_aws.issued[0]  # the same cache entry
    assert fake_aws.calls["ecr"] == 1


def test_cache_false_fetches_every_time(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(env, tmp_path, f'[registries."{ECR_HOST}"]\ncache = false\n')
    secret_of(get(runner, env))
    secret_of(get(runner, env))
    secret_of(get(runner, env, EU_HOST))
    secret_of(get(runner, env, EU_HOST))
    assert [json.loads(r["body"])["registryIds"][0] for r in fake_aws.requests] == [
        "123456789012",
        "123456789012",
        "210987654321",
    ]


def test_refresh_before_sets_the_refresh_window(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    configure(env, tmp_path, f'[registries."{ECR_HOST}"]\nrefresh_before = 1800\n')
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"  # see the window as a wait
    entry = cache_entry(env)
    entry.parent.mkdir(mode=0o700, parents=True)
    now = time.time()
    for remaining, expected_calls in ((3000, 0), (1500, 1)):
        entry.write_bytes(
            encode(AuthToken("AWS", "seeded", "e", now + remaining - 43200, now + remaining))
        )
        entry.chmod(0o600)
        fake_aws.reset()
        got = secret_of(get(runner, env))
        assert fake_aws.total_calls() == expected_calls
        assert got == ("seeded" if expected_calls == 0 else fake_aws.issued[0])


def test_mistake_in_the_file_is_one_line_naming_file_and_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    path = configure(env, tmp_path, f'[registries."{ECR_HOST}"]\nprofile = "alpha"\nregoin = "x"\n')
    proc = get(runner, env)
    code, out, err = proc.returncode, proc.stdout, proc.stderr
    assert (code, out) == (
        1,
        f"docker-credential-ecr: {path}:3: unknown setting 'regoin' for '{ECR_HOST}'\n",
    )
    assert err == out  # a failed get also says why on stderr, where docker pull shows it
