"""Make the .deb and the .rpm from a built folder tarball.

Usage: python packaging/package.py TARBALL ARCH OUTDIR     (ARCH: amd64 or arm64)

The packages' time (their files' times, the changelog's and the manual page's dates, the
.rpm's build time) is $SOURCE_DATE_EPOCH, which scripts/package sets to the commit's, so
that two builds of one commit give the same bytes; a fixed time without it.

Both packages hold the same files, laid out once by ``stage``: the folder form in
/usr/lib/docker-credential-ecr, /usr/bin/docker-credential-ecr and the kubelet's name
/usr/libexec/docker-credential-ecr/ecr-credential-provider linked to it, the systemd
units, a commented configuration file and environment file (configuration files: an
edited one is kept), the manual page, the README and the licence.  The program carries
its own C library and Python, so neither package depends on anything.  The maintainer
scripts of both are written here from one set of shell snippets, so they do the same:
installing changes nothing outside the package's files (no Docker config.json edit, no
unit enabled or started), removing stops and disables the units, purging (rpm: erasing)
deletes root's token caches.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import os
import shutil
import string
import subprocess
import sys
import tarfile
import textwrap
import time
import tomllib
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
ROOT = PACKAGING.parent
sys.path.insert(0, str(ROOT / "helper"))
sys.path.insert(0, str(PACKAGING))

from pack import ARCHES  # noqa: E402  (Debian's architecture names -> RPM's)

from docker_credential_ecr import __version__, kubelet  # noqa: E402
from docker_credential_ecr.config import ROOT_CACHE_DIR  # noqa: E402
from docker_credential_ecr.errors import NAME  # noqa: E402
from docker_credential_ecr.fileconfig import SYSTEM_FILE  # noqa: E402

LIBDIR = f"usr/lib/{NAME}"
PROGRAM = f"{LIBDIR}/{NAME}"
BIN = f"usr/bin/{NAME}"
# A folder holding only the kubelet's name, so that it can be the kubelet's
# --image-credential-provider-bin-dir as it is.
KUBELET_BIN = f"usr/libexec/{NAME}/{kubelet.PROGRAM}"
UNITDIR = "usr/lib/systemd/system"
CONFIG = SYSTEM_FILE.lstrip("/")
DEFAULTS = f"etc/default/{NAME}"
CONFFILES = (CONFIG, DEFAULTS)
MANPAGE = f"usr/share/man/man1/{NAME}.1.gz"
DOCDIR = f"usr/share/doc/{NAME}"
LICENSEDIR = f"usr/share/licenses/{NAME}"
# Files for other programs to read: the Prometheus alert rules.
DATADIR = f"usr/share/{NAME}"
ALERTS = f"{DATADIR}/alerts.yml"
UNITS = tuple(sorted(p.name for p in (PACKAGING / "systemd").iterdir()))
# The installed units run the packaged program, not the one scripts/install puts here.
UNIT_PROGRAM = (f"/usr/local/bin/{NAME}", f"/{BIN}")
# The folders the .rpm owns, and so removes on erase: its own, not the distribution's
# (/usr/bin, the systemd unit folder, ...).
RPM_OWNED = (LIBDIR, f"usr/libexec/{NAME}", os.path.dirname(CONFIG), DOCDIR, LICENSEDIR, DATADIR)
# Restarted after an upgrade if it is running, so that it runs the new program.
LONG_RUNNING = f"{NAME}-watch.service"

DESCRIPTION = f"""\
Docker runs it on every pull, push and build of an Amazon ECR registry that is
listed under credHelpers in its config.json; the kubelet of RKE2, K3s and other
Kubernetes nodes runs it as its image credential provider, under the name
{kubelet.PROGRAM}. Both get their token from one per-host, per-identity cache,
refreshed ahead of expiry under a lock, so that a host makes one ECR call per
registry per refresh period however many pulls run at once.

