"""podman, buildah and skopeo (the real ones, Debian's) after ``configure --containers``,
in the hermetic world: a ``podman login`` to another registry has made ``auth.json``, and
our credHelpers there serve the ECR registry while the login keeps working."""

from __future__ import annotations

import json
import shutil

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
    """podman's (and buildah's) storage options: the test's own, on any file system."""
    storage = client.tmp / "storage"
    return [f"--root={storage}/root", f"--runroot={storage}/run", "--storage-driver=vfs"]


@pytest.fixture
def logged_in(client: Client) -> Client:
    """A client whose runtime directory holds the auth.json ``podman login`` made."""
    runtime = client.tmp / "run"
    runtime.mkdir(mode=0o700)
    client.env["XDG_RUNTIME_DIR"] = str(runtime)
    login = client.run(
        [tool("podman"), *containers(client), "login", "-u", PLAIN_USER, "--password-stdin",
         PLAIN_HOST], stdin=PLAIN_PASSWORD,
    )  # fmt: skip
    assert login.returncode == 0, login.stdout + login.stderr
    assert PLAIN_HOST in json.loads((runtime / "containers" / "auth.json").read_text())["auths"]
    return client


def configure_containers(client: Client) -> None:
    helper = str(client.bin / "docker-credential-ecr")
    done = client.run([helper, "configure", "--containers", "--registry", ECR_HOST])
    assert done.returncode == 0, done.stdout + done.stderr


def test_podman_pulls_from_ecr_and_keeps_its_login(logged_in: Client) -> None:
    client = logged_in
    podman = [tool("podman"), *containers(client)]
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
    document = json.loads((client.tmp / "run" / "containers" / "auth.json").read_text())
    assert sorted(document) == ["auths"]
    assert PLAIN_HOST in document["auths"]
