"""The .deb and .rpm (scripts/package): their metadata, files and scripts, and that they
install, run, upgrade and go away again on real roots.

The .deb is installed with dpkg into a copy of a pristine Debian root (debootstrap, as
scripts/fresh-host caches it) of each architecture built, the .rpm with ``rpm --root``.
A ``systemctl`` that records its arguments stands in for systemd, which no root here
runs, so that what the maintainer scripts ask of systemd can be checked.  These tests
skip when the packages or roots are missing, unless DOCKER_CREDENTIAL_ECR_RELEASE_TESTS
is set (scripts/test-release sets it), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pack import ARCHES, debian_arch
from package import (
    ALERTS,
    BIN,
    CONFFILES,
    CONFIG,
    KUBELET_BIN,
    LONG_RUNNING,
    MANPAGE,
    UNITDIR,
    UNITS,
)

from docker_credential_ecr import __version__
from fakeaws import FakeAWS
from support.hosts import ECR_HOST
from support.paths import ROOT

NAME = "docker-credential-ecr"
DIST = Path(os.environ.get("DOCKER_CREDENTIAL_ECR_DIST", ROOT / "dist"))
ROOTS = Path(os.environ.get("FRESH_HOST_CACHE", "/var/cache/docker-credential-ecr-dev"))
REQUIRED = bool(os.environ.get("DOCKER_CREDENTIAL_ECR_RELEASE_TESTS"))
IN_ROOT = ROOT / "scripts" / "lib" / "in-root"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (dpkg and rpm into roots)"),
    pytest.mark.slow,
]


def missing(what: str) -> None:
    """Skip for lack of ``what``; in a release test run, fail instead."""
    if REQUIRED:
        pytest.fail(f"missing: {what} (scripts/release makes it)")
    pytest.skip(f"missing: {what} (scripts/release makes it)")


def deb_of(arch: str) -> Path:
    path = DIST / f"{NAME}_{__version__}_{arch}.deb"
    if not path.exists():
        missing(str(path))
    return path


def rpm_of(arch: str) -> Path:
    path = DIST / f"{NAME}-{__version__}-1.{ARCHES[arch]}.rpm"
    if not path.exists():
        missing(str(path))
    return path


def output(*cmd: str) -> str:
    return succeeds(list(cmd)).stdout


def succeeds(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; fail the test with its output unless it exits 0."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{cmd[0]}: {proc.stdout}{proc.stderr}"
    return proc


# Both architectures' packages are checked; this machine's is also installed natively.
ARCH_PARAMS = [pytest.param(arch, id=arch) for arch in ARCHES]


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_deb_metadata_depends_on_nothing(arch: str) -> None:
    deb = str(deb_of(arch))
    fields = dict(
        line.split(": ", 1) for line in output("dpkg-deb", "-f", deb).splitlines() if ": " in line
    )
    assert fields["Package"] == NAME
    assert fields["Version"] == __version__
    assert fields["Architecture"] == arch
    assert fields["Homepage"].startswith("https://")
    assert "<" in fields["Maintainer"]
    assert fields["Section"] == "admin"
    for relation in ("Depends", "Pre-Depends", "Recommends"):
        assert relation not in fields
    assert all(
        len(line) <= 80 for line in output("dpkg-deb", "-f", deb, "Description").splitlines()
    )


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_deb_files_modes_and_conffiles(arch: str, tmp_path: Path) -> None:
    deb = str(deb_of(arch))
    listing = {}
    for line in output("dpkg-deb", "-c", deb).splitlines():
        mode, owner, _size, _date, _time, rest = line.split(maxsplit=5)
        path, _, link = rest.partition(" -> ")
        listing[path.removeprefix("./").rstrip("/")] = (mode, owner, link)
    assert {owner for _, owner, _ in listing.values()} == {"root/root"}
    assert listing[BIN][0].startswith("l")
    assert listing[BIN][2] == f"../lib/{NAME}/{NAME}"
    assert listing[KUBELET_BIN][2] == f"../../lib/{NAME}/{NAME}"
    assert listing[f"usr/lib/{NAME}/{NAME}"][0] == "-rwxr-xr-x"
    for path in (*CONFFILES, MANPAGE, ALERTS, *(f"{UNITDIR}/{unit}" for unit in UNITS)):
        assert listing[path][0] == "-rw-r--r--", path
    for path in (f"usr/share/doc/{NAME}/copyright", f"usr/share/doc/{NAME}/changelog.gz"):
        assert path in listing
    # Nothing anyone but root can write (a link's own mode means nothing); nothing setuid.
    writable = [p for p, (mode, _, link) in listing.items() if "w" in mode[5::3] and not link]
    assert not writable
    assert not [p for p, (mode, _, _) in listing.items() if "s" in mode]
    subprocess.run(["dpkg-deb", "-e", deb, str(tmp_path / "control")], check=True)
    conffiles = (tmp_path / "control" / "conffiles").read_text().split()
    assert conffiles == [f"/{c}" for c in CONFFILES]
    carried = [p for p in listing if p.startswith(f"usr/lib/{NAME}/_internal/glibc/ld-linux")]
    assert len(carried) == 1
    assert ARCHES[arch].replace("_", "-") in carried[0]


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_units_run_the_packaged_program(arch: str, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(deb_of(arch)), str(tmp_path)], check=True)
    for unit in UNITS:
        text = (tmp_path / UNITDIR / unit).read_text()
        assert "/usr/local/" not in text
        if unit.endswith(".service"):
            assert f"ExecStart=/{BIN} " in text


# --- installing the .deb in a fresh Debian root --------------------------------------

FAKE_SYSTEMCTL = """#!/bin/sh
# Records what the maintainer scripts ask of systemd (no systemd runs in this root).
echo "$*" >> /var/log/systemctl-calls
"""
# What is left in a root after install and purge that is not the package's: dpkg's own
# records and logs, and this test's stand-in's.
BOOKKEEPING = ("var/lib/dpkg/", "var/log/", "var/cache/ldconfig/")


def pristine(arch: str) -> Path:
    root = ROOTS / f"bookworm-minbase-{arch}"
    if not (root / ".complete").exists():
        missing(
            f"a pristine {arch} Debian root in {ROOTS} (scripts/fresh-host, scripts/build-binary)"
        )
    if arch != debian_arch() and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{ARCHES[arch]}").exists():
        missing(f"qemu-user-static for {arch} (scripts/lib/roots.sh enable_foreign)")
    return root


def fresh_root(arch: str, tmp_path: Path) -> Path:
    """A copy of the pristine root, with the systemctl stand-in and root's ~/.cache."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(pristine(arch)), str(root)], check=True)
    (root / ".complete").unlink()
    systemctl = root / "usr/bin/systemctl"  # where rpm's scriptlet PATH finds it too
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    (root / "root/.cache").mkdir(mode=0o700)  # XDG's, not ours: a host has it already
    return root


