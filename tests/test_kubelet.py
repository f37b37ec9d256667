"""The kubelet image credential provider mode, run as the kubelet runs it.

Against the installed script and the built single file (the ``runner`` fixture), a
local AWS endpoint and a real cache; the protocol's pure parts in-process.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecr import kubelet
from docker_credential_ecr.commands import kubeletsetup
from fakeaws import FakeAWS
from support.helper import Runner, get, run_concurrently, secret_of
from support.hosts import ECR_HOST
from support.kubelet import API_V1, IMAGE, OTHER_ROLE, ROLE, password, request, sa_request
from support.tokens import cache_entry, seed


def ask(runner: Runner, env: dict[str, str], text: str | bytes, *args: str) -> Any:
    """Run the provider; return its response document, failing the test if it failed."""
    proc = runner.run(["get-credentials", *args], text, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def use_config(env: dict[str, str], tmp_path: Path, setting: str) -> None:
    """Have ``env`` use a configuration file with ``setting`` for ECR_HOST."""
    config = tmp_path / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\n{setting}\n')
    env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)


def seconds(duration: str) -> int:
    """A Go duration as written by kubelet.go_duration, in seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+)s", duration)
    assert match, duration
    h, m, s = (int(g or 0) for g in match.groups())
    return 3600 * h + 60 * m + s


# --- the executable, as the kubelet runs it -------------------------------------------


@pytest.mark.parametrize("version", kubelet.API_VERSIONS)
def test_each_api_version_is_answered_in_kind(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, version: str
) -> None:
    document = ask(runner, env, request(version=version))
    hold = seconds(document.pop("cacheDuration"))
    assert document == {
        "apiVersion": version,
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "auth": {ECR_HOST: {"username": "AWS", "password": fake_aws.issued[0]}},
    }
    # The fake's tokens live 12 h; the default refresh window is their second half.
    assert 6 * 3600 - 30 <= hold < 6 * 3600


def test_cache_duration_ends_when_the_docker_mode_would_refresh(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    # Requested 2 h ago, 10 h left: the refresh window opens in 4 h.
    seed(env, 7200, 36000, secret="warm")
    document = ask(runner, env, request())
    assert password(document) == "warm"
    assert 4 * 3600 - 30 <= seconds(document["cacheDuration"]) <= 4 * 3600
    assert fake_aws.total_calls() == 0


def test_configured_refresh_window_shortens_the_cache_duration(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    use_config(env, tmp_path, "refresh_before = 36000")
    document = ask(runner, env, request())
    # 12 h tokens refreshed 10 h before expiry: held for at most 2 h.
    assert 7200 - 30 <= seconds(document["cacheDuration"]) <= 7200


def test_a_token_in_its_refresh_window_is_not_held_by_the_kubelet(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"
    seed(env, 40000, 3200, secret="old")
    fake_aws.faults = ["5xx", "5xx", "5xx"]
    document = ask(runner, env, request())
    # The refresh failed; the still-valid token is served, and the kubelet must ask again.
    assert (password(document), document["cacheDuration"]) == ("old", "0s")


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        (f"{ECR_HOST}/team/app@sha256:{'a' * 64}", ECR_HOST),
        (f"{ECR_HOST}:443/team/app:1", f"{ECR_HOST}:443"),
        (ECR_HOST, ECR_HOST),
        (f"https://{ECR_HOST}/team/app", ECR_HOST),
        (f"{ECR_HOST.upper()}/team/app", ECR_HOST),
    ],
)
def test_image_forms_are_answered_for_their_registry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, image: str, registry: str
) -> None:
    document = ask(runner, env, request(image))
    assert list(document["auth"]) == [registry]
    assert password(document, registry) == fake_aws.issued[0]


@pytest.mark.parametrize(
    "image", ["docker.io/public.ecr.aws/team/app:1", "registry.example:5000/app", "nginx"]
)
def test_an_image_not_on_ecr_gets_no_credentials_and_a_note(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, image: str
) -> None:
    proc = runner.run(["get-credentials"], request(image), env)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["auth"] == {}
    assert seconds(document["cacheDuration"]) == kubelet.ANONYMOUS_SECONDS
    assert "is not an ECR registry" in proc.stderr
    assert fake_aws.total_calls() == 0


