"""Pack a PyInstaller one-folder bundle and its C library behind the launcher.

Usage: python packaging/pack.py BUNDLE_DIR LAUNCHER OUTPUT

Copies into BUNDLE_DIR/_internal/glibc the dynamic loader and every shared
library the bundle needs from the build machine that it does not carry itself
(glibc's, which PyInstaller leaves out on purpose), then writes OUTPUT as the
launcher followed by the compressed bundle and a trailer (packaging/launcher.c
documents the format).  The build id is a hash of the packed content, so two
builds of the same inputs unpack to the same directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

MAGIC = b"DCECRPK1"
LOADER = "ld-linux-x86-64.so.2"
# Loaded by glibc at run time with dlopen, so ldd does not list them:
# libgcc_s for thread exit and cancellation, the NSS modules for getpwuid.
RUNTIME_EXTRAS = ("libgcc_s.so.1", "libnss_files.so.2", "libnss_dns.so.2")


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def system_libraries(bundle: Path) -> dict[str, Path]:
    """Return soname -> path of every library the bundle loads from the build machine."""
    carried = {p.name for p in bundle.rglob("*") if p.is_file()}
    found: dict[str, Path] = {}
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink() or not is_elf(path):
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                name, target = parts[0], Path(parts[2])
            elif parts and parts[0].startswith("/") and parts[0].endswith(LOADER):
                name, target = LOADER, Path(parts[0])
            else:
                continue
            if name not in carried:
                found[name] = target
    libdir = found[LOADER].resolve().parent if LOADER in found else Path("/lib/x86_64-linux-gnu")
    for extra in RUNTIME_EXTRAS:
        candidate = libdir / extra
        if candidate.exists():
            found.setdefault(extra, candidate)
    return found


def add_glibc(bundle: Path) -> list[str]:
    glibc = bundle / "_internal" / "glibc"
    glibc.mkdir(exist_ok=True)
    libs = system_libraries(bundle)
    if LOADER not in libs:
        sys.exit(f"pack: no {LOADER} found among the bundle's dependencies")
    for name, path in sorted(libs.items()):
        shutil.copy2(path.resolve(), glibc / name)
        (glibc / name).chmod(0o755)
    return sorted(libs)


def entries(bundle: Path) -> bytes:
    chunks: list[bytes] = []
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix().encode()
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


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.exit(__doc__)
    bundle, launcher, output = (Path(a) for a in argv)
    libs = add_glibc(bundle)
    raw = entries(bundle)
    build_id = hashlib.sha256(raw).hexdigest()[:16].encode()
    packed = zlib.compress(raw, 9)
    head = launcher.read_bytes()
    trailer = struct.pack("<QQQ32s8s", len(head), len(packed), len(raw), build_id, MAGIC)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_bytes(head + packed + trailer)
    tmp.chmod(0o755)
    tmp.replace(output)
    size = output.stat().st_size
    print(f"pack: {output} ({size} bytes, build {build_id.decode()}), glibc: {' '.join(libs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