The program carries its own Python runtime and C library and needs nothing
else installed. Installing changes no Docker or kubelet configuration: run
`{NAME} configure` for Docker, or `{NAME} configure --kubelet`.
"""

# What the frozen program carries, for the copyright file: every ELF file and every
# module outside Python's standard library must be listed, or packaging stops.
COMPONENTS = (
    ("docker-credential-ecr (the launcher and the helper)",
     "Apache-2.0", (NAME, "_internal/docker_credential_ecr/*")),
    ("PyInstaller's bootloader", "GPL-2+ with PyInstaller's bootloader exception",
     (f"{NAME}.bin",)),
    ("The GNU C Library", "LGPL-2.1+", tuple(f"_internal/glibc/{lib}" for lib in (
     "ld-linux-*", "libc.so.*", "libm.so.*", "libdl.so.*", "libpthread.so.*", "libnss_*",
     "librt.so.*", "libutil.so.*", "libresolv.so.*"))),
    ("GCC's runtime library", "GPL-3+ with the GCC Runtime Library Exception 3.1",
     ("_internal/glibc/libgcc_s.so.*",)),
    ("CPython", "PSF-2.0",
     ("_internal/libpython3*", "_internal/python3*/*", "_internal/base_library.zip")),
    ("OpenSSL", "Apache-2.0", ("_internal/libssl.so.*", "_internal/libcrypto.so.*")),
    ("zlib", "Zlib", ("_internal/libz.so.*",)),
    ("libuuid (util-linux)", "BSD-3-clause", ("_internal/libuuid.so.*",)),
    ("Expat", "MIT", ("_internal/libexpat.so.*",)),
    ("libffi", "MIT", ("_internal/libffi.so.*",)),
    ("libmpdec", "BSD-2-clause", ("_internal/libmpdec.so.*",)),
    ("bzip2", "bzip2-1.0.6", ("_internal/libbz2.so.*",)),
    ("XZ Utils (liblzma)", "public-domain", ("_internal/liblzma.so.*",)),
    ("boto3", "Apache-2.0", ("_internal/boto3/*",)),
    ("s3transfer", "Apache-2.0", ("_internal/s3transfer/*",)),
    ("botocore", "Apache-2.0", ("_internal/botocore/*",)),
    ("Mozilla's CA certificates (botocore's cacert.pem)", "MPL-2.0",
     ("_internal/botocore/cacert.pem",)),
    ("urllib3", "MIT", ("_internal/urllib3/*",)),
    ("python-dateutil", "Apache-2.0 or BSD-3-clause", ("_internal/dateutil/*",)),
    ("six", "MIT", ("_internal/six.pyc",)),
    ("jmespath", "MIT", ("_internal/jmespath/*",)),
    ("platformdirs", "MIT", ("_internal/platformdirs/*",)),
    ("filelock", "MIT", ("_internal/filelock/*",)),
    ("ruamel.yaml", "MIT", ("_internal/ruamel/*",)),
    ("prometheus-client", "Apache-2.0", ("_internal/prometheus_client/*",)),
)  # fmt: skip


def metadata() -> dict[str, str]:
    """Name, summary, licence, homepage and maintainer, from pyproject.toml: one place."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    maintainer = project["maintainers"][0]
    return {
        "name": project["name"],
        "summary": project["description"],
        "license": project["license"],
        "homepage": project["urls"]["Homepage"],
        "maintainer": f"{maintainer['name']} <{maintainer['email']}>",
    }


def description() -> str:
    """DESCRIPTION in lines of at most 78 characters, paragraphs apart."""
    paragraphs = DESCRIPTION.strip().split("\n\n")
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 78) for p in paragraphs)


def is_elf(path: Path) -> bool:
    """Whether ``path`` is an ELF file (a program or a shared library)."""
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def component_of(relative: str) -> str | None:
    """The component a file of the program's folder belongs to, by COMPONENTS."""
    for name, _, patterns in reversed(COMPONENTS):  # the more specific rows come later
        if any(fnmatch.fnmatchcase(relative, p) for p in patterns):
            return name
    top = relative.removeprefix("_internal/").split("/")[0].removesuffix(".pyc")
    if relative.startswith("_internal/") and top in sys.stdlib_module_names:
        return "CPython"
    return None


def check_components(folder: Path) -> None:
    """Stop if the program carries a library or module the copyright file does not name."""
    unknown = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or path.is_symlink() or component_of(relative) is not None:
            continue
        if is_elf(path) or relative.count("/") <= 1 or relative.endswith((".pyc", ".so")):
            unknown.append(relative)
    if unknown:
        sys.exit("package: add these to COMPONENTS in packaging/package.py: " + ", ".join(unknown))


