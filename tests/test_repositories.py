"""Signed repositories (scripts/lib/repos, as scripts/release makes them) on real hosts.

A fresh Debian root adds an APT repository with ``signed-by=`` (no ``trusted=yes``),
installs, edits its configuration, and upgrades from the next repository to a build of
this commit with the version bumped: the edited file is kept, the new program answers,
the token cached before is still served, and a ``get`` waiting on AWS while the upgrade
runs finishes.  The same with ``rpm -U`` and with ``dnf --installroot`` through the RPM
repository (``gpgcheck=1``, ``repo_gpgcheck=1``).  A repository signed by another key,
or one whose index was changed after signing, is refused by apt.  The release's own
repositories are installed from with the key it ships.

The keys are throw-away ones made here.  These tests skip when the packages or roots
are missing, unless DOCKER_CREDENTIAL_ECR_RELEASE_TESTS is set (scripts/test-release).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pack import ARCHES, debian_arch
from package import CONFIG, DEFAULTS

from docker_credential_ecr import __version__
from fakeaws import FakeAWS
from support.hosts import ECR_HOST
from support.paths import ROOT
from test_packages import (
    DIST,
    NAME,
    aws_env,
    deb_of,
    fresh_root,
    in_root,
    missing,
    rpm_of,
    succeeds,
)

REPOS = ROOT / "scripts" / "lib" / "repos"
KEYRING = f"/usr/share/keyrings/{NAME}-archive-keyring.gpg"
SECOND_HOST = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
# The newer release changes both packaged configuration files, so that an upgrade over
# a host's edits meets what dpkg and rpm do then: keep the host's, set the new one beside.
NEWER_LINE = "# a line the newer release added\n"
NEWER = __version__.rsplit(".", 1)[0] + "." + str(int(__version__.rsplit(".", 1)[1]) + 1)
HERE = debian_arch()

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (dpkg, apt and rpm into roots)"),
    pytest.mark.slow,
    # One worker builds the newer release once (scripts/test-release: --dist loadgroup).
    pytest.mark.xdist_group("repositories"),
]


@dataclass(frozen=True)
class Key:
    """A throw-away signing key: its gpg home, fingerprint and public key files."""

    home: Path
    fingerprint: str
    public: Path  # .asc (armored) and .gpg (a keyring) beside it


def repos(*args: str | Path) -> str:
    """Run scripts/lib/repos; its standard output."""
    if shutil.which("reprepro") is None or shutil.which("createrepo_c") is None:
        missing("reprepro and createrepo-c (scripts/release installs them)")
    return succeeds([str(REPOS), *map(str, args)]).stdout.strip()


def make_key(directory: Path) -> Key:
    """A new throw-away key in ``directory``."""
    home = directory / "gnupg"
    fingerprint = repos("throwaway-key", home)
    repos("public", home, fingerprint, directory / "key")
    return Key(home, fingerprint, directory / "key")


def stop_agents(under: Path) -> None:
    """End the gpg-agents that gpg (and dnf's gpgme) started for the homes under ``under``
    (their sockets may be in /run/user, so the homes are found by their keyrings)."""
    for keyring in under.rglob("pubring.kbx"):
        subprocess.run(["gpgconf", "--homedir", str(keyring.parent), "--kill", "gpg-agent"],
                       capture_output=True, check=False)  # fmt: skip


@pytest.fixture(autouse=True)
def _agents_stop(tmp_path: Path) -> Iterator[None]:
    yield
    stop_agents(tmp_path)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Key]:
    made = make_key(tmp_path_factory.mktemp("key"))
    yield made
    stop_agents(made.home)


@pytest.fixture(scope="module")
def newer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This commit built and packaged again with the version bumped, for this machine."""
    for package in (deb_of(HERE), rpm_of(HERE)):
        assert package.exists()
    work = tmp_path_factory.mktemp("newer")
    src = work / "src"
    src.mkdir()
    files = succeeds(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                      "--exclude-standard"]).stdout  # fmt: skip
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    init = src / "helper" / "docker_credential_ecr" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{__version__}"', f'"{NEWER}"'))
    for packaged in ("config.toml", "default"):
        with (src / "packaging" / "package" / packaged).open("a") as file:
            file.write(NEWER_LINE)
    # PyInstaller's cache and the new executable's unpacked runtime go under the test's
    # directory, not this user's ~/.cache.
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    built = subprocess.run([str(src / "scripts" / "build-binary")], cwd=src, env=env,
                           capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    tarball = src / "dist" / f"{NAME}-{NEWER}-linux-{HERE}.tar.gz"
    out = work / "dist"
    succeeds([str(src / ".venv-build" / "bin" / "python"), str(src / "packaging" / "package.py"),
              str(tarball), HERE, str(out)])  # fmt: skip
    return out


# ---- an APT host ----------------------------------------------------------------------


def apt_repository(key: Key, out: Path, *debs: Path) -> Path:
    """An APT repository of ``debs`` signed by ``key``."""
    repos("apt", key.home, key.fingerprint, out, *debs)
    return out


def publish(repository: Path, root: Path) -> None:
    """Put ``repository`` where the root's sources find it, as a web server would serve it."""
    served = root / "srv" / "repo"
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(repository, served)
    for directory, _, names in os.walk(served):
        os.chmod(directory, 0o755)  # noqa: S103  # apt reads it as its _apt user
        for name in names:
            os.chmod(os.path.join(directory, name), 0o644)


def apt_host(root: Path, keyring: Path) -> None:
    """The root's APT sources: our repository alone, checked against ``keyring``."""
    (root / "etc/apt/sources.list").unlink(missing_ok=True)  # the mirror: no network here
    shutil.copy(keyring, root / KEYRING.lstrip("/"))
    (root / "etc/apt/sources.list.d" / f"{NAME}.sources").write_text(
        f"Types: deb\nURIs: file:/srv/repo\nSuites: stable\nComponents: main\n"
        f"Signed-By: {KEYRING}\n"
    )


KEEP_EDITS = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"


def apt(root: Path, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """apt-get in the root, non-interactive, with systemd "running" for the scripts."""
    env = "DEBIAN_FRONTEND=noninteractive"
    return in_root(root, f"mkdir -p /run/systemd/system && {env} apt-get -q {command}", check)


@contextlib.contextmanager
def held_get(root: Path, fake: FakeAWS) -> Iterator[subprocess.Popen[str]]:
    """A ``get`` of another registry, held inside its ECR call until the block ends."""
    arrived, release = threading.Event(), threading.Event()

    def hold(record: dict[str, Any]) -> None:
        if record["api"] == "ecr":
            arrived.set()
            release.wait(300)

    fake.on_request = hold
    command = f"echo {SECOND_HOST} | {aws_env(fake)} {NAME} get"
    proc = subprocess.Popen([str(ROOT / "scripts/lib/in-root"), str(root), "/", command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert arrived.wait(300), "the get never reached AWS"
        yield proc
    finally:
        release.set()
        fake.on_request = None
        if proc.poll() is None:
            proc.wait(300)


def a_host(tmp_path: Path, tls_files: tuple[str, str, str], key: Key) -> Path:
    root = fresh_root(HERE, tmp_path)
    shutil.copy(tls_files[0], root / "ca.pem")
    apt_host(root, key.public.with_suffix(".gpg"))
    return root


def edit_configuration(root: Path) -> dict[str, str]:
    """Edit both configuration files as an operator would; what each now holds."""
    config = (root / CONFIG).read_text() + '\n[aliases]\n"registry.example" = "' + ECR_HOST + '"\n'
    (root / CONFIG).write_text(config)
    defaults = (root / DEFAULTS).read_text() + "DOCKER_CREDENTIAL_ECR_LOG_LEVEL=debug\n"
    (root / DEFAULTS).write_text(defaults)
    return {CONFIG: config, DEFAULTS: defaults}


def assert_kept(root: Path, edited: dict[str, str], beside: str) -> None:
    """Each edited file kept; the newer packaged one written beside it as ``beside``."""
    for path, text in edited.items():
        assert (root / path).read_text() == text
        assert (root / f"{path}{beside}").read_text().endswith(NEWER_LINE)


def get(root: Path, fake: FakeAWS, host: str = ECR_HOST) -> str:
    """The secret a ``get`` in the root answers."""
    answer = in_root(root, f"echo {host} | {aws_env(fake)} {NAME} get").stdout
    secret: str = json.loads(answer)["Secret"]
    return secret


def test_apt_installs_and_upgrades_from_signed_repositories(
    tmp_path: Path, key: Key, newer: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    root = a_host(tmp_path, tls_files, key)
    publish(apt_repository(key, tmp_path / "first", deb_of(HERE)), root)
    apt(root, "update")
    apt(root, f"install -y {NAME}")
    assert in_root(root, f"{NAME} version").stdout.split()[-1] == __version__
    first = get(root, fake_aws_tls)
    edited = edit_configuration(root)

    publish(apt_repository(key, tmp_path / "second", *newer.glob("*.deb")), root)
    apt(root, "update")
    with held_get(root, fake_aws_tls) as running:
        # What fleets run unattended: keep the host's edits, never ask (docs/operations.md).
        apt(root, f"upgrade -y {KEEP_EDITS} </dev/null")
    out, err = running.communicate(timeout=300)
    assert running.returncode == 0, err
    assert json.loads(out)["Secret"] == fake_aws_tls.issued[-1]

    assert_kept(root, edited, ".dpkg-dist")
    assert in_root(root, f"{NAME} version").stdout.split()[-1] == NEWER
    assert get(root, fake_aws_tls) == first  # cached before the upgrade, served after
    assert fake_aws_tls.calls["ecr"] == 2  # the first get and the held one


def test_apt_refuses_a_repository_signed_by_another_key(
    tmp_path: Path, key: Key, tls_files: tuple[str, str, str]
) -> None:
    root = a_host(tmp_path, tls_files, key)
    other = make_key(tmp_path / "other")
    publish(apt_repository(other, tmp_path / "repo", deb_of(HERE)), root)
    update = apt(root, "update", check=False)
    assert "NO_PUBKEY" in update.stdout + update.stderr or "not signed" in update.stderr
    installed = apt(root, f"install -y {NAME}", check=False)
    assert installed.returncode != 0
    assert not (root / "usr/bin" / NAME).exists()


def test_apt_refuses_an_index_changed_after_signing(
    tmp_path: Path, key: Key, newer: Path, tls_files: tuple[str, str, str]
) -> None:
    """The attack: the pool's package swapped, its index entry rewritten to match."""
    root = a_host(tmp_path, tls_files, key)
    repository = apt_repository(key, tmp_path / "repo", deb_of(HERE))
    index = repository / f"dists/stable/main/binary-{HERE}/Packages"
    deb = next((repository / "pool").rglob("*.deb"))
    swapped = next(newer.glob("*.deb")).read_bytes()
    text = index.read_text()
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    for field, old, new in (
        ("SHA256", digest, hashlib.sha256(swapped).hexdigest()),
        ("Size", str(deb.stat().st_size), str(len(swapped))),
    ):
        assert f"{field}: {old}\n" in text
        text = text.replace(f"{field}: {old}\n", f"{field}: {new}\n")
    index.write_text(text)
    index.with_suffix(".gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    deb.write_bytes(swapped)
    publish(repository, root)
    update = apt(root, "update", check=False)
    assert update.returncode != 0
    assert "Hash Sum mismatch" in update.stderr or "unexpected size" in update.stderr
    assert apt(root, f"install -y {NAME}", check=False).returncode != 0
    assert not (root / "usr/bin" / NAME).exists()


def test_the_release_repository_installs_with_the_key_it_ships(
    tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    keyring = DIST / f"{NAME}-archive-keyring.gpg"
    if not (DIST / "apt").is_dir() or not keyring.exists():
        missing(f"{DIST}/apt and {keyring}")
    root = fresh_root(HERE, tmp_path)
    shutil.copy(tls_files[0], root / "ca.pem")
    apt_host(root, keyring)
    publish(DIST / "apt", root)
    apt(root, "update")
    apt(root, f"install -y {NAME}")
    assert get(root, fake_aws_tls) == fake_aws_tls.issued[0]
    signed = succeeds(["gpgv", "--keyring", str(keyring), str(DIST / "SHA256SUMS.asc"),
                       str(DIST / "SHA256SUMS")])  # fmt: skip
    assert "Good signature" in signed.stderr


def test_the_release_lists_checksums_and_signs_everything_it_ships() -> None:
    keyring = DIST / f"{NAME}-archive-keyring.gpg"
    release = DIST / "RELEASE.md"
    if not release.exists() or not keyring.exists():
        missing(f"{release} and {keyring}")
    notes = release.read_text()
    sums: dict[str, str] = {}
    for line in (DIST / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    shipped = sorted(p.name for p in DIST.iterdir() if p.name.startswith(
        (f"{NAME}-{__version__}", f"{NAME}_{__version__}")))  # fmt: skip
    assert sorted(sums) == shipped
    for name, digest in sums.items():
        assert f"`{name}`" in notes
        assert hashlib.sha256((DIST / name).read_bytes()).hexdigest() == digest, name
    for named in ("SHA256SUMS.asc", f"{NAME}-archive-keyring.asc", "`apt/`", "`rpm/x86_64/`"):
        assert named in notes
    for arch, rpm_arch in ARCHES.items():
        info = (DIST / f"{NAME}-{__version__}-linux-{arch}.buildinfo").read_text()
        assert "\nsource-date-epoch: " in info
        assert "\npacked-with: dpkg " in info
        assert "\npacked-with: rpm " in info
        packages = DIST / "apt" / f"dists/stable/main/binary-{arch}/Packages"
        assert (
            f"Filename: pool/main/d/{NAME}/{NAME}_{__version__}_{arch}.deb" in packages.read_text()
        )
        repodata = DIST / "rpm" / rpm_arch / "repodata"
        signed = succeeds(["gpgv", "--keyring", str(keyring), str(repodata / "repomd.xml.asc"),
                           str(repodata / "repomd.xml")])  # fmt: skip
        assert "Good signature" in signed.stderr
        assert (DIST / "rpm" / rpm_arch / f"{NAME}-{__version__}-1.{rpm_arch}.rpm").exists()


# ---- RPM hosts ------------------------------------------------------------------------


def rpm_repository(key: Key, out: Path, rpm: Path) -> Path:
    """An RPM repository of a signed copy of ``rpm``; the directory of its architecture."""
    copy = out.parent / f"{out.name}-{rpm.name}"
    shutil.copy(rpm, copy)
    repos("rpm", key.home, key.fingerprint, out, copy)
    return out / ARCHES[HERE]


def test_rpm_upgrade_keeps_the_configuration_and_the_token(
    tmp_path: Path, key: Key, newer: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    root = fresh_root(HERE, tmp_path)
    shutil.copy(tls_files[0], root / "ca.pem")
    (root / "run/systemd/system").mkdir(parents=True)
    rpm_root = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    succeeds([*rpm_root, "--import", str(key.public.with_suffix(".asc"))])
    first = next(rpm_repository(key, tmp_path / "first", rpm_of(HERE)).glob("*.rpm"))
    second = next(rpm_repository(key, tmp_path / "second", next(newer.glob("*.rpm"))).glob("*.rpm"))
    for package in (first, second):
        checked = succeeds([*rpm_root, "--checksig", str(package)]).stdout
        assert "signatures OK" in checked
    # The root's /bin/sh is dpkg's, which rpm's database does not know of.
    succeeds([*rpm_root, "--nodeps", "-i", str(first)])
    cached = get(root, fake_aws_tls)
    edited = edit_configuration(root)
    with held_get(root, fake_aws_tls) as running:
        succeeds([*rpm_root, "--nodeps", "-U", str(second)])
    out, err = running.communicate(timeout=300)
    assert running.returncode == 0, err
    assert json.loads(out)["Secret"] == fake_aws_tls.issued[-1]
    assert_kept(root, edited, ".rpmnew")
    assert in_root(root, f"{NAME} version").stdout.split()[-1] == NEWER
    assert get(root, fake_aws_tls) == cached


def test_rpm_refuses_a_package_signed_by_another_key(tmp_path: Path, key: Key) -> None:
    root = tmp_path / "root"
    rpm_root = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    (root / "var/lib/rpm").mkdir(parents=True)
    succeeds([*rpm_root, "--initdb"])
    succeeds([*rpm_root, "--import", str(key.public.with_suffix(".asc"))])
    other = make_key(tmp_path / "other")
    package = next(rpm_repository(other, tmp_path / "repo", rpm_of(HERE)).glob("*.rpm"))
    checked = subprocess.run([*rpm_root, "--checksig", str(package)], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode != 0
    assert "SIGNATURES NOT OK" in checked.stdout


SH_STUB_SPEC = """Name: sh-stub
Version: 1
Release: 1
Summary: The Debian root's /bin/sh, made known to rpm's database
License: MIT
BuildArch: noarch
Provides: /bin/sh
%description
Stands for the root's dpkg-installed shell.
%files
"""


def dnf_config(root: Path, repository: Path, key: Key) -> Path:
    """A dnf.conf with our repository alone, signatures of packages and metadata checked."""
    config = root.parent / "dnf.conf"
    config.write_text(
        "[main]\ngpgcheck=1\nrepo_gpgcheck=1\ninstall_weak_deps=0\nreposdir=/nonexistent\n"
        f"cachedir={root.parent / 'dnf-cache'}\n\n[{NAME}]\nname={NAME}\n"
        f"baseurl=file://{repository}\ngpgkey=file://{key.public.with_suffix('.asc')}\n"
    )
    return config


def test_dnf_installs_and_upgrades_through_the_signed_repository(
    tmp_path: Path, key: Key, newer: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    if shutil.which("dnf") is None:
        missing("dnf (scripts/release installs it)")
    root = fresh_root(HERE, tmp_path)
    shutil.copy(tls_files[0], root / "ca.pem")
    (root / "run/systemd/system").mkdir(parents=True)
    (tmp_path / "stub.spec").write_text(SH_STUB_SPEC)
    succeeds(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {tmp_path / 'rpmbuild'}",
              str(tmp_path / "stub.spec")])  # fmt: skip
    stub = next((tmp_path / "rpmbuild").rglob("sh-stub-*.rpm"))
    succeeds(["rpm", "--root", str(root), "--justdb", "--nodeps", "-i", str(stub)])
    repository = rpm_repository(key, tmp_path / "repo", rpm_of(HERE))
    dnf = ["dnf", "-y", "-q", "--config", str(dnf_config(root, repository, key)),
           "--installroot", str(root), "--releasever", "1"]  # fmt: skip
    succeeds([*dnf, "install", NAME])
    cached = get(root, fake_aws_tls)
    edited = edit_configuration(root)
    second = next(newer.glob("*.rpm"))
    shutil.rmtree(repository.parent)
    rpm_repository(key, tmp_path / "repo", second)
    succeeds([*dnf, "--refresh", "upgrade", NAME])
    assert_kept(root, edited, ".rpmnew")
    assert in_root(root, f"{NAME} version").stdout.split()[-1] == NEWER
    assert get(root, fake_aws_tls) == cached
    # A changed repomd.xml no longer matches its signature: dnf refuses the repository.
    repomd = repository / "repodata" / "repomd.xml"
    repomd.write_text(repomd.read_text().replace("<revision>", "<revision>1"))
    refused = subprocess.run([*dnf, "--refresh", "makecache"], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert refused.returncode != 0, refused.stdout
