"""Attacks on what root reads and edits, by a second user whose HOME root kept (``sudo -E``).

Each attack is done for real: uid 54321 (through ``setpriv``) owns a home with an AWS
configuration, a helper configuration, a Docker directory or a log link, and root runs
the helper (the pip-installed program and the built executable) with that HOME.  Root's
own home is an empty directory of the test's, bind-mounted on the password database's
home in a private mount namespace, so what root trusts is the test's too.
docs/security.md lists each attack with its defence.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_credential_ecr.errors import NOT_FOUND
from fakeaws import FakeAWS
from support.environ import TEST_KEY_ID, TEST_SECRET_KEY, clean_env
from support.helper import Runner, secret_of
from support.hosts import ECR_HOST
from support.mounts import with_var_cache
from support.refresh import wait_for_background_refreshes
from support.tokens import seed
from support.users import AS_OTHER, OTHER, SWAPPER, as_other

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"),
    reason="needs root, setpriv and unshare",
)


def others(home: Path) -> None:
    """Give ``home`` and everything in it to the other user, as if they had made it."""
    for path in [home, *home.rglob("*")]:
        os.lchown(path, OTHER, OTHER)


@pytest.fixture
def their_home(other_user_dir: Path) -> Path:
    """The other user's home, 0755 (root can read it), theirs; filled by each test."""
    home = other_user_dir / "u"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    os.chown(home, OTHER, OTHER)
    return home


@pytest.fixture
def root_home(tmp_path: Path) -> Path:
    """Root's home for the helper under test (bound on /root): empty unless a test fills it."""
    home = tmp_path / "root-home"
    home.mkdir(mode=0o700)
    return home


def as_root_with(root_home: Path) -> list[str]:
    """A command prefix: a private mount namespace whose password database gives root the
    home ``root_home`` (the real one holds this machine's Python, so it cannot be hidden)."""
    rows = Path("/etc/passwd").read_text().splitlines()
    fields = [row.split(":") for row in rows]
    passwd = root_home.parent / "passwd"
    passwd.write_text(
        "".join(
            ":".join([*f[:5], str(root_home), *f[6:]] if f[2] == "0" else f) + "\n" for f in fields
        )
    )
    script = 'mount --make-rprivate / && mount --bind "$0" /etc/passwd && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(passwd)]


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def their_env(runner: Runner, tmp_path: Path, fake: FakeAWS | None, home: Path) -> dict[str, str]:
    """Root's clean environment, but with their HOME and botocore's default AWS files."""
    env = clean_env(tmp_path, fake, runner)
    env["HOME"] = str(home)
    del env["AWS_CONFIG_FILE"], env["AWS_SHARED_CREDENTIALS_FILE"]
    return env


def test_root_runs_no_credential_process_from_another_users_home(
    runner: Runner, tmp_path: Path, fake_aws: FakeAWS, their_home: Path, root_home: Path
) -> None:
    marker = their_home / "PWNED"
    pwn = write(
        their_home / "pwn.sh",
        f"#!/bin/sh\nid -u > {marker}\n"
        'echo \'{"Version": 1, "AccessKeyId": "AKIDTHEIRS", "SecretAccessKey": "x"}\'\n',
        0o755,
    )
    write(their_home / ".aws" / "config", f"[default]\ncredential_process = {pwn}\n")
    others(their_home)
    # Root's own credentials, where botocore looks after the credential process.
    write(
        root_home / ".aws" / "credentials",
        f"[default]\naws_access_key_id = {TEST_KEY_ID}\n"
        f"aws_secret_access_key = {TEST_SECRET_KEY}\n",
        0o600,
    )
    env = their_env(runner, tmp_path, fake_aws, their_home)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    proc = runner.run(["get"], ECR_HOST, env, prefix=as_root_with(root_home))
    assert not marker.exists()
    assert secret_of(proc) == fake_aws.issued[0]
    assert [r["key_id"] for r in fake_aws.requests] == [TEST_KEY_ID]
    assert f"warning: not reading {their_home}/.aws ({their_home} is owned by uid {OTHER})" in (
        proc.stderr
    )