def gzip_to(data: bytes, target: Path) -> None:
    """Write ``data`` gzipped as Debian does (-9n: no name, no time)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as out:
        out.write(data)


def relative_link(stage: Path, link: str, target: str) -> None:
    """A relative symlink at ``link`` to ``target`` (both relative to the root)."""
    path = stage / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(os.path.relpath(target, os.path.dirname(link)))


def unit_text(name: str) -> str:
    """A systemd unit of packaging/systemd, running the packaged program."""
    text = (PACKAGING / "systemd" / name).read_text()
    if name.endswith(".service") and UNIT_PROGRAM[0] not in text:
        sys.exit(f"package: {name} does not run {UNIT_PROGRAM[0]}")
    return text.replace(*UNIT_PROGRAM)


def stage(tarball: Path, into: Path, date: str) -> None:
    """Lay out the files both packages install under ``into``."""
    into.mkdir(parents=True)
    (into / "usr/lib").mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        if any(not (m.name == NAME or m.name.startswith(NAME + "/")) for m in tar.getmembers()):
            sys.exit(f"package: {tarball} holds more than the folder {NAME}/")
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into / "usr/lib"), "--no-same-owner"],
                   check=True)  # fmt: skip
    check_components(into / LIBDIR)
    relative_link(into, BIN, PROGRAM)
    relative_link(into, KUBELET_BIN, PROGRAM)
    for name in UNITS:
        (into / UNITDIR).mkdir(parents=True, exist_ok=True)
        (into / UNITDIR / name).write_text(unit_text(name))
    for target, source in ((CONFIG, "package/config.toml"), (DEFAULTS, "package/default"),
                           (ALERTS, "alerts.yml")):  # fmt: skip
        (into / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGING / source, into / target)
    import manpage

    os.environ["COLUMNS"] = "80"
    gzip_to(manpage.render(date).encode(), into / MANPAGE)


def normalise(tree: Path, epoch: int) -> None:
    """Modes root's packages use (0755 programs and folders, 0644 the rest) and one time."""
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            os.utime(path, (epoch, epoch), follow_symlinks=False)
            continue
        executable = path.is_dir() or os.access(path, os.X_OK)
        # Libraries are mapped, not run; the one run is the loader, which the launcher execs.
        if ".so" in path.name and not path.name.startswith("ld-linux"):
            executable = False
        path.chmod(0o755 if executable else 0o644)
        os.utime(path, (epoch, epoch))


def shell(action: str) -> str:
    """One maintainer-script snippet, the same text in the .deb and the .rpm."""
    units = " ".join(UNITS)
    running = "[ -d /run/systemd/system ]"
    snippets = {
        # New or changed unit files are seen at once; nothing is enabled or started.
        "reload": f"if {running}; then systemctl daemon-reload >/dev/null 2>&1 || true; fi",
        "restart": f"if {running}; then systemctl try-restart {LONG_RUNNING}"
        " >/dev/null 2>&1 || true; fi",
        # systemctl disable works without a running systemd (it removes the links).
        "stop": f"if command -v systemctl >/dev/null 2>&1; then\n"
        f"  if {running}; then systemctl stop {units} >/dev/null 2>&1 || true; fi\n"
        f"  systemctl disable {units} >/dev/null 2>&1 || true\nfi",
        # Root's token caches: the units' and root's own docker's.  Other users' caches
        # are theirs, like their ~/.docker, and are left alone.
        "purge": f"rm -rf {ROOT_CACHE_DIR}\n"
        "home=$(getent passwd root | cut -d: -f6)\n"
        f'[ -z "$home" ] || rm -rf "${{home%/}}/.cache/{NAME}"',
    }
    return snippets[action]


def deb_scripts() -> dict[str, str]:
    """postinst, prerm and postrm."""
    head = "#!/bin/sh\nset -e\n"
    return {
        "postinst": head + f'if [ "$1" = configure ]; then\n{shell("reload")}\n'
        f'if [ -n "$2" ]; then\n{shell("restart")}\nfi\nfi\n',
        "prerm": head
        + f'if [ "$1" = remove ] || [ "$1" = deconfigure ]; then\n{shell("stop")}\nfi\n',
        "postrm": head + f'if [ "$1" = remove ] || [ "$1" = purge ]; then\n{shell("reload")}\nfi\n'
        f'if [ "$1" = purge ]; then\n{shell("purge")}\nfi\n',
    }


