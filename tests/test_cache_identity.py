"""Whose token a ``get`` is served: the cache key is the AWS identity, so other keys and an
edited profile get their own, and an assumed-role profile is a hit without resolving it.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

from pathlib import Path

from fakeaws import FakeAWS
from support.environ import TEST_KEY_ID
from support.helper import Runner, get, secret_of


def test_identities_do_not_share_tokens(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    first = secret_of(get(runner, env))
    other = {**env, "AWS_ACCESS_KEY_ID": "AKIDOTHERIDENTITY001"}
    second = secret_of(get(runner, other))
    assert first != second
    assert [r["key_id"] for r in fake_aws.requests] == [TEST_KEY_ID, "AKIDOTHERIDENTITY001"]
    assert secret_of(get(runner, env)) == first
    assert fake_aws.calls["ecr"] == 2


def test_an_edited_aws_profile_is_a_new_identity(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile puller]\nregion = us-east-1\n")
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "puller"})
    first = secret_of(get(runner, env))
    assert secret_of(get(runner, env)) == first  # a hit
    assert fake_aws.calls["ecr"] == 1
    # The profile now means something else: the token cached for what it meant is not served.
    config.write_text("[profile puller]\nregion = us-east-1\nrole_session_name = other\n")
    assert secret_of(get(runner, env)) == fake_aws.issued[1]
    assert fake_aws.calls["ecr"] == 2


def test_assumed_role_profile_is_cached_without_resolving_credentials(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIDBASEPROFILE00001\n"
        "aws_secret_access_key = base-secret\n\n"
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\n"
        "source_profile = base\n"
    )
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "puller"})
    for _ in range(3):
        assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls == {"sts:AssumeRole": 1, "ecr": 1}
    assert fake_aws.requests[0]["key_id"] == "AKIDBASEPROFILE00001"
    assert fake_aws.requests[1]["key_id"].startswith("ASIA")