def in_root(root: Path, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(IN_ROOT), str(root), "/", command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def files_of(root: Path) -> set[str]:
    """Every path in a root, but for the kernel's and dpkg's own."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(dirpath, root)
        if relative in ("proc", "sys", "dev", "run", "tmp"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.normpath(os.path.join(relative, name))
            if not path.startswith(BOOKKEEPING):
                found.add(path)
    return found


def systemctl_calls(root: Path) -> list[str]:
    log = root / "var/log/systemctl-calls"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def newer_deb(deb: Path, into: Path) -> Path:
    """The same package under a later version: what an upgrade installs."""
    tree = into / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    control.write_text(
        control.read_text().replace(f"Version: {__version__}\n", f"Version: {__version__}+1\n")
    )
    newer = into / "newer.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(newer)],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return newer


def aws_env(fake: FakeAWS) -> str:
    """Test credentials and the local endpoint, as variables on a command line."""
    port = fake.url.rsplit(":", 1)[1]
    return (
        "AWS_ACCESS_KEY_ID=AKIDPACKAGETEST00001 AWS_SECRET_ACCESS_KEY=secret "
        "AWS_EC2_METADATA_DISABLED=true AWS_CA_BUNDLE=/ca.pem "
        f"AWS_ENDPOINT_URL_ECR=https://127.0.0.1:{port}"
    )


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_deb_installs_runs_upgrades_keeping_config_and_purges_clean(
    arch: str, tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    deb = deb_of(arch)
    root = fresh_root(arch, tmp_path)
    docker_config = root / "root/.docker/config.json"
    docker_config.parent.mkdir(parents=True)
    docker_config.write_text('{"auths": {}}\n')
    shutil.copy(tls_files[0], root / "ca.pem")
    shutil.copy(deb, root / "tmp/package.deb")
    before = files_of(root)
    # systemd "runs" while the scripts run: the stand-in gets every call a host would.
    as_booted = "mkdir -p /run/systemd/system && "

    in_root(root, as_booted + "dpkg -i /tmp/package.deb")
    assert systemctl_calls(root) == ["daemon-reload"]  # nothing enabled or started
    assert docker_config.read_text() == '{"auths": {}}\n'
    assert in_root(root, f"{NAME} version").stdout.split()[-1] == __version__

    env = aws_env(fake_aws_tls)
    answer = json.loads(in_root(root, f"echo {ECR_HOST} | {env} {NAME} get").stdout)
    assert answer["Username"] == "AWS"
    assert answer["Secret"] == fake_aws_tls.issued[0]
    request = json.dumps({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": f"{ECR_HOST}/app:1",
    })  # fmt: skip
    kubelet = in_root(root, f"echo '{request}' | {env} /{KUBELET_BIN}")
    assert json.loads(kubelet.stdout)["auth"][ECR_HOST]["password"] == fake_aws_tls.issued[0]
    assert fake_aws_tls.calls["ecr"] == 1  # the kubelet's answer came from the cache
    assert (root / "root/.cache/docker-credential-ecr").is_dir()

    edited = (root / CONFIG).read_text() + '\n[aliases]\n"registry.example" = "' + ECR_HOST + '"\n'
    (root / CONFIG).write_text(edited)
    shutil.copy(newer_deb(deb, tmp_path), root / "tmp/newer.deb")
    in_root(root, as_booted + "dpkg -i /tmp/newer.deb </dev/null")
    assert (root / CONFIG).read_text() == edited
    assert in_root(root, f"dpkg-query -W -f '${{Version}}' {NAME}").stdout == f"{__version__}+1"
    assert systemctl_calls(root) == ["daemon-reload", f"try-restart {LONG_RUNNING}"]

    in_root(root, as_booted + f"dpkg --purge {NAME}")
    units = " ".join(UNITS)
    assert systemctl_calls(root) == [
        f"stop {units}",
        f"disable {units}",
        "daemon-reload",
        "daemon-reload",
    ]
    for path in ("tmp/package.deb", "tmp/newer.deb"):
        (root / path).unlink()
    assert files_of(root) == before
    assert in_root(root, f"dpkg -s {NAME}", check=False).returncode != 0


# --- the .rpm -------------------------------------------------------------------------


def rpm_query(rpm: Path, *args: str) -> list[str]:
    return output("rpm", "-qp", *args, str(rpm)).splitlines()


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_rpm_metadata_requires_and_provides_nothing_else(arch: str) -> None:
    rpm = rpm_of(arch)
    fields = rpm_query(
        rpm, "--qf", "%{NAME}\n%{VERSION}\n%{RELEASE}\n%{ARCH}\n%{LICENSE}\n%{URL}\n"
    )
    assert fields == [NAME, __version__, "1", ARCHES[arch], "Apache-2.0", fields[5]]
    assert fields[5].startswith("https://")
    # Only the scriptlets' shell; the program needs nothing.
    assert {r for r in rpm_query(rpm, "--requires") if not r.startswith("rpmlib(")} == {"/bin/sh"}
    provides = {p.split(" =")[0] for p in rpm_query(rpm, "--provides")}
    isa = {"amd64": "x86-64", "arm64": "aarch-64"}[arch]  # rpm's names for the ISA
    assert provides == {NAME, f"{NAME}({isa})"}
    assert sorted(rpm_query(rpm, "--configfiles")) == sorted(f"/{c}" for c in CONFFILES)


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_rpm_file_modes_and_scripts(arch: str) -> None:
    rpm = rpm_of(arch)
    modes = {}
    for line in rpm_query(rpm, "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES}\n]"):
        mode, owner, path = line.split(" ", 2)
        modes[path] = (mode, owner)
    assert {owner for _, owner in modes.values()} == {"root"}
    assert modes[f"/{BIN}"][0].startswith("l")
    assert modes[f"/usr/lib/{NAME}/{NAME}"][0] == "-rwxr-xr-x"
    assert modes[f"/{CONFIG}"][0] == "-rw-r--r--"
    assert not [p for p, (mode, _) in modes.items() if "w" in mode[5::3] and mode[0] != "l"]
    scripts = "\n".join(rpm_query(rpm, "--scripts"))
    for forbidden in ("systemctl enable", "systemctl start", "config.json", "preset"):
        assert forbidden not in scripts
    assert "postuninstall scriptlet" in scripts
    assert "preuninstall scriptlet" in scripts


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_rpm_installs_into_an_empty_root_and_runs_there(
    arch: str, tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    """No C library, no shell, no Python in the root: only what the package brings."""
    rpm = rpm_of(arch)
    if arch != debian_arch():
        pristine(arch)  # checks that qemu can run it
    root = tmp_path / "root"
    root.mkdir()
    # Without a shell there are no scriptlets to run, and none needs /bin/sh.
    install = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--noscripts", "--nodeps"]
    succeeds([*install, "--ignorearch", "-i", str(rpm)])
    shutil.copy(tls_files[0], root / "ca.pem")
    port = fake_aws_tls.url.rsplit(":", 1)[1]
    (root / "root").mkdir(mode=0o700)
    env = {
        "PATH": "/usr/bin",
        "HOME": "/root",  # the empty root has no password database to find it in
        "AWS_ACCESS_KEY_ID": "AKIDPACKAGETEST00002",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CA_BUNDLE": "/ca.pem",
        "AWS_ENDPOINT_URL_ECR": f"https://127.0.0.1:{port}",
    }
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    for _ in range(2):
        proc = subprocess.run([chroot, str(root), f"/{BIN}", "get"], input=ECR_HOST, env=env,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["Secret"] == fake_aws_tls.issued[0]
    assert fake_aws_tls.calls["ecr"] == 1  # the second from the cache


def test_rpm_scripts_install_and_erase_on_a_real_userland(tmp_path: Path) -> None:
    """rpm -i and -e with the scriptlets run, in a Debian root: erasing removes every file."""
    arch = debian_arch()
    rpm = rpm_of(arch)
    root = fresh_root(arch, tmp_path)
    (root / "usr/share/licenses").mkdir()  # an RPM distribution's filesystem package has it
    before = files_of(root)
    (root / "run/systemd/system").mkdir(parents=True)
    rpm_root = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    # The root's /bin/sh is dpkg's, which rpm's database does not know of.
    succeeds([*rpm_root, "--nodeps", "-i", str(rpm)])
    assert systemctl_calls(root) == ["daemon-reload"]
    for cache in ("var/cache/docker-credential-ecr", "root/.cache/docker-credential-ecr"):
        (root / cache).mkdir(mode=0o700)  # as a get would leave them
    succeeds([*rpm_root, "-e", NAME])
    units = " ".join(UNITS)
    assert systemctl_calls(root) == [f"stop {units}", f"disable {units}", "daemon-reload"]
    shutil.rmtree(root / "var/lib/rpm")
    shutil.rmtree(root / "run/systemd")
    assert files_of(root) == before


# --- the linters cannot pass by accident -----------------------------------------------


def planted(tmp_path: Path, plant: Callable[[Path], None]) -> tuple[Path, Path]:
    """This machine's packages made again from its folder tarball after ``plant`` changed
    the folder's ``_internal``: (deb, rpm)."""
    arch = debian_arch()
    # Only after a release: its tools made these, and the tests compare with them.
    deb_of(arch)
    rpm_of(arch)
    tarball = DIST / f"{NAME}-{__version__}-linux-{arch}.tar.gz"
    if not tarball.exists():
        missing(str(tarball))
    tree = tmp_path / "tree"
    tree.mkdir()
    succeeds(["tar", "-xzf", str(tarball), "-C", str(tree)])
    plant(tree / NAME / "_internal")
    changed = tmp_path / tarball.name
    succeeds(["tar", "-czf", str(changed), "-C", str(tree), NAME])
    made = output(sys.executable, str(ROOT / "packaging" / "package.py"), str(changed), arch,
                  str(tmp_path / "out")).split()  # fmt: skip
    return Path(made[0]), Path(made[1])


def lint(deb: Path, rpm: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / "package"), "--check", str(deb), str(rpm)],
                          capture_output=True, text=True, check=False, timeout=600)  # fmt: skip


