"""Turn a PyInstaller one-folder bundle into the two shipped forms (see packaging/launcher.c).

Usage:
  python packaging/pack.py tree BUNDLE_DIR LAUNCHER TREE_DIR
      TREE_DIR becomes the folder form: the bundle with its bootloader renamed to
      docker-credential-ecr.bin, the dynamic loader and every shared library the
      bundle needs from the build machine but does not carry (glibc's, which
      PyInstaller leaves out on purpose) in _internal/glibc, and the launcher as
      docker-credential-ecr.
  python packaging/pack.py single TREE_DIR LAUNCHER OUTPUT
      OUTPUT becomes the single file: the launcher followed by the compressed
      tree and a trailer.  The build id is a hash of the packed content, so
      two builds of the same inputs unpack to the same directory.

The single file's format is written here and read by packaging/bundle.c, its C
twin (the layout is described there): a change to one is a change to both.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

MAGIC = b"DCECRPK1"
NAME = "docker-credential-ecr"
PROGRAM = NAME + ".bin"
# Debian's architecture names (our artifacts') -> the kernel's machine names (RPM's).
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
# glibc's dynamic loader on each machine we build for (its ABI's name, not ours).
LOADERS = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}
# Loaded by glibc at run time with dlopen, so ldd does not list them:
# libgcc_s for thread exit and cancellation, the NSS modules for getpwuid.
RUNTIME_EXTRAS = ("libgcc_s.so.1", "libnss_files.so.2", "libnss_dns.so.2")


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def debian_arch(machine: str = "") -> str:
    """The Debian name of ``machine`` (default: this one's)."""
    machine = machine or platform.machine()
    return next((arch for arch, m in ARCHES.items() if m == machine), machine)


def loader_name(machine: str = "") -> str:
    """The dynamic loader the bundle carries on ``machine`` (default: this one)."""
    machine = machine or platform.machine()
    if machine not in LOADERS:
        sys.exit(f"pack: no dynamic loader known for {machine}")
    return LOADERS[machine]


def system_libraries(bundle: Path) -> dict[str, Path]:
    """Return soname -> path of every library the bundle loads from the build machine."""
    loader = loader_name()
    carried = {p.name for p in bundle.rglob("*") if p.is_file()}
    found: dict[str, Path] = {}
    for path in elf_files(bundle):
        for name, target in ldd_dependencies(path, loader):
            if name not in carried:
                found[name] = target
    if loader not in found:
        sys.exit(f"pack: no {loader} found among the bundle's dependencies")
    for name, target in runtime_extras(found[loader].resolve().parent).items():
        found.setdefault(name, target)
    return found


def elf_files(bundle: Path) -> list[Path]:
    """The programs and libraries in ``bundle``; a symlink to one is not another."""
    return [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]


def ldd_dependencies(program: Path, loader: str) -> Iterator[tuple[str, Path]]:
    """(soname, path) of each library ldd says ``program`` loads, the dynamic loader too."""
    out = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            yield parts[0], Path(parts[2])
        # The loader has no "=>": ldd names it by its path alone.
        elif parts and parts[0].startswith("/") and parts[0].endswith(loader):
            yield loader, Path(parts[0])


def runtime_extras(libdir: Path) -> dict[str, Path]:
    """soname -> path of each of RUNTIME_EXTRAS in ``libdir``, the loader's folder."""
    return {extra: libdir / extra for extra in RUNTIME_EXTRAS if (libdir / extra).exists()}


def add_glibc(tree: Path) -> list[str]:
    glibc = tree / "_internal" / "glibc"
    glibc.mkdir()
    libs = system_libraries(tree)
    for name, path in sorted(libs.items()):
        shutil.copy2(path.resolve(), glibc / name)
        (glibc / name).chmod(0o755)
    return sorted(libs)


def normalise_modes(tree: Path) -> None:
    """0755 for folders and programs, 0644 for the rest, whatever the build's umask.

    The folder tarball and the single file record each file's mode, and PyInstaller,
    pip and git create files under the umask of whoever builds.
    """
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or bool(path.stat().st_mode & 0o111)
        path.chmod(0o755 if executable else 0o644)


def entries(tree: Path) -> bytes:
    chunks: list[bytes] = []
    for path in sorted(tree.rglob("*")):
        if path == tree / NAME:
            continue  # the launcher itself: the single file is already one
        rel = path.relative_to(tree).as_posix().encode()
        if path.is_symlink():
            data, kind, mode = os.readlink(path).encode(), b"L", 0o777
        elif path.is_file():
            data, kind = path.read_bytes(), b"F"
            mode = stat.S_IMODE(path.stat().st_mode)
        else:
            continue
        header = kind + struct.pack("<II", mode, len(rel)) + rel + struct.pack("<Q", len(data))
        chunks.append(header + data)
    return b"".join(chunks)


def make_tree(bundle: Path, launcher: Path, tree: Path) -> None:
    (bootloader,) = [p for p in bundle.iterdir() if p.is_file()]
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(bundle, tree, symlinks=True)
    (tree / bootloader.name).rename(tree / PROGRAM)
    libs = add_glibc(tree)
    shutil.copy2(launcher, tree / NAME)
    normalise_modes(tree)
    print(f"pack: {tree} (glibc: {' '.join(libs)})")


def make_single(tree: Path, launcher: Path, output: Path) -> None:
    raw = entries(tree)
    build_id = hashlib.sha256(raw).hexdigest()[:16].encode()
    packed = zlib.compress(raw, 9)
    head = launcher.read_bytes()
    trailer = struct.pack("<QQQ32s8s", len(head), len(packed), len(raw), build_id, MAGIC)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_bytes(head + packed + trailer)
    tmp.chmod(0o755)
    tmp.replace(output)
    print(f"pack: {output} ({output.stat().st_size} bytes, build {build_id.decode()})")


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("tree", "single"):
        sys.exit(__doc__)
    first, launcher, last = (Path(a) for a in argv[1:])
    if argv[0] == "tree":
        make_tree(first, launcher, last)
    else:
        make_single(first, launcher, last)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
