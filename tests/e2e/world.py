"""A hermetic world for end-to-end tests: real dockerd, registries and AWS hostnames, offline.

``World(root).start()`` makes a private network and mount namespace (``unshare --mount
--net``) held open by one small process, and inside it:

- loopback up; an ``/etc/hosts`` that maps the ECR/ECR Public/STS API hosts to 127.0.0.10
  and the ECR registry and a plain registry to addresses of their own (see ECR_ADDRESS),
  each server listening on 443;
- ``/opt``, ``/var/lib`` and ``/var/cache`` overlaid with directories of the world's own,
  so what the daemons write there (containerd's ``/opt/containerd``, skopeo's blob cache,
  the helper's root fallback) goes away with it;
- a throw-away CA and one certificate for all those names, trusted through
  ``/etc/docker/certs.d/<host>/ca.crt`` (a private ``/etc/docker``), ``AWS_CA_BUNDLE``
  and ``SSL_CERT_FILE``; a private ``/run`` so no system containerd is found;
- the project's local AWS endpoint (``tests/fakeaws.py``) serving TLS at the real API
  hostnames, in this process but on sockets opened inside the namespace;
- two ``docker-registry`` servers with htpasswd basic auth (user ``AWS`` and the password
  the endpoint puts in its tokens; a plain user for the other), each holding one image
  pushed with ``skopeo copy`` from an OCI layout written here;
- ``dockerd`` with its own data root, exec root, pidfile and socket, and the containerd
  it starts for itself.

Every command a test runs goes in through ``nsenter``.  ``stop()`` ends every process
in the namespace; its mounts go with it.  Run this file to start a world by hand.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakeaws import FakeAWS, make_certificate, make_password

T = TypeVar("T")

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PLAIN_HOST = "registry.e2e.example"
API_HOSTS = (
    f"api.ecr.{REGION}.amazonaws.com",
    f"api.ecr-public.{REGION}.amazonaws.com",
    "sts.amazonaws.com",
    f"sts.{REGION}.amazonaws.com",
)
AWS_ADDRESS = "127.0.0.10"
# dockerd treats registries in 127.0.0.0/8 as insecure: it also tries plain HTTP and reports
# that attempt's error, which a real ECR host never causes.  So the registries get addresses
# from 198.18.0.0/15 (RFC 2544, never routed) on the namespace's own loopback device.
ECR_ADDRESS = "198.18.0.11"
PLAIN_ADDRESS = "198.18.0.12"
PLAIN_USER = "e2e-user"
PLAIN_PASSWORD = "plain-registry-password-e2e"
ECR_IMAGE = f"{ECR_HOST}/e2e/hello:1"
PLAIN_IMAGE = f"{PLAIN_HOST}/team/hello:1"

# Debian's docker.io client, the same release as its dockerd; /usr/local/bin may hold another.
DOCKER = os.environ.get("E2E_DOCKER_CLI", "/usr/bin/docker")
DOCKERD = "/usr/sbin/dockerd"
REQUIRED = ("unshare", "nsenter", "setpriv", "ip", "mount", "openssl", "htpasswd")
REQUIRED_ABS = (DOCKER, DOCKERD, "/usr/bin/docker-registry", "/usr/bin/skopeo")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def missing_requirements() -> str | None:
    """Say why a world cannot be built here, or return None if it can."""
    if sys.platform != "linux":
        return "end-to-end tests need Linux namespaces"
    if os.geteuid() != 0:
        return "end-to-end tests need root (namespaces, mounts, dockerd)"
    missing = [n for n in REQUIRED if shutil.which(n, path=SYSTEM_PATH) is None]
    missing += [p for p in REQUIRED_ABS if not os.access(p, os.X_OK)]
    if missing:
        return "missing " + ", ".join(missing) + " (apt-get install docker.io docker-registry "
        "skopeo apache2-utils openssl iproute2 util-linux)"
    return None


class WorldError(RuntimeError):
    """The world could not be built or a server in it did not come up."""


class World:
    """The namespace, its servers and the way in; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = root / "tls" / "ca.crt"
        self.socket = root / "docker.sock"
        self.ecr_password = make_password(time.time() + 24 * 3600)
        self.fake: FakeAWS | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._netns: int | None = None
        self._daemons: dict[str, subprocess.Popen[bytes]] = {}

    # -- building ---------------------------------------------------------------------

    def start(self) -> World:
        """Build everything; on any failure, tear down what was built and raise."""
        try:
            self._files()
            self._enter()
            self._serve_aws()
            self._registry("ecr-registry", ECR_ADDRESS, "AWS", self.ecr_password)
            self._registry("plain-registry", PLAIN_ADDRESS, PLAIN_USER, PLAIN_PASSWORD)
            self._dockerd()
            self._push(ECR_IMAGE, f"AWS:{self.ecr_password}", "hello from ECR\n")
            self._push(PLAIN_IMAGE, f"{PLAIN_USER}:{PLAIN_PASSWORD}", "hello from a registry\n")
        except BaseException:
            self.stop()
            raise
        return self

    def _files(self) -> None:
        tls = self.root / "tls"
        tls.mkdir(parents=True)
        names = [ECR_HOST, PLAIN_HOST, *API_HOSTS]
        make_certificate(tls, names)
        hosts = ["127.0.0.1 localhost", "::1 localhost"]
        hosts.append(f"{AWS_ADDRESS} {' '.join(API_HOSTS)}")
        hosts.append(f"{ECR_ADDRESS} {ECR_HOST}")
        hosts.append(f"{PLAIN_ADDRESS} {PLAIN_HOST}")
        (self.root / "hosts").write_text("\n".join(hosts) + "\n")
        for host in (ECR_HOST, PLAIN_HOST):
            certs = self.root / "etc-docker" / "certs.d" / host
            certs.mkdir(parents=True)
            shutil.copy(self.ca, certs / "ca.crt")
        (self.root / "run").mkdir(mode=0o755)
        (self.root / "daemon.json").write_text("{}\n")
        (self.root / "policy.json").write_text(
            json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
        )

    def _enter(self) -> None:
        """Start the process that holds the namespaces, and mount the private files."""
        script = (
            "set -e; ip link set lo up; "
            f"ip addr add {ECR_ADDRESS}/32 dev lo; ip addr add {PLAIN_ADDRESS}/32 dev lo; "
            'mount --bind "$1/hosts" /etc/hosts; '
            'mount --bind "$1/etc-docker" /etc/docker; '
            'mount --bind "$1/run" /run; '
            # What the daemons write outside their own directories (containerd's /opt/containerd,
            # skopeo's /var/lib/containers, the helper's root fallback in /var/cache) lands in
            # the world's directory instead.
            "for d in /opt /var/lib /var/cache; do "
            'mkdir -p "$1/overlay$d/upper" "$1/overlay$d/work"; '
            'mount -t overlay overlay -o "lowerdir=$d,upperdir=$1/overlay$d/upper,'
            'workdir=$1/overlay$d/work" "$d"; done; '
            "echo ready; exec cat >/dev/null"
        )
        self._holder = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--net",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
                "world",
                str(self.root),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": SYSTEM_PATH},
        )
        assert self._holder.stdout is not None
        line = self._holder.stdout.readline()
        if line != b"ready\n":
            self._holder.wait(10)
            assert self._holder.stderr is not None
            raise WorldError(f"cannot make the namespace: {self._holder.stderr.read().decode()}")
        self._netns = os.open(f"/proc/{self._holder.pid}/ns/net", os.O_RDONLY)

    def _serve_aws(self) -> None:
        tls = (str(self.root / "tls" / "server.crt"), str(self.root / "tls" / "server.key"))
        fake = self.in_netns(lambda: FakeAWS(tls=tls, address=(AWS_ADDRESS, 443)))
        fake.password_for[ACCOUNT] = self.ecr_password
        self.fake = fake.start()
        self._wait_tls(AWS_ADDRESS, API_HOSTS[0], "the local AWS endpoint")

    def _registry(self, name: str, address: str, user: str, password: str) -> None:
        directory = self.root / name
        directory.mkdir()
        subprocess.run(
            ["htpasswd", "-iBc", str(directory / "htpasswd"), user],
            input=password.encode(),
            check=True,
            capture_output=True,
            env={"PATH": SYSTEM_PATH},
        )
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(directory / "data")}},
            "http": {
                "addr": f"{address}:443",
                "secret": "e2e-only",
                "tls": {
                    "certificate": str(self.root / "tls" / "server.crt"),
                    "key": str(self.root / "tls" / "server.key"),
                },
            },
            "auth": {"htpasswd": {"realm": f"{name}-realm", "path": str(directory / "htpasswd")}},
        }
        (directory / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
        self._daemon(name, ["/usr/bin/docker-registry", "serve", str(directory / "config.yml")])
        self._wait_tls(address, ECR_HOST if address == ECR_ADDRESS else PLAIN_HOST, name)

    def _dockerd(self) -> None:
        self._daemon(
            "dockerd",
            [
                DOCKERD,
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
                f"--data-root={self.root / 'docker-data'}",
                f"--exec-root={self.root / 'docker-exec'}",
                f"--pidfile={self.root / 'docker.pid'}",
                f"--config-file={self.root / 'daemon.json'}",
                f"--host=unix://{self.socket}",
            ],
            env={"SSL_CERT_FILE": str(self.ca)},
        )
        self._poll(self._docker_pings, "dockerd", 60)

    def _push(self, image: str, creds: str, text: str) -> None:
        layout = self.root / "oci" / image.replace("/", "_").replace(":", "_")
        write_oci_layout(layout, "latest", text)
        proc = self.run(
            [
                "/usr/bin/skopeo",
                "--policy",
                str(self.root / "policy.json"),
                "copy",
                "--quiet",
                "--format=v2s2",
                "--dest-creds",
                creds,
                f"oci:{layout}:latest",
                f"docker://{image}",
            ],
            env={"PATH": SYSTEM_PATH, "HOME": str(self.root), "TMPDIR": str(self.root)},
            timeout=120,
        )
        if proc.returncode != 0:
            raise WorldError(f"cannot push {image}: {proc.stdout}{proc.stderr}")

    # -- running things inside ----------------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        """Return ``argv`` prefixed to run inside the namespaces."""
        assert self._holder is not None
        nsenter = shutil.which("nsenter", path=SYSTEM_PATH) or "nsenter"
        return [nsenter, f"--target={self._holder.pid}", "--mount", "--net", "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        stdin: str | None = None,
        timeout: float = 90,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespaces and return what it printed."""
        return subprocess.run(
            self.command(argv),
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def in_netns(self, call: Callable[[], T]) -> T:
        """Run ``call`` in a thread that has joined the namespace's network.

        Sockets it opens stay in that network, so servers made this way serve
        the namespace from this process.
        """
        assert self._netns is not None
        netns = self._netns
        outcome: list[T | BaseException] = []

        def run() -> None:
            try:
                if _libc.setns(netns, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET) failed")
                outcome.append(call())
            except BaseException as exc:  # handed to the calling thread as is
                outcome.append(exc)

        thread = threading.Thread(target=run, name="in-netns")
        thread.start()
        thread.join()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    # -- helpers ----------------------------------------------------------------------

    def _daemon(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("wb")
        # --pdeathsig: if this process dies without its teardown, the daemon ends too.
        self._daemons[name] = subprocess.Popen(
            self.command(["setpriv", "--pdeathsig=TERM", "--", *argv]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": SYSTEM_PATH, **(env or {})},
        )
        log.close()

    def log(self, name: str) -> str:
        """The last lines a daemon wrote, for failure messages."""
        path = self.root / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-20:]) if path.exists() else ""
        )

    def _poll(self, ready: Callable[[], bool], name: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            proc = self._daemons.get(name)
            if proc is not None and proc.poll() is not None:
                raise WorldError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise WorldError(f"{name} not ready after {seconds}s:\n{self.log(name)}")
            time.sleep(0.05)

    def _wait_tls(self, address: str, server_name: str, name: str) -> None:
        context = ssl.create_default_context(cafile=str(self.ca))

        def handshake() -> bool:
            try:
                with (
                    socket.create_connection((address, 443), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname=server_name),
                ):
                    return True
            except OSError:
                return False

        self._poll(lambda: self.in_netns(handshake), name, 30)

    def _docker_pings(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                status = s.recv(4096).split(b"\r\n", 1)[0].split()
                return status[1:2] == [b"200"]
        except OSError:
            return False

    def processes(self) -> list[int]:
        """Every process in the namespace's network but its holder (and this one)."""
        if self._netns is None:
            return []
        ns = os.fstat(self._netns)
        spared = {os.getpid(), self._holder.pid if self._holder else 0}
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in spared:
                continue
            try:
                st = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue  # ended meanwhile
            if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
                found.append(int(entry))
        return found

    # -- teardown ---------------------------------------------------------------------

    def stop(self) -> None:
        """End every process in the namespace, then the namespace (and its mounts)."""
        try:
            # dockerd first: it stops the containerd it started.
            for name in sorted(self._daemons, key=lambda n: n != "dockerd"):
                _terminate(self._daemons[name])
            self._daemons.clear()
            if self.fake is not None:
                self.fake.stop()
                self.fake = None
            self._sweep()
        finally:
            if self._holder is not None:
                if self._holder.stdin is not None:
                    self._holder.stdin.close()  # its `cat` ends, and the namespace with it
                _terminate(self._holder)
                for stream in (self._holder.stdout, self._holder.stderr):
                    if stream is not None:
                        stream.close()
                self._holder = None
            if self._netns is not None:
                os.close(self._netns)
                self._netns = None

    def _sweep(self) -> None:
        """Kill, by pid, anything left in the namespace (e.g. an orphaned containerd)."""
        deadline = time.monotonic() + 10
        while left := self.processes():
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise WorldError(f"processes left in the test namespace: {left}")
            time.sleep(0.05)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, and SIGKILL only if it does not end."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def write_oci_layout(directory: Path, tag: str, text: str) -> str:
    """Write a one-layer image (one file, ``/hello.txt``) as an OCI layout; return its digest."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    content = text.encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    layer = raw.getvalue()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **blob(json.dumps(config).encode()),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                **blob(gzip.compress(layer, mtime=0)),
            }
        ],
    }
    described = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **described,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(described["digest"])


def main() -> int:
    """Start a world in a fresh directory and keep it up until Enter is pressed."""
    import tempfile

    reason = missing_requirements()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="e2e-world-"))
    world = World(root).start()
    print(
        f"world in {root}\nenter it: {' '.join(world.command(['bash']))}\n"
        f"  with DOCKER_HOST=unix://{world.socket} SSL_CERT_FILE={world.ca} "
        f"AWS_CA_BUNDLE={world.ca} and any AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n"
        f"ECR image {ECR_IMAGE}, plain image {PLAIN_IMAGE} "
        f"({PLAIN_USER}/{PLAIN_PASSWORD})\npress Enter to stop"
    )
    try:
        sys.stdin.readline()
    finally:
        world.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
