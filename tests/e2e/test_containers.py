"""podman, buildah and skopeo (the real ones, Debian's) after ``configure --containers``,
in the hermetic world, on a host without Docker's config.json: a ``podman login`` to
another registry has made ``auth.json``; before, the ECR image is refused, after, our
credHelpers there serve it, and the login keeps working."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator

import pytest

from e2e.conftest import Client
from e2e.world import ECR_HOST, ECR_IMAGE, PLAIN_HOST, PLAIN_IMAGE, PLAIN_PASSWORD, PLAIN_USER

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