def copyright_text(meta: dict[str, str], year: str) -> str:
    """debian/copyright in the machine-readable format, bundled components included."""
    parts = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {meta['name']}\nSource: {meta['homepage']}\n\n"
        f"Files: *\nCopyright: {year} {meta['maintainer'].split(' <')[0]}\n"
        f"License: {meta['license']}\n"
        f"Comment: {LIBDIR} carries these components, each under its own licence:\n"
    ]
    parts += [f" {name}: {licence}.\n" for name, licence, _ in COMPONENTS]
    parts.append(
        f"\nLicense: {meta['license']}\n"
        " On Debian systems, the full text of the Apache License, Version 2.0 can be\n"
        " found in /usr/share/common-licenses/Apache-2.0.\n"
    )
    return "".join(parts)


def deb_changelog(meta: dict[str, str], version: str, date: str) -> str:
    """changelog.Debian: one entry, for this build."""
    return (
        f"{meta['name']} ({version}) unstable; urgency=medium\n\n"
        f"  * Release {version}; the changes are in the project's history.\n\n"
        f" -- {meta['maintainer']}  {date}\n"
    )


def installed_size(tree: Path) -> int:
    """Installed-Size in KiB, counted as dpkg-gencontrol does (one per folder or link)."""
    total = 0
    for path in tree.rglob("*"):
        if "DEBIAN" in path.relative_to(tree).parts:
            continue
        is_file = path.is_file() and not path.is_symlink()
        total += (path.stat().st_size + 1023) // 1024 if is_file else 1
    return total


def build_deb(staged: Path, arch: str, out: Path, work: Path, epoch: int) -> Path:
    """docker-credential-ecr_<version>_<arch>.deb."""
    meta = metadata()
    tree = work / "deb"
    shutil.copytree(staged, tree, symlinks=True)
    deb_docs(tree, meta, epoch)
    overrides = tree / "usr/share/lintian/overrides" / NAME
    overrides.parent.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "package" / "lintian-overrides", overrides)
    control = tree / "DEBIAN"
    control.mkdir()
    for name, text in deb_scripts().items():
        (control / name).write_text(text)
        (control / name).chmod(0o755)
    (control / "conffiles").write_text("".join(f"/{c}\n" for c in CONFFILES))
    (control / "md5sums").write_text(md5sums(tree))
    normalise(tree, epoch)
    (control / "control").write_text(deb_control(meta, arch, installed_size(tree)))
    (control / "control").chmod(0o644)
    target = out / f"{meta['name']}_{__version__}_{arch}.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(target)],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    return target