@pytest.fixture
def theirs() -> Iterator[FakeAWS]:
    """An endpoint of the other user's: it must see no connection from root."""
    fake = FakeAWS().start()
    yield fake
    fake.stop()


def test_root_sends_nothing_to_an_endpoint_another_user_names(
    runner: Runner,
    tmp_path: Path,
    fake_aws: FakeAWS,
    theirs: FakeAWS,
    their_home: Path,
    root_home: Path,
) -> None:
    write(their_home / ".aws" / "config", f"[default]\nendpoint_url = {theirs.url}\n")
    others(their_home)
    write(root_home / ".aws" / "config", f"[default]\nendpoint_url = {fake_aws.url}\n")
    env = their_env(runner, tmp_path, None, their_home)
    proc = runner.run(["get"], ECR_HOST, env, prefix=as_root_with(root_home))
    assert theirs.total_calls() == 0
    assert secret_of(proc) == fake_aws.issued[0]


def test_root_loads_no_service_model_from_another_users_home(
    runner: Runner,
    tmp_path: Path,
    fake_aws: FakeAWS,
    theirs: FakeAWS,
    their_home: Path,
    root_home: Path,
) -> None:
    """~/.aws/models is botocore's first place for its data: an endpoint rule set there
    would send root's signed call anywhere.  Only a trusted HOME stops this one."""
    rules = {
        "version": "1.0",
        "parameters": {"Region": {"builtIn": "AWS::Region", "required": False,
                                  "type": "String"}},
        "rules": [{"conditions": [], "type": "endpoint",
                   "endpoint": {"url": theirs.url, "properties": {}, "headers": {}}}],
    }  # fmt: skip
    models = their_home / ".aws" / "models" / "ecr" / "2015-09-21"
    write(models / "endpoint-rule-set-1.json", json.dumps(rules))
    others(their_home)
    env = clean_env(tmp_path, fake_aws, runner)  # root's own, absent, AWS files
    env["HOME"] = str(their_home)
    proc = runner.run(["get"], ECR_HOST, env, prefix=as_root_with(root_home))
    assert theirs.total_calls() == 0
    assert secret_of(proc) == fake_aws.issued[0]


