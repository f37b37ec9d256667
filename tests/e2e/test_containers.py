"""podman, buildah and skopeo (the real ones, Debian's) after ``configure --containers``,
in the hermetic world, on a host without Docker's config.json: a ``podman login`` to
another registry has made ``auth.json``; before, the ECR image is refused, after, our
credHelpers there serve it, and the login keeps working."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import Client, install_helper
from e2e.world import (
    ECR_HOST,
    ECR_IMAGE,
    PLAIN_HOST,
    PLAIN_IMAGE,
    PLAIN_PASSWORD,
    PLAIN_USER,
    SYSTEM_PATH,
)
from support.users import AS_OTHER, OTHER

pytestmark = pytest.mark.e2e


def tool(name: str) -> str:
    found = shutil.which(name, path="/usr/bin")
    if found is None:
        pytest.skip(f"no {name} (apt-get install podman buildah skopeo)")
    return found


def containers(client: Client) -> list[str]:
    """podman's (and buildah's) storage options: the test's own, on any file system.

    The run root must be a short path (podman takes at most 50 characters): one in the
    world's private /run, which goes with the world.
    """
    storage = client.tmp / "storage"
    short = hashlib.sha256(str(client.tmp).encode()).hexdigest()[:12]
    return [f"--root={storage}", f"--runroot=/run/podman-{short}", "--storage-driver=vfs"]


def podman_env(client: Client) -> None:
    """Locks in files, not in /dev/shm (which the world shares with the machine); no
    DOCKER_CONFIG, which podman would take as its own auth file."""
    conf = client.tmp / "containers.conf"
    conf.write_text('[engine]\nlock_type = "file"\nevents_logger = "none"\n')
    client.env["CONTAINERS_CONF"] = str(conf)
    del client.env["DOCKER_CONFIG"]


@pytest.fixture
def logged_in(client: Client) -> Iterator[Client]:
    """A client (root) with the auth.json ``podman login`` made in its runtime directory,
    ``/run/containers/0`` (the world's own /run); removed afterwards."""
    podman_env(client)
    login = client.run(
        [tool("podman"), *containers(client), "login", "-u", PLAIN_USER, "--password-stdin",
         PLAIN_HOST], stdin=PLAIN_PASSWORD,
    )  # fmt: skip
    assert login.returncode == 0, login.stdout + login.stderr
    assert PLAIN_HOST in auth_json(client)["auths"]
    yield client
    client.run(["rm", "-f", RUNTIME_AUTH])


RUNTIME_AUTH = "/run/containers/0/auth.json"


def auth_json(client: Client) -> dict[str, dict[str, object]]:
    """The runtime auth.json, read inside the world."""
    shown = client.run(["cat", RUNTIME_AUTH])
    assert shown.returncode == 0, shown.stderr
    found: dict[str, dict[str, object]] = json.loads(shown.stdout)
    return found


def configure_containers(client: Client) -> None:
    helper = str(client.bin / "docker-credential-ecr")
    done = client.run([helper, "configure", "--containers", "--registry", ECR_HOST])
    assert done.returncode == 0, done.stdout + done.stderr


def test_podman_pulls_from_ecr_and_keeps_its_login(logged_in: Client) -> None:
    client = logged_in
    podman = [tool("podman"), *containers(client)]
    before = client.run([*podman, "pull", "--quiet", ECR_IMAGE])  # no Docker config here
    assert before.returncode != 0
    assert "authentication required" in before.stderr or "unauthorized" in before.stderr.lower()
    configure_containers(client)
    pulled = client.run([*podman, "pull", "--quiet", ECR_IMAGE])
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    other = client.run([*podman, "pull", "--quiet", PLAIN_IMAGE])  # the login still serves
    assert other.returncode == 0, other.stdout + other.stderr
    assert client.world.fake is not None
    assert client.world.fake.calls["ecr"] == 1


def test_buildah_from_an_ecr_image(logged_in: Client) -> None:
    client = logged_in
    configure_containers(client)
    made = client.run([tool("buildah"), *containers(client), "from", "--quiet", ECR_IMAGE])
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.strip().endswith("working-container")


def test_skopeo_inspect_reads_the_same_auth_json(logged_in: Client) -> None:
    client = logged_in
    configure_containers(client)
    proc = client.run([tool("skopeo"), "inspect", f"docker://{ECR_IMAGE}"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Name"] == f"{ECR_HOST}/e2e/hello"


def test_unconfigure_leaves_podman_its_login_alone(logged_in: Client) -> None:
    client = logged_in
    configure_containers(client)
    helper = str(client.bin / "docker-credential-ecr")
    assert client.run([helper, "unconfigure", "--containers"]).returncode == 0
    document = auth_json(client)
    assert sorted(document) == ["auths"]
    assert PLAIN_HOST in document["auths"]


def test_podman_falls_back_to_dockers_cred_helpers_where_they_are(logged_in: Client) -> None:
    # What docs/troubleshooting.md says of Debian's podman: Docker's file is read last.
    client = logged_in
    docker = client.home / ".docker"
    docker.mkdir(parents=True, exist_ok=True)
    (docker / "config.json").write_text(json.dumps({"credHelpers": {ECR_HOST: "ecr"}}))
    pulled = client.run([tool("podman"), *containers(client), "pull", "--quiet", ECR_IMAGE])
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr


# ---- a user's own auth.json: skopeo as uid 54321 ----


def as_user(client: Client, home: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment of uid 54321 in the world: its own HOME and
    XDG_RUNTIME_DIR (both 0700, its own), the helper and the CA where it can read them."""
    shared = home.parent
    runtime = shared / "run"
    for own in (home, runtime):
        own.mkdir(mode=0o700)
        os.chown(own, OTHER, OTHER)
    (shared / "bin").mkdir(mode=0o755)
    ca = shutil.copy(client.world.ca, shared / "ca.pem")
    env = {**client.env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
           "PATH": f"{shared / 'bin'}:{SYSTEM_PATH}", "TMPDIR": str(shared),
           "AWS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca)}  # fmt: skip
    del env["DOCKER_CONFIG"]
    return AS_OTHER, env


def test_a_user_configures_the_auth_json_skopeo_reads_for_them(
    client: Client, helper: list[str], other_user_dir: Path
) -> None:
    """For a user (not root), configure --containers edits their runtime auth.json: the
    file stays theirs, 0600, with their login; their skopeo then pulls through our helper."""
    prefix, env = as_user(client, other_user_dir / "home")
    install_helper(helper, other_user_dir / "bin")
    # As skopeo runs it: found on PATH, from another directory than the checkout.
    probe = client.run([*prefix, "sh", "-c", "cd / && exec docker-credential-ecr version"], env=env)
    if probe.returncode != 0:
        pytest.skip(f"uid 54321 cannot run {helper[0]} (a checkout it cannot read)")
    skopeo = [*prefix, tool("skopeo")]
    login = client.run([*skopeo, "login", "-u", PLAIN_USER, "--password-stdin", PLAIN_HOST],
                       stdin=PLAIN_PASSWORD, env=env)  # fmt: skip
    assert login.returncode == 0, login.stdout + login.stderr
    auth = other_user_dir / "run" / "containers" / "auth.json"
    refused = client.run([*skopeo, "inspect", f"docker://{ECR_IMAGE}"], env=env)
    assert refused.returncode != 0  # no credentials for ECR yet
    configure = [*prefix, "docker-credential-ecr", "configure", "--containers",
                 "--registry", ECR_HOST]  # fmt: skip
    done = client.run(configure, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(auth.read_text())
    assert document["credHelpers"] == {ECR_HOST: "ecr"}
    assert PLAIN_HOST in document["auths"]
    info = auth.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (OTHER, OTHER, 0o600)
    pulled = client.run([*skopeo, "inspect", f"docker://{ECR_IMAGE}"], env=env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert json.loads(pulled.stdout)["Name"] == f"{ECR_HOST}/e2e/hello"
    # The token is cached in the user's own cache, not root's.
    assert list((other_user_dir / "home" / ".cache" / "docker-credential-ecr").iterdir())
    undone = client.run([*prefix, "docker-credential-ecr", "unconfigure", "--containers"], env=env)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert sorted(json.loads(auth.read_text())) == ["auths"]


# ---- rootless podman and buildah, as uid 54321 with its own subordinate ids ----

USER = "ecr-user"


class Rootless:
    """uid 54321 as a rootless podman user: a passwd entry, /etc/subuid and /etc/subgid
    ranges (bound over the world's, for its commands only), vfs storage in its home."""

    def __init__(self, client: Client, shared: Path) -> None:
        self.client = client
        self.home = shared / "home"
        self.prefix, self.env = as_user(client, self.home)
        etc = shared / "etc"
        etc.mkdir()
        self.etc = {name: etc / name for name in ("passwd", "group", "subuid", "subgid")}
        account = f"{USER}:x:{OTHER}:{OTHER}::{self.home}:/bin/sh\n"
        self.etc["passwd"].write_text(Path("/etc/passwd").read_text() + account)
        self.etc["group"].write_text(Path("/etc/group").read_text() + f"{USER}:x:{OTHER}:\n")
        for name in ("subuid", "subgid"):
            self.etc[name].write_text(f"{USER}:200000:65536\n")
        (etc / "storage.conf").write_text('[storage]\ndriver = "vfs"\n')
        (etc / "containers.conf").write_text(
            '[engine]\nlock_type = "file"\nevents_logger = "none"\n'
        )
        self.env.update(CONTAINERS_STORAGE_CONF=str(etc / "storage.conf"),
                        CONTAINERS_CONF=str(etc / "containers.conf"), USER=USER,
                        LOGNAME=USER)  # fmt: skip

    def run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command as the user, in the world."""
        return self.client.run([*self.prefix, *argv], stdin=stdin, env=self.env, etc=self.etc)

    def stop(self) -> None:
        """End the pause process rootless podman leaves to hold its user namespace."""
        pause = self.home.parent / "run" / "libpod" / "tmp" / "pause.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pause.read_text()), signal.SIGKILL)


@pytest.fixture
def rootless(client: Client, helper: list[str], other_user_dir: Path) -> Iterator[Rootless]:
    """A rootless podman user in the world, logged in to the plain registry with podman."""
    user = Rootless(client, other_user_dir)
    install_helper(helper, other_user_dir / "bin")
    probe = user.run("sh", "-c", "cd / && exec docker-credential-ecr version")
    if probe.returncode != 0:
        pytest.skip(f"uid 54321 cannot run {helper[0]} (a checkout it cannot read)")
    try:
        login = user.run(tool("podman"), "login", "-u", PLAIN_USER, "--password-stdin",
                         PLAIN_HOST, stdin=PLAIN_PASSWORD)  # fmt: skip
        assert login.returncode == 0, login.stdout + login.stderr
        yield user
    finally:
        user.stop()


def test_rootless_podman_pulls_through_the_users_own_configuration(rootless: Rootless) -> None:
    podman = tool("podman")
    refused = rootless.run(podman, "pull", "--quiet", ECR_IMAGE)
    assert refused.returncode != 0
    done = rootless.run("docker-credential-ecr", "configure", "--containers", "--registry",
                        ECR_HOST)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    pulled = rootless.run(podman, "pull", "--quiet", ECR_IMAGE)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "docker-credential-ecr" not in pulled.stderr  # no directory refused on the way
    other = rootless.run(podman, "pull", "--quiet", PLAIN_IMAGE)
    assert other.returncode == 0, other.stdout + other.stderr
    made = rootless.run(tool("buildah"), "from", "--quiet", ECR_IMAGE)
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.strip().endswith("working-container")
    assert rootless.client.world.fake is not None
    assert rootless.client.world.fake.calls["ecr"] == 1
    assert list((rootless.home / ".cache" / "docker-credential-ecr").iterdir())