def deb_docs(tree: Path, meta: dict[str, str], epoch: int) -> None:
    """The changelog, README and copyright file of the .deb's documentation folder."""
    docs = tree / DOCDIR
    docs.mkdir(parents=True)
    date = subprocess.run(["date", "-R", "-u", "-d", f"@{epoch}"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    # A native package (no Debian revision): its one changelog is changelog.gz.
    gzip_to(deb_changelog(meta, __version__, date).encode(), docs / "changelog.gz")
    gzip_to((ROOT / "README.md").read_bytes(), docs / "README.md.gz")
    (docs / "copyright").write_text(copyright_text(meta, date.split()[3]))


def md5sums(tree: Path) -> str:
    """DEBIAN/md5sums: a digest of every file the package installs."""
    sums = []
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree).as_posix()
        if path.is_file() and not path.is_symlink() and not relative.startswith("DEBIAN/"):
            # dpkg's md5sums format: a check against damage, not an attacker.
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            sums.append(f"{digest}  {relative}\n")
    return "".join(sums)


def deb_control(meta: dict[str, str], arch: str, size: int) -> str:
    """DEBIAN/control, for a package of ``size`` KiB installed."""
    long = "\n".join(" " + (line or ".") for line in description().split("\n"))
    return (
        f"Package: {meta['name']}\nVersion: {__version__}\nArchitecture: {arch}\n"
        f"Maintainer: {meta['maintainer']}\nInstalled-Size: {size}\n"
        f"Section: admin\nPriority: optional\nHomepage: {meta['homepage']}\n"
        f"Description: {meta['summary']}\n{long}\n"
    )


def rpm_files(staged: Path) -> str:
    """The %files list: every folder the package owns, every file, the configuration."""
    lines = []
    for path in sorted(staged.rglob("*")):
        line = rpm_file(path, path.relative_to(staged).as_posix())
        if line is not None:
            lines.append(line)
    return "\n".join(f'"{line}"' if " " in line.split()[-1] else line for line in lines)


def rpm_file(path: Path, relative: str) -> str | None:
    """The %files line of one staged path; None for a folder that is not the package's."""
    if path.is_dir() and not path.is_symlink():
        return f"%dir /{relative}" if relative.startswith(RPM_OWNED) else None
    if relative in CONFFILES:
        return f"%config(noreplace) /{relative}"
    if relative.startswith(LICENSEDIR + "/"):
        return f"%license /{relative}"
    if relative == MANPAGE or relative.startswith(DOCDIR + "/"):
        return f"%doc /{relative}"
    return f"/{relative}"


def rpm_spec(meta: dict[str, str], tree: Path, epoch: int) -> str:
    """The spec of the .rpm of ``tree``: packaging/package/rpm.spec.in filled in."""
    template = string.Template((PACKAGING / "package" / "rpm.spec.in").read_text())
    return template.substitute(
        meta,
        version=__version__,
        description=description(),
        tree=str(tree),
        files=rpm_files(tree),
        date=time.strftime("%a %b %d %Y", time.gmtime(epoch)),
        **{action: shell(action) for action in ("reload", "restart", "stop", "purge")},
    )


def rpmbuild_defines(topdir: Path, out: Path) -> dict[str, str]:
    """The macros rpmbuild is run with: where it works and writes, and how it builds."""
    return {
        "_topdir": str(topdir),
        "_rpmdir": str(out),
        "_build_name_fmt": "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
        # Shipped as built: not stripped, compressed or otherwise rewritten by rpmbuild.
        "__os_install_post": "%{nil}",
        "debug_package": "%{nil}",
        "_build_id_links": "none",
        # xz and SHA-256 file digests: what rpm reads on every distribution we serve
        # (Amazon Linux 2's rpm 4.11 reads no zstd).
        "_binary_payload": "w6.xzdio",
        "_binary_filedigest_algorithm": "8",
        "source_date_epoch_from_changelog": "0",
        "clamp_mtime_to_source_date_epoch": "1",
        "use_source_date_epoch_as_buildtime": "1",
        "_buildhost": "reproducible",
    }


def build_rpm(staged: Path, arch: str, out: Path, work: Path, epoch: int) -> Path:
    """docker-credential-ecr-<version>-1.<x86_64|aarch64>.rpm."""
    meta = metadata()
    rpm_arch = ARCHES[arch]
    tree = work / "rpm-root"
    shutil.copytree(staged, tree, symlinks=True)
    for folder, name in ((LICENSEDIR, "LICENSE"), (DOCDIR, "README.md")):
        (tree / folder).mkdir(parents=True)
        shutil.copyfile(ROOT / name, tree / folder / name)
    normalise(tree, epoch)
    spec = work / f"{NAME}.spec"
    spec.write_text(rpm_spec(meta, tree, epoch))
    command = ["rpmbuild", "-bb", "--quiet", "--target", rpm_arch]
    for key, value in rpmbuild_defines(work / "rpmbuild", out).items():
        command += ["--define", f"{key} {value}"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    subprocess.run([*command, str(spec)], check=True, env=env, stdout=subprocess.DEVNULL)
    return out / f"{meta['name']}-{__version__}-1.{rpm_arch}.rpm"


def main(argv: list[str]) -> int:
    """Make both packages of ``argv[1]`` for ``argv[2]`` in ``argv[3]``; print their paths."""
    import tempfile

    if len(argv) != 4 or argv[2] not in ARCHES:
        sys.exit(f"usage: {argv[0]} TARBALL {'|'.join(ARCHES)} OUTDIR")
    tarball, arch, out = Path(argv[1]), argv[2], Path(argv[3]).resolve()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="package.") as tmp:
        work = Path(tmp)
        stage(tarball, work / "staged", time.strftime("%Y-%m-%d", time.gmtime(epoch)))
        for build in (build_deb, build_rpm):
            print(build(work / "staged", arch, out, work, epoch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
