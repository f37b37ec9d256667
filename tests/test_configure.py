"""configure and unconfigure in-process: which hosts, which file, dry runs and refusals."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from docker_credential_ecr import commands, fileconfig, kubelet, trust
from docker_credential_ecr.commands import configure
from docker_credential_ecr.commands.context import Parser
from docker_credential_ecr.errors import InputError
from docker_credential_ecr.token import AuthToken
from support.files import mode
from support.services import ALIAS, HOST, OTHER, World, command_context, context, errors, output

THIRD = "345678901234.dkr.ecr.ap-south-1.amazonaws.com"
FOURTH = "456789012345.dkr.ecr.sa-east-1.amazonaws.com"


def parse(name: str, *argv: str) -> argparse.Namespace:
    """The options of ``name`` (configure or unconfigure), as its own parser reads them."""
    parser = Parser(prog=f"docker-credential-ecr {name}")
    configure.arguments(parser, name)
    return parser.parse_args(list(argv))


def docker_config(tmp_path: Path, document: dict[str, object] | None = None) -> Path:
    """A Docker config.json under ``tmp_path`` holding ``document`` (none: no file yet)."""
    path = tmp_path / "docker" / "config.json"
    if document is not None:
        path.parent.mkdir(mode=0o700)
        path.write_text(json.dumps(document))
    return path


def cache(w: World, host: str, tag: str = "default") -> None:
    """A token for ``host`` cached under the identity ``tag``."""
    token = AuthToken("AWS", "secret", f"https://{host}", w.now, w.now + 43200)
    w.cache.write(f"{host}~{tag}", token, w.now)


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_without_registries_it_adds_the_configured_and_the_cached_ones(
    w: World, tmp_path: Path
) -> None:
    file = fileconfig.parse(f'[registries."{OTHER}"]\nprofile = "puller"\n', str(tmp_path / "c"))
    ctx = command_context(w.tokens, w.logins, w.clock, tmp_path, file)
    cache(w, THIRD)
    cache(w, FOURTH, tag="0123456789abcdef")  # another identity's: not a reason
    path = docker_config(tmp_path, {"credHelpers": {"gcr.io": "gcloud"}})
    assert configure.main(parse("configure", "--docker-config", str(path)), ctx) == 0
    assert output(ctx) == f"{path}: updated\n"
    assert json.loads(path.read_text()) == {
        "credHelpers": {"gcr.io": "gcloud", OTHER: "ecr", THIRD: "ecr"}
    }


def test_registries_given_as_urls_are_added_and_removed_by_their_host(
    w: World, tmp_path: Path
) -> None:
    path = docker_config(
        tmp_path, {"credsStore": "ecr", "credHelpers": {OTHER: "ecr", "gcr.io": "gcloud"}}
    )
    given = f"HTTPS://{HOST.upper()}:443/v2/"
    configure.main(
        parse("configure", "--docker-config", str(path), "--registry", given), context(w, tmp_path)
    )
    assert json.loads(path.read_text())["credHelpers"] == {
        OTHER: "ecr",
        "gcr.io": "gcloud",
        HOST: "ecr",
    }
    configure.main(
        parse("unconfigure", "--docker-config", str(path), "--registry", f"https://{OTHER}/"),
        context(w, tmp_path),
    )
    # Only the named registry's entry goes: credsStore stays when registries are named.
    assert json.loads(path.read_text()) == {
        "credsStore": "ecr",
        "credHelpers": {"gcr.io": "gcloud", HOST: "ecr"},
    }


def test_the_file_is_the_option_else_the_commands_docker_config_else_its_home(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process's own environment is not the command's: were it read, this is written.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "process"))
    chosen = tmp_path / "chosen" / "config.json"
    environ = {"DOCKER_CONFIG": str(tmp_path / "env"), "HOME": str(tmp_path / "home")}
    ctx = context(w, tmp_path, environ)
    configure.main(parse("configure", "--creds-store", "--docker-config", str(chosen)), ctx)
    assert json.loads(chosen.read_text()) == {"credsStore": "ecr"}
    assert not (tmp_path / "env").exists()
    configure.main(parse("configure", "--creds-store"), ctx)
    assert json.loads((tmp_path / "env" / "config.json").read_text()) == {"credsStore": "ecr"}
    ctx = context(w, tmp_path, {"HOME": str(tmp_path / "home")})
    configure.main(parse("configure", "--creds-store"), ctx)
    home = tmp_path / "home" / ".docker" / "config.json"
    assert output(ctx) == f"{home}: updated\n"
    assert json.loads(home.read_text()) == {"credsStore": "ecr"}
    assert not (tmp_path / "process").exists()


def test_a_dry_run_prints_the_tab_indented_result_and_makes_nothing(
    w: World, tmp_path: Path
) -> None:
    path = docker_config(tmp_path)
    ctx = context(w, tmp_path)
    args = parse(
        "configure", "--docker-config", str(path), "--registry", HOST, "--creds-store", "--dry-run"
    )
    assert configure.main(args, ctx) == 0
    assert output(ctx).split("\n") == [
        "{",
        '\t"credHelpers": {',
        f'\t\t"{HOST}": "ecr"',
        "\t},",
        '\t"credsStore": "ecr"',
        "}",
        "",
    ]
    assert not path.parent.exists()


def test_an_unconfigure_dry_run_shows_the_file_without_ours_and_leaves_it(
    w: World, tmp_path: Path
) -> None:
    path = docker_config(
        tmp_path, {"credsStore": "ecr", "credHelpers": {HOST: "ecr", "gcr.io": "gcloud"}}
    )
    before = path.read_bytes()
    ctx = context(w, tmp_path)
    assert configure.main(parse("unconfigure", "--docker-config", str(path), "--dry-run"), ctx) == 0
    assert json.loads(output(ctx)) == {"credHelpers": {"gcr.io": "gcloud"}}
    assert path.read_bytes() == before


@pytest.mark.parametrize("verb", ["configure", "unconfigure"])
def test_a_directory_others_can_change_is_refused_with_the_fix(
    w: World, tmp_path: Path, verb: str
) -> None:
    path = docker_config(tmp_path, {"credHelpers": {HOST: "ecr"}})
    path.parent.chmod(0o777)
    before = path.read_bytes()
    with pytest.raises(trust.UntrustedPath) as untrusted:
        trust.check_dir(str(path.parent), os.geteuid())
    for dry_run in ([], ["--dry-run"]):  # a dry run is refused the same way, with the fix
        given = parse(verb, "--docker-config", str(path), "--registry", HOST, *dry_run)
        with pytest.raises(InputError) as refused:
            configure.main(given, context(w, tmp_path))
        assert str(refused.value) == (
            f"docker-credential-ecr {verb}: not changing {path}: {untrusted.value}; "
            "run it as the user who owns that file, or with --docker-config in a directory "
            "only you and root can write"
        )
    assert path.read_bytes() == before


def test_cred_helpers_that_are_not_an_object_are_one_line_and_the_file_is_kept(
    w: World, tmp_path: Path
) -> None:
    path = docker_config(tmp_path, {"credHelpers": ["gcr.io"]})
    before = path.read_bytes()
    ctx = context(w, tmp_path)
    command = commands.find("configure")
    assert command is not None
    assert commands.run(command, ["--docker-config", str(path), "--registry", HOST], ctx) == 1
    assert (output(ctx), errors(ctx)) == (
        "",
        "docker-credential-ecr configure: credHelpers is not a JSON object\n",
    )
    assert path.read_bytes() == before


def test_kubelet_sets_up_the_kubelet_and_leaves_dockers_config_alone(
    w: World, tmp_path: Path
) -> None:
    path = docker_config(tmp_path)
    program = tmp_path / "opt" / "docker-credential-ecr"
    directory = tmp_path / "credentialprovider"
    kubelet_args = ["--kubelet", "--docker-config", str(path), "--kubelet-dir", str(directory)]
    kubelet_args += ["--executable", str(program)]
    ctx = context(w, tmp_path)
    assert configure.main(parse("configure", *kubelet_args, "--dry-run"), ctx) == 0
    link = directory / "bin" / kubelet.PROGRAM
    assert output(ctx).startswith(f"# {link} -> {program}\n# {directory / 'config.yaml'}:\n")
    ctx = context(w, tmp_path)
    assert configure.main(parse("unconfigure", *kubelet_args), ctx) == 0
    assert output(ctx) == "nothing of ours found\n"
    assert not path.parent.exists()
    assert not directory.exists()


def test_without_registries_each_alias_gets_its_own_entry(w: World, tmp_path: Path) -> None:
    # Docker asks the helper named for the host in the image reference: the alias's.
    path = docker_config(tmp_path, {})
    assert (
        configure.main(parse("configure", "--docker-config", str(path)), context(w, tmp_path)) == 0
    )
    helpers = json.loads(path.read_text())["credHelpers"]
    assert helpers == {ALIAS: "ecr", HOST: "ecr", OTHER: "ecr"}


def containers_env(tmp_path: Path, logged_in: bool) -> dict[str, str]:
    """A user's environment for podman: its runtime directory (with the auth.json ``podman
    login`` writes there, if ``logged_in``) and its configuration directory."""
    runtime = tmp_path / "run"
    (runtime / "containers").mkdir(parents=True, mode=0o700)
    if logged_in:
        login = {"auths": {"quay.io": {"auth": "cm9ib3Q6cHc="}}}
        (runtime / "containers" / "auth.json").write_text(json.dumps(login))
        (runtime / "containers" / "auth.json").chmod(0o600)
    home = tmp_path / "home"
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}


def test_containers_get_our_helpers_in_the_auth_json_they_read_and_the_persistent_one(
    w: World, tmp_path: Path
) -> None:
    environ = containers_env(tmp_path, logged_in=True)
    ctx = context(w, tmp_path, environ)
    given = parse("configure", "--containers", "--registry", HOST)
    assert configure.main(given, ctx) == 0
    runtime = tmp_path / "run" / "containers" / "auth.json"
    persistent = tmp_path / "home" / ".config" / "containers" / "auth.json"
    assert output(ctx) == f"{runtime}: updated\n{persistent}: updated\n"
    assert json.loads(runtime.read_text()) == {
        "auths": {"quay.io": {"auth": "cm9ib3Q6cHc="}},  # podman's login, kept
        "credHelpers": {HOST: "ecr"},
    }
    assert json.loads(persistent.read_text()) == {"credHelpers": {HOST: "ecr"}}
    assert mode(runtime) == 0o600
    assert configure.main(parse("unconfigure", "--containers"), context(w, tmp_path, environ)) == 0
    assert json.loads(runtime.read_text()) == {"auths": {"quay.io": {"auth": "cm9ib3Q6cHc="}}}


def test_containers_without_a_login_get_only_the_persistent_file(w: World, tmp_path: Path) -> None:
    environ = containers_env(tmp_path, logged_in=False)
    ctx = context(w, tmp_path, environ)
    assert configure.main(parse("configure", "--containers", "--registry", HOST), ctx) == 0
    assert not (tmp_path / "run" / "containers" / "auth.json").exists()
    persistent = tmp_path / "home" / ".config" / "containers" / "auth.json"
    assert output(ctx) == f"{persistent}: updated\n"


def test_registry_auth_file_is_the_only_one_then(w: World, tmp_path: Path) -> None:
    named = tmp_path / "ci" / "auth.json"
    environ = {**containers_env(tmp_path, logged_in=True), "REGISTRY_AUTH_FILE": str(named)}
    ctx = context(w, tmp_path, environ)
    assert configure.main(parse("configure", "--containers", "--registry", HOST), ctx) == 0
    assert output(ctx) == f"{named}: updated\n"
    assert "credHelpers" not in (tmp_path / "run" / "containers" / "auth.json").read_text()
