"""The TOML configuration file: parsing, precedence, matching, errors naming file and line."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecr import fileconfig
from docker_credential_ecr.errors import InputError
from docker_credential_ecr.fileconfig import FileConfig, files_for, load, parse, read_file


def documented_example(text: str, start: str, end: str) -> str:
    """The TOML example documented between ``start`` and ``end`` in ``text``, dedented."""
    block = text.split(start, 1)[1].split(end, 1)[0]
    return textwrap.dedent(block).strip() + "\n"


# The module's own documented example, plus what it does not show.
EXAMPLE = (
    documented_example(fileconfig.__doc__ or "", "config.toml``)::\n", "\nFiles:")
    + """
"Other.Alias.Example" = "111111111111.dkr.ecr.us-east-1.amazonaws.com"

[registries."*.amazonaws.com"]
cache = false
"""
)


def test_readme_example_parses() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    config = parse(documented_example(readme, "```toml\n", "```"), "README.md")
    assert len(config.registries) == 4
    assert config.for_host("555555555555.dkr.ecr.eu-west-1.amazonaws.com").role_arn == (
        "arn:aws:iam::333333333333:role/ecr-pull"
    )
    assert config.for_host("444444444444.dkr.ecr.eu-west-1.amazonaws.com").cache is False


def test_example_parses_and_matches_most_specific_first() -> None:
    config = parse(EXAMPLE, "/etc/x.toml")
    assert config.for_host("111111111111.dkr.ecr.us-east-1.amazonaws.com").profile == "prod"
    eu = config.for_host("333333333333.dkr.ecr.eu-west-1.amazonaws.com")
    assert (eu.role_arn, eu.external_id, eu.refresh_before, eu.cache) == (
        "arn:aws:iam::222222222222:role/puller",
        "fleet",
        3600.0,
        None,
    )
    assert config.for_host("333333333333.dkr.ecr.us-west-2.amazonaws.com").cache is False
    assert config.for_host("public.ecr.aws").identity() == ""
    assert (
        config.resolve_alias("registry.internal.example")
        == "111111111111.dkr.ecr.us-east-1.amazonaws.com"
    )
    assert config.resolve_alias("other.example") == "other.example"
    assert config.resolve_alias("other.alias.example") == config.resolve_alias(
        "registry.internal.example"
    )


def test_user_file_overlays_system_file() -> None:
    system = parse(
        '[registries."a.example"]\nprofile = "sys"\n[registries."b.example"]\nprofile = "b"\n', "s"
    )
    user = parse('[registries."a.example"]\nprofile = "user"\n', "u")
    system.overlay(user)
    assert system.for_host("a.example").profile == "user"
    assert system.for_host("b.example").profile == "b"
    assert system.files == ["s", "u"]


def test_identity_differs_per_section_and_never_holds_the_secret() -> None:
    config = parse(
        '[registries."a"]\naws_access_key_id = "AKIAEXAMPLE"\naws_secret_access_key = "hunter2"\n'
        '[registries."b"]\nprofile = "p"\n',
        "f",
    )
    a, b = config.for_host("a"), config.for_host("b")
    assert a.identity() != b.identity()
    assert "hunter2" not in a.identity() + repr(a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[registries\n", "f: "),
        ('[registries."a"]\nprofle = "x"\n', "f:2: unknown setting 'profle' for 'a'"),
        ('[registries."a"]\nprofile = 3\n', "f:2: profile for 'a' must be a non-empty string"),
        (
            '[registries."a"]\nrefresh_before = -1\n',
            "f:2: refresh_before for 'a' must be a positive number",
        ),
        ('[registries."a"]\ncache = "no"\n', "f:2: cache for 'a' must be true or false"),
        ('[registries."a"]\naws_access_key_id = "AKIA"\n', "f:1: 'a' needs both aws_access_key_id"),
        (
            '[aliases]\n"x.example" = "docker.io"\n',
            "f:2: alias 'x.example' must name an ECR registry host",
        ),
        ("[other]\n", "f:1: unknown section 'other'"),
    ],
)
def test_mistakes_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(text, "f")
    assert str(info.value).startswith("docker-credential-ecr: " + message)
    assert "\n" not in str(info.value)


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_input_error(text: str) -> None:
    try:
        result: FileConfig | str = parse(text, "f")
    except InputError as exc:
        result = str(exc)
    assert isinstance(result, FileConfig) or result.startswith("docker-credential-ecr: f")


def test_files_for() -> None:
    assert files_for({"DOCKER_CREDENTIAL_ECR_CONFIG": "/c.toml", "HOME": "/h"}) == ["/c.toml"]
    assert files_for({"HOME": "/h"})[1] == "/h/.config/docker-credential-ecr/config.toml"
    assert (
        files_for({"XDG_CONFIG_HOME": "/x", "HOME": "/h"})[1]
        == "/x/docker-credential-ecr/config.toml"
    )
    assert files_for({}) == ["/etc/docker-credential-ecr/config.toml"]


# The seam's fake: every file passes the trusted-path rule (tests of what is read).
def any_file(path: str) -> str | None:
    return None


SECRETS = '[registries."a"]\naws_access_key_id = "AKIA"\naws_secret_access_key = "s"\n'


def test_secret_keys_need_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(SECRETS)
    path.chmod(0o644)
    env = {"DOCKER_CREDENTIAL_ECR_CONFIG": str(path)}
    with pytest.raises(InputError, match=r"holds AWS secret keys.*mode -rw-r--r--.*chmod 600"):
        load(env, read_file, any_file)
    path.chmod(0o600)
    assert load(env, read_file, any_file).for_host("a").aws_secret_access_key == "s"


def test_secret_keys_in_a_file_of_another_user_are_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    path = tmp_path / "c.toml"
    path.write_text(SECRETS)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    os.chown(path, 54321, 54321)
    with pytest.raises(InputError, match="it is uid 54321"):
        load({"DOCKER_CREDENTIAL_ECR_CONFIG": str(path)}, read_file, any_file)


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[registries."a"]\nprofile = "\xff"\n')
    with pytest.raises(InputError, match=rf"^docker-credential-ecr: cannot read {path}: .*utf-8"):
        load({"DOCKER_CREDENTIAL_ECR_CONFIG": str(path)}, read_file, any_file)


def test_missing_explicit_file_is_an_error_missing_default_files_are_not(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load({"DOCKER_CREDENTIAL_ECR_CONFIG": str(tmp_path / "none.toml")}, read_file, any_file)
    assert load({"HOME": str(tmp_path)}, lambda p: None, any_file).registries == {}


def test_an_explicit_file_that_fails_the_trusted_path_rule_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    path.chmod(0o666)
    rule = fileconfig.check_with(os.geteuid())
    with pytest.raises(InputError, match=rf"CONFIG={path} cannot be used: {path} is writable by"):
        load({"DOCKER_CREDENTIAL_ECR_CONFIG": str(path)}, read_file, rule)
    # Found by HOME instead: left out, with the reason, and no error.
    user = tmp_path / ".config" / "docker-credential-ecr" / "config.toml"
    user.parent.mkdir(parents=True)
    path.rename(user)
    found = load({"HOME": str(tmp_path)}, read_file, rule)
    assert found.files == []
    assert found.refused == [f"not reading {user} ({user} is writable by group and others "
                             "(mode 666))"]  # fmt: skip


def test_the_example_names_the_node_exporter_textfile() -> None:
    """[metrics] textfile is where the watch writes; nothing else is a metrics setting."""
    config = parse(EXAMPLE, "/etc/x.toml")
    assert config.metrics_file == "/var/lib/prometheus/node-exporter/docker_credential_ecr.prom"
    assert parse("", "/etc/x.toml").metrics_file is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[metrics]\ntextfile = "m.prom"\n', "2: metrics.textfile must be an absolute path"),
        ('[metrics]\ntextfile = "/m.txt"\n', "2: metrics.textfile must be an absolute path"),
        ("[metrics]\ntextfile = 1\n", "2: metrics.textfile must be an absolute path"),
        ("[metrics]\nport = 9100\n", "2: unknown setting 'port' in [metrics]"),
        ('metrics = "/m.prom"\n', "1: metrics must be a table of metrics settings"),
    ],
)
def test_a_wrong_metrics_setting_is_named_with_its_line(text: str, message: str) -> None:
    """Each mistake in [metrics] is refused with the file and line it is on."""
    with pytest.raises(InputError, match=r"^docker-credential-ecr: /etc/x\.toml:") as caught:
        parse(text, "/etc/x.toml")
    assert message in str(caught.value)


def test_the_users_textfile_replaces_the_systems() -> None:
    """An overlay keeps the system's textfile unless the user's file names one."""
    system = parse('[metrics]\ntextfile = "/s.prom"\n', "s")
    system.overlay(parse("", "u"))
    assert system.metrics_file == "/s.prom"
    system.overlay(parse('[metrics]\ntextfile = "/u.prom"\n', "u"))
    assert system.metrics_file == "/u.prom"