def test_a_credentials_file_another_user_can_change_is_not_read(
    runner: Runner, tmp_path: Path, fake_aws: FakeAWS
) -> None:
    """Named by the environment, in a directory of root's: the file itself is checked."""
    theirs = write(
        tmp_path / "shared" / "credentials",
        "[default]\naws_access_key_id = AKIDTHEIRS\naws_secret_access_key = x\n",
    )
    os.chown(theirs, OTHER, OTHER)
    # Root's source after the credentials file: a credential process of root's own.
    program = write(
        tmp_path / "creds.sh",
        f'#!/bin/sh\necho \'{{"Version": 1, "AccessKeyId": "{TEST_KEY_ID}", '
        f'"SecretAccessKey": "{TEST_SECRET_KEY}"}}\'\n',
        0o755,
    )
    env = clean_env(tmp_path, fake_aws, runner)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    write(Path(env["AWS_CONFIG_FILE"]), f"[default]\ncredential_process = {program}\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(theirs)
    proc = runner.run(["get"], ECR_HOST, env)
    assert secret_of(proc) == fake_aws.issued[0]
    assert [r["key_id"] for r in fake_aws.requests] == [TEST_KEY_ID]
    assert f"warning: not reading {theirs} ({theirs} is owned by uid {OTHER})" in proc.stderr


def test_another_users_config_toml_aliases_nothing_to_roots_registry(
    runner: Runner, tmp_path: Path, fake_aws: FakeAWS, their_home: Path, root_home: Path
) -> None:
    config = their_home / ".config" / "docker-credential-ecr" / "config.toml"
    write(config, f'[aliases]\n"registry.user.example" = "{ECR_HOST}"\n')
    others(their_home)
    env = clean_env(tmp_path, fake_aws, runner)
    env["HOME"] = str(their_home)
    prefix = as_root_with(root_home)
    aliased = runner.run(["get"], "registry.user.example", env, prefix=prefix)
    assert (aliased.returncode, aliased.stdout) == (1, NOT_FOUND + "\n")
    assert f"warning: not reading {config} ({their_home} is owned by uid {OTHER})" in (
        aliased.stderr
    )
    assert fake_aws.total_calls() == 0
    assert secret_of(runner.run(["get"], ECR_HOST, env, prefix=prefix)) == fake_aws.issued[0]


def test_configure_and_export_refuse_another_users_tree_while_it_is_swapped(
    tmp_path: Path, fake_aws: FakeAWS, their_home: Path, root_home: Path
) -> None:
    """The other user flips their ~/.docker with a link to a directory of root's."""
    roots = tmp_path / "roots-docker"
    roots.mkdir(mode=0o700)
    secret = '{"auths": {"x.example": {"auth": "cm9vdDpzZWNyZXQ="}}}\n'
    write(roots / "config.json", secret, 0o600)
    (their_home / ".docker").mkdir()
    write(their_home / ".docker" / "config.json", '{"cliPluginsExtraDirs": ["/home/u"]}\n')
    (their_home / "link").symlink_to(roots)
    others(their_home)
    env = clean_env(tmp_path, fake_aws)
    env["HOME"] = str(their_home)
    prefix = as_root_with(root_home)
    # Once, with the installed script: these checks are the same Python in the binary.
    script = Runner.script()
    swapped = (str(their_home / ".docker"), str(their_home / "link"))
    with as_other(SWAPPER, *swapped, ready=b"swapping\n"):
        for _ in range(10):
            for args in (
                ["configure", "--registry", ECR_HOST],
                ["unconfigure"],
                ["export", ECR_HOST, "--output", str(their_home / ".docker" / "out.json")],
            ):
                proc = script.run(args, "", env, prefix=prefix)
                assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
                assert f"is owned by uid {OTHER}" in proc.stderr
                assert "run it as the user" in proc.stderr or "only you and root" in proc.stderr
    assert sorted(p.name for p in roots.iterdir()) == ["config.json"]
    assert (roots / "config.json").read_text() == secret
    assert stat.S_IMODE((roots / "config.json").stat().st_mode) == 0o600
    assert [p for p in their_home.rglob("*") if p.lstat().st_uid != OTHER] == []


def test_configure_never_copies_set_id_bits(tmp_path: Path, fake_aws: FakeAWS) -> None:
    config = write(tmp_path / "docker" / "config.json", "{}\n", 0o644)
    config.chmod(0o6644)
    env = clean_env(tmp_path, fake_aws)
    env["DOCKER_CONFIG"] = str(config.parent)
    proc = Runner.script().run(["configure", "--registry", ECR_HOST], "", env)  # as just above
    assert proc.returncode == 0, proc.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.json"]


def test_the_package_runs_no_program_the_environment_names(
    tmp_path: Path, fake_aws: FakeAWS, their_home: Path, runner: Runner
) -> None:
    """The background refresh of the pip-installed program (the executable's launcher sets
    the variable itself)."""
    if runner.name == "binary":
        pytest.skip("the package's rule: the launcher overwrites the variable")
    marker = their_home / "PWNED"
    program = write(their_home / "evil.sh", f"#!/bin/sh\nid -u > {marker}\n", 0o755)
    others(their_home)
    env = clean_env(tmp_path, fake_aws, runner)
    env["_DOCKER_CREDENTIAL_ECR_LAUNCHER"] = str(program)
    seed(env, requested_ago=7 * 3600, expires_in=5 * 3600)
    assert secret_of(runner.run(["get"], ECR_HOST, env)) == "seeded"
    wait_for_background_refreshes(env, fake_aws, calls=1)  # this program's refresh, not theirs
    assert not marker.exists()
    assert secret_of(runner.run(["get"], ECR_HOST, env)) == fake_aws.issued[0]


def test_the_log_file_follows_no_link_and_is_private(
    runner: Runner, tmp_path: Path, fake_aws: FakeAWS, other_user_dir: Path
) -> None:
    target = write(tmp_path / "roots-file", "root's\n", 0o600)
    link = other_user_dir / "helper.log"
    subprocess.run([*AS_OTHER, "ln", "-s", str(target), str(link)], check=True)
    env = clean_env(tmp_path, fake_aws, runner)
    env["DOCKER_CREDENTIAL_ECR_LOG_FILE"] = str(link)
    env["DOCKER_CREDENTIAL_ECR_LOG_LEVEL"] = "DEBUG"
    proc = runner.run(["get"], ECR_HOST, env)
    assert secret_of(proc) == fake_aws.issued[0]
    assert "warning: cannot open the log file" in proc.stderr
    assert target.read_text() == "root's\n"
    # Nor through a hard link (fs.protected_hardlinks=0 lets anyone make one to root's file).
    hard = tmp_path / "hard.log"
    os.link(target, hard)
    env["DOCKER_CREDENTIAL_ECR_LOG_FILE"] = str(hard)
    proc = runner.run(["get"], ECR_HOST, env)
    assert secret_of(proc) == fake_aws.issued[0]
    assert f"{hard} is not a regular file of uid 0 with one link" in proc.stderr
    assert target.read_text() == "root's\n"
    # A new log is 0600 whatever the umask.
    env["DOCKER_CREDENTIAL_ECR_LOG_FILE"] = str(tmp_path / "new.log")
    proc = runner.run(["get"], ECR_HOST, env, prefix=["sh", "-c", 'umask 0 && exec "$@"', "sh"])
    assert secret_of(proc) == fake_aws.issued[0]
    assert stat.S_IMODE((tmp_path / "new.log").stat().st_mode) == 0o600
    assert "get exited 0" in (tmp_path / "new.log").read_text()


def test_cache_parents_made_by_root_are_never_another_users(
    runner: Runner, tmp_path: Path, fake_aws: FakeAWS, other_user_dir: Path
) -> None:
    """The other user races mkdir/rmdir on the parents root is about to make."""
    env = clean_env(tmp_path, fake_aws, runner)
    env["AWS_ECR_CACHE_DIR"] = str(other_user_dir / "x" / "dce" / "cache")
    prefix = with_var_cache(tmp_path / "var-cache")  # where root goes when x is theirs
    with as_other(RACER, str(other_user_dir / "x"), ready=b"racing\n"):
        for _ in range(20):
            shutil.rmtree(other_user_dir / "x", ignore_errors=True)  # a race each round
            fake_aws.reset()
            proc = runner.run(["get"], ECR_HOST, env, prefix=prefix)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert not roots_in_theirs(other_user_dir / "x")


def roots_in_theirs(top: Path) -> list[Path]:
    """What root made inside a directory of the other user's (it must make nothing there)."""
    found = []
    walked = [Path(d) / n for d, dirs, files in os.walk(top) for n in [*dirs, *files]]
    for path in walked:
        try:
            if path.lstat().st_uid == 0 and path.parent.lstat().st_uid == OTHER:
                found.append(path)
        except FileNotFoundError:
            pass  # the racer removed it meanwhile
    return found


RACER = """
import os, sys
top = sys.argv[1]
print("racing", flush=True)
while True:
    for step in (lambda: os.mkdir(top), lambda: os.mkdir(top + "/dce"),
                 lambda: os.rmdir(top + "/dce"), lambda: os.rmdir(top)):
        try:
            step()
        except OSError:
            pass
"""