def test_ecr_public_without_credentials_is_pulled_anonymously(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "deny"
    proc = runner.run(["get-credentials"], request("public.ecr.aws/team/app:1"), env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["auth"] == {}
    assert "pull anonymously" in proc.stderr
    assert fake_aws.calls["ecr-public"] >= 1


def test_the_docker_mode_warms_the_cache_for_the_kubelet(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    secret = secret_of(get(runner, env))
    assert password(ask(runner, env, request())) == secret
    assert fake_aws.total_calls() == 1


def test_the_kubelet_mode_warms_the_cache_for_docker(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    secret = password(ask(runner, env, request()))
    assert secret_of(get(runner, env)) == secret
    assert fake_aws.total_calls() == 1


def test_32_concurrent_requests_make_one_api_call(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    fake_aws.delay = 0.3
    done = run_concurrently(
        [*runner.command, "get-credentials"], 32, request().encode(), env, tmp_path
    )
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done if p.returncode]
    passwords = {password(json.loads(p.stdout)) for p in done}
    assert passwords == set(fake_aws.issued)
    assert fake_aws.calls == {"ecr": 1}


@pytest.mark.parametrize("fault", ["deny", "5xx"])
def test_an_aws_failure_is_one_line_naming_the_host_and_the_error(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str
) -> None:
    fake_aws.sticky_fault = fault
    proc = runner.run(["get-credentials"], request(), env)
    assert (proc.returncode, proc.stdout) == (1, "")
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "Traceback" not in line
    assert line.startswith(f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: ")
    assert ("AccessDeniedException" if fault == "deny" else "ServerException") in line


def test_no_answer_from_aws_ends_within_the_deadline(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "hang"
    env["DOCKER_CREDENTIAL_ECR_DEADLINE"] = "2"
    started = time.monotonic()
    proc = runner.run(["get-credentials"], request(), env, timeout=30)
    assert proc.returncode == 1
    assert "no answer from AWS within 2s" in proc.stderr
    assert time.monotonic() - started < 20


BAD_INPUT = [
    (b"{not json", "is not JSON"),
    (b"[]", "not a JSON object"),
    (b"\xff\xfe", "not valid UTF-8"),
    (request(version="credentialprovider.kubelet.k8s.io/v2").encode(), "unsupported apiVersion"),
    (request(version="v1").encode(), "unsupported apiVersion"),
    (json.dumps({"apiVersion": API_V1, "image": IMAGE}).encode(), "expected Credential"),
    (request().replace("Request", "Response").encode(), "expected CredentialProviderRequest"),
    (request("").encode(), "names no image"),
    (request("  ").encode(), "names no image"),
    (json.dumps({"apiVersion": API_V1, "kind": "CredentialProviderRequest"}).encode(), "no image"),
    (request(serviceAccountToken=5).encode(), "serviceAccountToken must be a string"),
    (request(serviceAccountAnnotations={"a": 1}).encode(), "must map names to strings"),
    (request(image="x" * 70000).encode(), "larger than"),
    (b"", "is not JSON"),
    (b"[" * 60000, "is not JSON"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_INPUT, ids=[r for _, r in BAD_INPUT])
def test_bad_input_is_one_line_and_keeps_the_cache(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, text: bytes, reason: str
) -> None:
    entry = seed(env, 60, 40000, secret="kept")
    before = entry.read_bytes()
    proc = runner.run(["get-credentials"], text, env)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("docker-credential-ecr: ")
    assert reason in proc.stderr
    assert entry.read_bytes() == before
    assert fake_aws.total_calls() == 0


def test_the_configuration_files_role_applies_and_is_shared_with_docker(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    use_config(env, tmp_path, f'role_arn = "{OTHER_ROLE}"')
    secret = password(ask(runner, env, request()))
    assert ecr_roles(fake_aws) == [OTHER_ROLE]
    assert fake_aws.calls == {"sts:AssumeRole": 1, "ecr": 1}
    assert secret_of(get(runner, env)) == secret
    assert fake_aws.total_calls() == 2


# --- service accounts -----------------------------------------------------------------


def ecr_roles(fake: FakeAWS) -> list[str]:
    """The role behind each ECR call, by the access key it was signed with."""
    return [fake.role_of_key.get(r["key_id"], "node") for r in fake.requests if r["api"] == "ecr"]


def test_a_service_account_token_is_exchanged_for_its_role(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    document = ask(runner, env, sa_request("sa-token-one"))
    (sts,) = [r for r in fake_aws.requests if r["api"] == "sts:AssumeRoleWithWebIdentity"]
    assert "WebIdentityToken=sa-token-one" in sts["body"]
    assert "RoleArn=" + ROLE.replace(":", "%3A").replace("/", "%2F") in sts["body"]
    assert ecr_roles(fake_aws) == [ROLE]
    assert password(document) == fake_aws.issued[0]


def test_a_service_account_token_is_cached_under_that_token_alone(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    first = password(ask(runner, env, sa_request("sa-token-one")))
    assert password(ask(runner, env, sa_request("sa-token-one"))) == first
    assert fake_aws.calls == {"sts:AssumeRoleWithWebIdentity": 1, "ecr": 1}
    # Another pod's token, the node's own identity, Docker: none is given the pod's token.
    second = password(ask(runner, env, sa_request("sa-token-two")))
    node = password(ask(runner, env, request()))
    docker = secret_of(get(runner, env))
    assert len({first, second, node}) == 3
    assert docker == node
    assert ecr_roles(fake_aws) == [ROLE, ROLE, "node"]


def test_the_service_account_token_is_never_written_to_the_cache(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    ask(runner, env, sa_request("sa-token-secret-material"))
    cache = cache_entry(env).parent
    for path in cache.iterdir():
        assert b"sa-token-secret-material" not in path.read_bytes(), path
        assert "sa-token" not in path.name


def test_the_role_may_come_from_the_environment(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["AWS_ECR_ROLE_ARN"] = OTHER_ROLE
    ask(runner, env, sa_request("sa-token-one", role=None))
    assert ecr_roles(fake_aws) == [OTHER_ROLE]
    fake_aws.reset()
    # The service account's own annotation wins.
    ask(runner, env, sa_request("sa-token-two"))
    assert ecr_roles(fake_aws) == [ROLE]


def test_without_a_role_the_node_identity_is_used(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    ask(runner, env, sa_request("sa-token-one", role=None))
    assert fake_aws.calls == {"ecr": 1}


def test_a_refused_service_account_token_is_one_line_without_it(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.web_identity_tokens = {"the-good-one"}
    proc = runner.run(["get-credentials"], sa_request("sa-token-forged"), env)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert "InvalidIdentityToken" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "sa-token-forged" not in proc.stderr
    assert fake_aws.calls["ecr"] == 0


# --- names and arguments --------------------------------------------------------------


def provider_command(runner: Runner, tmp_path: Path) -> list[str]:
    """The helper under the name of AWS's plugin: a symlink, as the packages install it."""
    target = Path(runner.command[0])
    if target.name == "docker-credential-ecr" and target.with_name(kubelet.PROGRAM).exists():
        return [str(target.with_name(kubelet.PROGRAM))]
    if target.name != "docker-credential-ecr":
        pytest.skip("the helper is run through python -m here")
    link = tmp_path / "bin" / kubelet.PROGRAM
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(target)
    return [str(link)]


@pytest.mark.parametrize("args", [[], ["get-credentials"], ["--v=4"], ["get"]])
def test_the_provider_name_selects_the_kubelet_mode(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path, args: list[str]
) -> None:
    proc = subprocess.run(
        [*provider_command(runner, tmp_path), *args],
        input=request().encode(),
        env=env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert password(json.loads(proc.stdout)) == fake_aws.issued[0]


def test_the_provider_name_keeps_version_and_help(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    command = provider_command(runner, tmp_path)
    version = subprocess.run(
        [*command, "--version"], check=False, env=env, capture_output=True, text=True
    )
    assert version.returncode == 0
    assert version.stdout.startswith("docker-credential-ecr (")
    helped = subprocess.run(
        [*command, "--help"], check=False, env=env, capture_output=True, text=True
    )
    assert helped.returncode == 0
    assert kubelet.PROGRAM in helped.stdout


def test_a_warm_request_loads_no_aws_sdk(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    seed(env, 60, 40000, secret="warm")
    env["DOCKER_CREDENTIAL_ECR_LOG_LEVEL"] = "DEBUG"
    proc = runner.run(["get-credentials"], request(), env)
    assert proc.returncode == 0, proc.stderr
    assert "get-credentials exited 0; heavy modules loaded: none" in proc.stderr
    assert "warm" not in proc.stderr


# --- configure --kubelet --------------------------------------------------------------


def setup_kubelet(runner: Runner, env: dict[str, str], directory: Path, *extra: str) -> Any:
    """``configure --kubelet`` (or ``unconfigure --kubelet``) into ``directory``."""
    verb = "unconfigure" if "un" in extra else "configure"
    args = [a for a in extra if a != "un"]
    return runner.run([verb, "--kubelet", "--kubelet-dir", str(directory), *args], "", env)


def test_configure_kubelet_links_the_provider_and_writes_its_config(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    directory = tmp_path / "credentialprovider"
    done = setup_kubelet(runner, env, directory)
    assert done.returncode == 0, done.stdout + done.stderr
    link = directory / "bin" / kubelet.PROGRAM
    assert link.resolve() == Path(runner.command[0]).resolve()
    config = (directory / "config.yaml").read_text()
    assert config == kubeletsetup.render()
    assert oct((directory / "config.yaml").stat().st_mode & 0o777) == "0o644"
    # The kubelet runs the link by its name with the configured arguments.
    proc = subprocess.run(
        [str(link), "get-credentials"],
        input=request().encode(),
        env=env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert password(json.loads(proc.stdout)) == fake_aws.issued[0]
    # Again: nothing changes; then unconfigure removes both.
    assert setup_kubelet(runner, env, directory).returncode == 0
    assert (directory / "config.yaml").read_text() == config
    removed = setup_kubelet(runner, env, directory, "un")
    assert removed.returncode == 0
    assert sorted(p.name for p in directory.rglob("*")) == ["bin"]


def test_configure_kubelet_never_changes_what_it_did_not_write(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "credentialprovider"
    (directory / "bin").mkdir(parents=True)
    (directory / "config.yaml").write_text("providers: []\n")
    refused = setup_kubelet(runner, env, directory)
    assert refused.returncode == 1
    assert "was not written by docker-credential-ecr" in refused.stderr
    assert (refused.stdout, refused.stderr.count("\n")) == ("", 1)
    (directory / "config.yaml").unlink()
    (directory / "bin" / kubelet.PROGRAM).write_text("#!/bin/sh\n# AWS's plugin\n")
    refused = setup_kubelet(runner, env, directory)
    assert (refused.returncode, "is another program" in refused.stderr) == (1, True)
    assert (directory / "bin" / kubelet.PROGRAM).read_text() == "#!/bin/sh\n# AWS's plugin\n"
    assert not (directory / "config.yaml").exists()
    assert setup_kubelet(runner, env, directory, "un").stdout == "nothing of ours found\n"


def a_program(place: Path, name: str) -> Path:
    """An executable file ``name`` in a new folder ``place``, for configure to link."""
    place.mkdir()
    program = place / name
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def test_configure_kubelet_again_keeps_a_link_to_a_release_named_file(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    """A release's file keeps its name (docker-credential-ecr-<version>-linux-<arch>)."""
    program = a_program(tmp_path / "opt", "docker-credential-ecr-0.1.0-linux-amd64")
    directory = tmp_path / "credentialprovider"
    for _ in range(2):
        done = setup_kubelet(runner, env, directory, "--executable", str(program))
        assert done.returncode == 0, done.stdout + done.stderr
    assert (directory / "bin" / kubelet.PROGRAM).resolve() == program
    removed = setup_kubelet(runner, env, directory, "un", "--executable", str(program))
    assert removed.stdout.count(": removed") == 2, removed.stdout


def test_configure_kubelet_dry_run_writes_nothing(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "credentialprovider"
    shown = setup_kubelet(runner, env, directory, "--dry-run")
    assert shown.returncode == 0
    assert shown.stdout.endswith(kubeletsetup.render())
    assert not directory.exists()


def test_configure_kubelet_refuses_a_directory_others_can_change(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    refused = setup_kubelet(runner, env, shared / "credentialprovider")
    assert refused.returncode == 1
    assert "writable" in refused.stderr or "others" in refused.stderr, refused.stderr
    assert not (shared / "credentialprovider" / "bin" / kubelet.PROGRAM).exists()


@pytest.mark.parametrize("where", ["shared-directory", "writable-file"])
def test_configure_kubelet_refuses_an_executable_others_can_change(
    runner: Runner, env: dict[str, str], tmp_path: Path, where: str
) -> None:
    program = a_program(tmp_path / "place", "docker-credential-ecr")
    place = program.parent
    if where == "shared-directory":
        place.chmod(0o777)
    else:
        program.chmod(0o777)
    directory = tmp_path / "credentialprovider"
    refused = setup_kubelet(runner, env, directory, "--executable", str(program))
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"docker-credential-ecr configure --kubelet: not linking {program}"
    )
    assert not (directory / "bin" / kubelet.PROGRAM).exists()
