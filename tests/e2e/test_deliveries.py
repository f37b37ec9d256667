"""Deliveries consumed by what reads them, in the hermetic world: containerd's own ``ctr``
fetches from the basic-auth ECR registry with the ``hosts.toml`` a ``refresh --deliver``
wrote, and does not without it; a Docker client with no helper pulls with the
``config.json`` a delivery wrote.  The consumers are the real ones: ``ctr`` (containerd
1.6+) and ``docker``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e.conftest import Client
from e2e.world import ECR_HOST, ECR_IMAGE

pytestmark = pytest.mark.e2e


def deliver(client: Client, sections: str) -> None:
    """Configure these delivery sections and run one pass, which must succeed."""
    config = client.tmp / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\nrefresh_before = 600\n' + sections)
    client.env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)
    proc = client.run([str(client.bin / "docker-credential-ecr"), "refresh", "--deliver"])
    assert (proc.returncode, proc.stderr) == (0, ""), proc


def ctr_fetch(client: Client, hosts_dir: Path) -> tuple[int, str]:
    """``ctr images pull`` of the ECR image through ``hosts_dir``, from the world's
    containerd, unpacked by the snapshotter every kernel has."""
    ctr = shutil.which("ctr")
    if ctr is None:
        pytest.skip("no ctr (apt-get install containerd)")
    sock = client.world.root / "docker-exec" / "containerd" / "containerd.sock"
    proc = client.run(
        [ctr, "--address", str(sock), "--namespace", "e2e-deliveries", "images", "pull",
         "--snapshotter", "native", "--hosts-dir", str(hosts_dir), ECR_IMAGE]
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_ctr_fetches_with_the_hosts_toml_a_delivery_wrote(client: Client) -> None:
    certs = client.tmp / "certs.d"
    empty = client.tmp / "empty.d"
    empty.mkdir()
    code, said = ctr_fetch(client, empty)
    assert code != 0
    assert "401" in said or "unauthorized" in said.lower(), said
    deliver(client, f'[deliveries.c]\nformat = "containerd-hosts"\ndirectory = "{certs}"\n')
    code, said = ctr_fetch(client, certs)
    assert code == 0, said
    assert "unpacking" in said, said  # pulled and unpacked, as a user would run it


def test_docker_without_a_helper_pulls_with_the_delivered_config(client: Client) -> None:
    delivered = client.tmp / "delivered"
    delivered.mkdir(mode=0o700)
    deliver(
        client,
        f'[deliveries.d]\nformat = "dockerconfigjson"\nfile = "{delivered}/config.json"\n',
    )
    client.env["DOCKER_CONFIG"] = str(delivered)  # no credHelpers there: the auths alone
    assert sorted(json.loads((delivered / "config.json").read_text())) == ["auths"]
    pulled = client.docker("pull", ECR_IMAGE)
    assert pulled.returncode == 0, pulled.stderr