def unsigned(rpm: Path, into: Path) -> Path:
    """A copy of ``rpm`` without the release's signature, as scripts/package checks it
    (rpmlint refuses a signature by a key it does not know)."""
    copy = into / "unsigned" / rpm.name  # rpmlint warns of a name that is not its own
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(rpm, copy)
    succeeds(["rpmsign", "--delsign", str(copy)])
    return copy


def a_script_without_an_interpreter(internal: Path) -> None:
    module = internal / "__future__.pyc"
    module.write_text("echo planted\n")
    module.chmod(0o755)


def a_duplicate(internal: Path) -> None:
    shutil.copyfile(internal / "abc.pyc", internal / "__future__.pyc")


def test_a_planted_lintian_warning_fails_packaging(tmp_path: Path) -> None:
    deb, _ = planted(tmp_path, a_script_without_an_interpreter)
    proc = lint(deb, unsigned(rpm_of(debian_arch()), tmp_path))
    assert proc.returncode != 0
    assert "W: docker-credential-ecr: executable-not-elf-or-script" in proc.stderr
    assert f"lintian found problems in {deb}" in proc.stderr


def test_a_planted_rpmlint_warning_fails_packaging(tmp_path: Path) -> None:
    deb, rpm = planted(tmp_path, a_duplicate)
    good = lint(deb, unsigned(rpm_of(debian_arch()), tmp_path))
    assert good.returncode == 0, good.stderr  # lintian has nothing to say of this deb
    proc = lint(deb, rpm)
    assert proc.returncode != 0
    assert "W: files-duplicate /usr/lib/docker-credential-ecr/_internal/abc.pyc" in proc.stderr
    assert " 0 errors, 1 warnings" in proc.stderr
    assert f"rpmlint found problems in {rpm}" in proc.stderr
