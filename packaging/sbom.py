"""Write a CycloneDX SBOM of one built executable, from its folder tarball and .buildinfo.

Usage: with .venv-sbom's Python (cyclonedx-python-lib, packaging/requirements-sbom.txt) and
the build venv's site-packages (which hold the distributions the program carries, and
PyInstaller) first on PYTHONPATH, as scripts/lib/setup.sh's ``sbom`` runs it:
  sbom TARBALL BUILDINFO OUT.cdx.json

TARBALL is dist/docker-credential-ecr-<version>-linux-<arch>.tar.gz, the folder form of
the single file; BUILDINFO the .buildinfo written beside it.  What is listed comes from
what the tarball really holds: each of its files and each module of the bootloader's
archive is given an owner (a Python distribution of the build venv, CPython, a native
library, the product), and a file no owner claims stops the run.  The Debian packages of
the build root come from the buildinfo.  The output is the same bytes for the same
inputs: the serial number is a hash of them and the time SOURCE_DATE_EPOCH (else the
buildinfo's modification time).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib
import os
import re
import sys
import tarfile
import tempfile
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

try:
    from cyclonedx.contrib.license.exceptions import (
        InvalidLicenseExpressionException,
        InvalidSpdxLicenseException,
    )
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.contrib.this.builders import this_component
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
    from cyclonedx.model.license import License, LicenseAcknowledgement
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
except ImportError as missing:  # another Python than .venv-sbom's, which pins these
    sys.exit(f"sbom: no {missing.name} here: run it as scripts/lib/setup.sh's sbom does")

PRODUCT = "docker-credential-ecr"
INTERNAL = f"{PRODUCT}/_internal/"
LAUNCHER = f"{PRODUCT}/{PRODUCT}"
BOOTLOADER = f"{PRODUCT}/{PRODUCT}.bin"
PACKAGING = Path(__file__).resolve().parent
TARBALL_NAME = re.compile(rf"{PRODUCT}-(?P<version>[^-]+)-linux-(?P<arch>[a-z0-9]+)\.tar\.gz")
DESCRIPTION = "Write a CycloneDX SBOM of one built executable (see the module's docstring)."
# Namespace of the serial numbers: a uuid5 of the inputs under the project's address.
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/{PRODUCT}/{PRODUCT}/sbom")
# Owner keys: these three, "pypi:<normalized name>" and "native:<name>".
OWN, CPYTHON, GLIBC = "product", "cpython", "glibc"
# The bootloader is PyInstaller's, renamed by packaging/pack.py.
BOOTLOADER_DIST = "pyinstaller"
# CArchive type codes (PyInstaller.archive.readers): modules, the PYZ, files.
MODULE_TYPES, PYZ_TYPE, FILE_TYPES = frozenset("mMs"), "z", frozenset("bxZd")
# Trove classifiers that name one SPDX licence; the others are kept as names.
CLASSIFIERS = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
}
LICENSES = LicenseFactory()
# What wrote the SBOM: this library (a fixed version: packaging/requirements-build.txt).
TOOLS = ToolRepository(components=[this_component()])


@dataclass(frozen=True)
class Native:
    """A component the tarball carries that is no Python distribution (packaging/package.py)."""

    name: str
    licence: str
    files: tuple[str, ...]  # fnmatch patterns under _internal/
    # The version as the library writes it into itself (one group), if it does.
    version: bytes = b""
    cpe: str = ""  # vendor:product, for vulnerability databases that match on CPE
    kind: ComponentType = ComponentType.LIBRARY


GLIBC_FILES = ("ld-linux-*", "libc.so.*", "libm.so.*", "libdl.so.*", "libpthread.so.*",
               "libnss_*", "librt.so.*", "libutil.so.*", "libresolv.so.*")  # fmt: skip
NATIVE = (
    Native(GLIBC, "LGPL-2.1-or-later", tuple(f"glibc/{f}" for f in GLIBC_FILES),
           rb"GNU C Library \([^)]*\) [a-z ]*release version (\d+\.\d+(?:\.\d+)?)", "gnu:glibc"),
    Native("libgcc_s", "GPL-3.0-or-later WITH GCC-exception-3.1", ("glibc/libgcc_s.so.*",)),
    Native("openssl", "Apache-2.0", ("libssl.so.*", "libcrypto.so.*"),
           rb"OpenSSL (\d+\.\d+\.\d+[a-z]*) ", "openssl:openssl"),
    Native("zlib", "Zlib", ("libz.so.*",), rb"inflate (\d+\.\d+(?:\.\d+)*) Copyright", "zlib:zlib"),
    Native("libuuid", "BSD-3-Clause", ("libuuid.so.*",)),
    Native("expat", "MIT", ("libexpat.so.*",), rb"expat_(\d+\.\d+\.\d+)",
           "libexpat_project:libexpat"),
    Native("libffi", "MIT", ("libffi.so.*",)),
    Native("mpdecimal", "BSD-2-Clause", ("libmpdec.so.*",)),
    Native("bzip2", "bzip2-1.0.6", ("libbz2.so.*",)),
    Native("xz", "public-domain", ("liblzma.so.*",)),
    Native("mozilla-ca-certificates", "MPL-2.0", ("botocore/cacert.pem",), kind=ComponentType.DATA),
)  # fmt: skip
# CPython's own files: the runtime, its extension modules, a zipped standard library.
CPYTHON_FILES = ("libpython3*", "python3.*/*", "base_library.zip")


class SbomError(Exception):
    """A one-line reason the SBOM cannot be written."""


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares it (and as pkg:pypi/ spells it)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class BuildInfo:
    """What a .buildinfo records of the build."""

    source: str = ""  # the commit built
    arch: str = ""
    python: str = ""
    glibc: str = ""
    glibc_build: str = ""  # ldd's words for it, e.g. "Debian GLIBC 2.36-9+deb12u14"
    pins: dict[str, str] = field(default_factory=dict)  # normalized name -> version
    debian: dict[str, str] = field(default_factory=dict)  # package -> version
    packed_with: dict[str, str] = field(default_factory=dict)  # the host's packing tools
    epoch: str = ""  # SOURCE_DATE_EPOCH of the release


def _source(info: BuildInfo, value: str) -> bool:
    info.source = value
    return re.fullmatch(r"[0-9a-f]{40}|unknown", value) is not None


def _architecture(info: BuildInfo, value: str) -> bool:
    info.arch = value
    return re.fullmatch(r"[a-z0-9]+", value) is not None


def _python(info: BuildInfo, value: str) -> bool:
    match = re.fullmatch(r"(\d+\.\d+\.\d+\S*)(?: .*)?", value)
    info.python = match[1] if match else ""
    return match is not None


def _glibc(info: BuildInfo, value: str) -> bool:
    match = re.fullmatch(r".*\((.+)\) (\d+\.\d+(?:\.\d+)?)", value)
    info.glibc_build, info.glibc = (match[1], match[2]) if match else ("", "")
    return match is not None


def _pypi(info: BuildInfo, value: str) -> bool:
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", value)
    if match:
        info.pins[normalize(match[1])] = match[2]
    return match is not None


def _debian(info: BuildInfo, value: str) -> bool:
    match = re.fullmatch(r"([a-z0-9][a-z0-9+.-]+) (\S+)", value)
    if match:
        info.debian[match[1]] = match[2]
    return match is not None


def _packed_with(info: BuildInfo, value: str) -> bool:
    match = re.fullmatch(r"([a-z0-9][a-z0-9+.-]+) (\S+)", value)
    if match:
        info.packed_with[match[1]] = match[2]
    return match is not None


def _epoch(info: BuildInfo, value: str) -> bool:
    info.epoch = value
    return value.isdigit()


BUILDINFO_LINES: dict[str, Callable[[BuildInfo, str], bool]] = {
    "source": _source,
    "architecture": _architecture,
    "python": _python,
    "glibc (carried)": _glibc,
    "pypi": _pypi,
    "debian": _debian,
    "packed-with": _packed_with,
    "source-date-epoch": _epoch,
}


def read_buildinfo(path: Path) -> BuildInfo:
    """Parse ``path``; any line it does not understand is an error naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SbomError(f"cannot read the buildinfo {path}: {error}") from None
    info = BuildInfo()
    for number, line in enumerate(lines, 1):
        key, _, value = line.partition(": ")
        parse = BUILDINFO_LINES.get(key)
        if line.strip() and (parse is None or not parse(info, value.strip())):
            raise SbomError(f"{path}:{number}: not a buildinfo line: {line[:80]!r}")
    for what, value in (("architecture", info.arch), ("python", info.python)):
        if not value:
            raise SbomError(f"{path}: no {what}: line (is it a .buildinfo?)")
    if not info.glibc:
        raise SbomError(f"{path}: no glibc (carried): line (is it a .buildinfo?)")
    return info


@dataclass(frozen=True)
class Tree:
    """What the tarball holds: its files, and the contents the SBOM reads."""

    files: tuple[str, ...]
    contents: dict[str, bytes]
    digest: str  # SHA-256 of the tarball


def _wanted(name: str) -> bool:
    """Whether the SBOM reads this file: the bootloader's archive, a native library."""
    rel = name.removeprefix(INTERNAL)
    return name == BOOTLOADER or any(fnmatch.fnmatchcase(rel, p) for n in NATIVE for p in n.files)


def _read_members(tar: tarfile.TarFile) -> tuple[list[str], dict[str, bytes]]:
    """The names of the tarball's files and symbolic links, and the wanted files' bytes."""
    names, contents = [], {}
    for member in tar:
        if member.isdir():
            continue
        names.append(member.name)
        extracted = tar.extractfile(member) if _wanted(member.name) else None
        if extracted:
            contents[member.name] = extracted.read()
    return names, contents


def read_tree(path: Path) -> Tree:
    """List the tarball's files and read the few the SBOM looks inside."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with tarfile.open(path, "r:gz") as tar:
            names, contents = _read_members(tar)
    except (OSError, tarfile.TarError, EOFError, zlib.error) as error:
        raise SbomError(f"cannot read the tarball {path}: {error}") from None
    files = tuple(sorted(names))
    strays = [f for f in files if not f.startswith(f"{PRODUCT}/")]
    if strays or BOOTLOADER not in contents:
        raise SbomError(f"{path} is not the folder form {PRODUCT}/ of a build ({BOOTLOADER}?)")
    return Tree(files, contents, digest)


def archive_entries(bootloader: bytes) -> tuple[list[str], list[str]]:
    """The modules and the files of the bootloader's CArchive (and of its PYZ, if any)."""
    # PyInstaller is in the build venv only: mypy checks this file from the test venv.
    try:
        readers = importlib.import_module("PyInstaller.archive.readers")
    except ImportError:
        raise SbomError("no PyInstaller here: run this with .venv-build/bin/python") from None
    modules: list[str] = []
    files: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbom-") as scratch:
        program = Path(scratch) / "program"
        program.write_bytes(bootloader)
        archive = readers.CArchiveReader(str(program))
        for name, entry in archive.toc.items():
            typecode = entry[-1]
            if typecode in MODULE_TYPES:
                modules.append(name)
            elif typecode == PYZ_TYPE:
                modules.extend(archive.open_embedded_archive(name).toc)
            elif typecode in FILE_TYPES:
                files.append(name)
    return sorted(modules), sorted(files)


class Venv:
    """The build venv's distributions, and which of them owns a file or a module."""

    def __init__(self, product: str) -> None:
        self.dists: dict[str, metadata.Distribution] = {}
        for dist in metadata.distributions():  # the first on sys.path is the one imported
            self.dists.setdefault(normalize(dist.metadata["Name"]), dist)
        if normalize(product) not in self.dists:
            raise SbomError(f"{product} is not installed in the build venv {sys.prefix}")
        self.product = normalize(product)
        self.paths: dict[str, str] = {}  # a file's path in site-packages -> distribution
        self.names: dict[str, set[str]] = defaultdict(set)  # a .py file's stem -> distributions
        for name, dist in sorted(self.dists.items()):
            for file in dist.files or ():
                self.paths.setdefault(file.as_posix(), name)
                if file.suffix == ".py":
                    self.names[file.stem].add(name)
        self.tops = {
            top: {normalize(d) for d in dists}
            for top, dists in metadata.packages_distributions().items()
        }

    def key(self, dist: str) -> str:
        """The owner key of a distribution: the product, or pkg:pypi/'s name."""
        return OWN if dist == self.product else f"pypi:{dist}"

    def top_owner(self, top: str) -> str | None:
        """The owner of a top-level module by its name alone, if the name says."""
        if self.product in self.tops.get(top, ()) or (PACKAGING / f"{top}.py").exists():
            return OWN  # our package, or a script of packaging/ (entry.py)
        if top in sys.stdlib_module_names:
            return CPYTHON
        dists = self.tops.get(top, set())
        return self.key(next(iter(dists))) if len(dists) == 1 else None

    def module_owner(self, module: str) -> str:
        """The owner of a module of the bootloader's archive."""
        path = module.replace(".", "/")
        for source in (f"{path}.py", f"{path}/__init__.py"):
            if source in self.paths:
                return self.key(self.paths[source])
        owner = self.top_owner(module.partition(".")[0])
        stem = module.rpartition(".")[2]
        if owner is None and len(self.names.get(stem, ())) == 1:
            # PyInstaller's own loader modules, frozen under their bare names.
            owner = self.key(next(iter(self.names[stem])))
        if owner is None:
            raise SbomError(f"no distribution of the build venv owns the frozen module {module}")
        return owner

    def file_owner(self, rel: str) -> str:
        """The owner of a file under _internal/ (a .pyc is its .py's)."""
        for native in NATIVE:
            if any(fnmatch.fnmatchcase(rel, p) for p in native.files):
                return native_key(native)
        if any(fnmatch.fnmatchcase(rel, p) for p in CPYTHON_FILES):
            return CPYTHON
        source = rel.removesuffix(".pyc") + ".py" if rel.endswith(".pyc") else rel
        if source in self.paths:
            return self.key(self.paths[source])
        owner = self.top_owner(re.split(r"[/.]", rel, maxsplit=1)[0])
        if owner is None:
            raise SbomError(f"no distribution of the build venv owns {INTERNAL}{rel}")
        return owner


def occurrences(tree: Tree, venv: Venv) -> dict[str, set[str]]:
    """Each owner -> where in the tarball it is: a top-level entry, a file, an archive module."""
    found: dict[str, set[str]] = defaultdict(set)
    found[OWN].add(LAUNCHER)
    found[venv.key(BOOTLOADER_DIST)].add(BOOTLOADER)
    for name in tree.files:
        if name.startswith(INTERNAL):
            rel = name.removeprefix(INTERNAL)
            owner = venv.file_owner(rel)
            whole = owner.startswith("native:") or owner == GLIBC
            found[owner].add(name if whole else INTERNAL + rel.partition("/")[0])
        elif name not in (LAUNCHER, BOOTLOADER):
            raise SbomError(f"no component owns {name}")
    modules, files = archive_entries(tree.contents[BOOTLOADER])
    for module in modules:
        found[venv.module_owner(module)].add(f"{BOOTLOADER}:{module.partition('.')[0]}")
    for name in files:
        found[venv.file_owner(name)].add(f"{BOOTLOADER}:{name}")
    return found


def check_pins(info: BuildInfo, venv: Venv, carried: Iterable[str], buildinfo: Path) -> None:
    """The build venv must hold what the buildinfo pins, and the buildinfo pin what is carried."""
    for name, pinned in sorted(info.pins.items()):
        dist = venv.dists.get(name)
        if dist is None:
            raise SbomError(f"{name}=={pinned} ({buildinfo}) is not installed in {sys.prefix}")
        if dist.version != pinned:
            raise SbomError(f"{name} is {pinned} in {buildinfo} but {dist.version} in {sys.prefix}")
    for key in carried:
        name = key.removeprefix("pypi:")
        if key.startswith("pypi:") and name not in info.pins:
            raise SbomError(f"the program carries {name}, which {buildinfo} does not pin")


def header(meta: metadata.PackageMetadata, name: str) -> str:
    """A metadata field's first value, or "" where there is none."""
    values = meta.get_all(name) or [""]
    return str(values[0])


def spdx(text: str) -> License | None:
    """``text`` as an SPDX licence identifier or expression, if it is one."""
    declared = LicenseAcknowledgement.DECLARED
    try:
        return LICENSES.make_with_id(text, acknowledgement=declared)
    except InvalidSpdxLicenseException:
        pass
    try:
        return LICENSES.make_with_expression(text, acknowledgement=declared)
    except InvalidLicenseExpressionException:
        return None


def classified(meta: metadata.PackageMetadata) -> tuple[list[str], list[str]]:
    """The licence classifiers' SPDX identifiers, and the names of those that map to none."""
    kinds = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("Lic")]
    return [CLASSIFIERS[k] for k in kinds if k in CLASSIFIERS], [
        k for k in kinds if k not in CLASSIFIERS
    ]


def licences(meta: metadata.PackageMetadata) -> list[License]:
    """A distribution's licences as its metadata declares them, as SPDX where it can."""
    declared = LicenseAcknowledgement.DECLARED
    # License may hold the whole licence text: its first line names it.
    text = (header(meta, "License-Expression") or header(meta, "License")).strip()
    text = text.partition("\n")[0]
    found = spdx(text) if text else None
    if found is not None:
        return [found]  # the classifiers can only be vaguer
    ids, names = classified(meta)
    made: list[License] = [LICENSES.make_with_id(i, acknowledgement=declared) for i in ids]
    names = ([text] if text else []) + names
    return made + [LICENSES.make_with_name(n, acknowledgement=declared) for n in names]


def evidence(ref: str, locations: Iterable[str]) -> ComponentEvidence:
    """Where in the tarball the component ``ref`` was found."""
    # Each occurrence has a bom-ref of its own: the library orders occurrences by it first,
    # and in no fixed order when they have none.
    found = [Occurrence(bom_ref=f"{ref}#{loc}", location=loc) for loc in sorted(locations)]
    return ComponentEvidence(occurrences=found)


def pypi_component(venv: Venv, name: str, locations: set[str]) -> Component:
    """A Python distribution the program carries, from the build venv's metadata."""
    meta = venv.dists[name].metadata
    purl = PackageURL("pypi", name=name, version=meta["Version"])
    return Component(
        name=meta["Name"],
        version=meta["Version"],
        purl=purl,
        bom_ref=str(purl),
        licenses=licences(meta),
        evidence=evidence(str(purl), locations),
    )


def native_version(native: Native, tree: Tree, locations: set[str]) -> str | None:
    """The version the library states inside its files, if it states one."""
    for location in sorted(locations):
        data = tree.contents.get(location, b"")
        match = re.search(native.version, data) if native.version else None
        if match:
            return match[1].decode()
    return None


def native_key(native: Native) -> str:
    """The owner key (and bom-ref) of a native component."""
    return GLIBC if native.name == GLIBC else f"native:{native.name}"


def native_component(native: Native, tree: Tree, locations: set[str]) -> Component:
    """A native library (or data) the program carries."""
    version = native_version(native, tree, locations)
    vendor, _, product = native.cpe.partition(":")
    cpe = f"cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*" if version and vendor else None
    return Component(
        type=native.kind,
        name=native.name,
        version=version,
        cpe=cpe,
        bom_ref=native_key(native),
        evidence=evidence(native_key(native), locations),
        licenses=[LICENSES.make_from_string(native.licence)],
    )


def glibc_component(info: BuildInfo, tree: Tree, locations: set[str]) -> Component:
    """The GNU C library the program carries, as the buildinfo and the library say."""
    native = next(n for n in NATIVE if n.name == GLIBC)
    component = native_component(native, tree, locations)
    if component.version != info.glibc:
        raise SbomError(f"the carried libc is {component.version}; the buildinfo says {info.glibc}")
    component.description = f"The GNU C Library ({info.glibc_build})"
    return component


def cpython_component(info: BuildInfo, locations: set[str]) -> Component:
    """The CPython the program runs on: its runtime, extension modules and standard library."""
    if info.python.split(".")[:2] != [str(v) for v in sys.version_info[:2]]:
        raise SbomError(f"the build used Python {info.python}; run this with that Python")
    return Component(
        name="cpython",
        version=info.python,
        bom_ref=CPYTHON,
        purl=PackageURL("generic", name="cpython", version=info.python),
        cpe=f"cpe:2.3:a:python:python:{info.python}:*:*:*:*:*:*:*",
        licenses=[LICENSES.make_with_id("PSF-2.0")],
        evidence=evidence(CPYTHON, locations),
    )


def debian_component(name: str, version: str, arch: str) -> Component:
    """A Debian package of the build root (the compiler, the C library linked statically)."""
    purl = PackageURL("deb", "debian", name, version, {"arch": arch})
    return Component(
        name=name,
        version=version,
        purl=purl,
        bom_ref=str(purl),
        description="Debian package of the build root",
        properties=[Property(name=f"{PRODUCT}:build-root", value="true")],
    )


def product_component(venv: Venv, version: str, locations: set[str]) -> Component:
    """The program itself: the launcher, the helper's package and the frozen entry script."""
    meta = venv.dists[venv.product].metadata
    if meta["Version"] != version:
        raise SbomError(f"the tarball is {version}; the build venv has {PRODUCT} {meta['Version']}")
    return Component(
        type=ComponentType.APPLICATION,
        name=PRODUCT,
        version=version,
        bom_ref=f"{PRODUCT}@{version}",
        description=header(meta, "Summary"),
        licenses=licences(meta),
        evidence=evidence(f"{PRODUCT}@{version}", locations),
    )


def carried_components(
    info: BuildInfo, tree: Tree, venv: Venv, found: dict[str, set[str]]
) -> list[Component]:
    """A component for each owner of something in the tarball, but the product."""
    natives = {native_key(n): n for n in NATIVE if n.name != GLIBC}
    made = []
    for key, locations in sorted(found.items()):
        if key.startswith("pypi:"):
            made.append(pypi_component(venv, key.removeprefix("pypi:"), locations))
        elif key in natives:
            made.append(native_component(natives[key], tree, locations))
        elif key == GLIBC:
            made.append(glibc_component(info, tree, locations))
        elif key == CPYTHON:
            made.append(cpython_component(info, locations))
    return made


def timestamp(buildinfo: Path) -> datetime:
    """SOURCE_DATE_EPOCH, or else when the buildinfo was written."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.isdigit():
        raise SbomError(f"SOURCE_DATE_EPOCH is not a number of seconds: {epoch!r}")
    seconds = int(epoch) if epoch is not None else int(buildinfo.stat().st_mtime)
    return datetime.fromtimestamp(seconds, UTC)


def make_bom(tarball: Path, buildinfo: Path) -> Bom:
    """The SBOM of the build in ``tarball``, described by ``buildinfo``."""
    named = TARBALL_NAME.fullmatch(tarball.name)
    if not named:
        raise SbomError(f"{tarball.name} is not named {PRODUCT}-<version>-linux-<arch>.tar.gz")
    info = read_buildinfo(buildinfo)
    if info.arch != named["arch"]:
        raise SbomError(f"{buildinfo} is for {info.arch}, {tarball.name} for {named['arch']}")
    tree, venv = read_tree(tarball), Venv(PRODUCT)
    found = occurrences(tree, venv)
    for needed, where in ((CPYTHON, "libpython3*"), (GLIBC, "glibc/libc.so.*")):
        if needed not in found:
            raise SbomError(f"{tarball.name} carries no {needed} ({INTERNAL}{where})")
    check_pins(info, venv, found, buildinfo)
    carried = carried_components(info, tree, venv, found)
    debian = [debian_component(n, v, info.arch) for n, v in sorted(info.debian.items())]
    when = timestamp(buildinfo)
    inputs = f"{tree.digest} {hashlib.sha256(buildinfo.read_bytes()).hexdigest()} {when}"
    product = product_component(venv, named["version"], found[OWN])
    bom = Bom(
        components=carried + debian,
        serial_number=uuid.uuid5(SERIAL_NAMESPACE, inputs),
        metadata=BomMetaData(component=product, timestamp=when, tools=TOOLS),
    )
    bom.register_dependency(product, carried)
    return bom


def render(bom: Bom) -> str:
    """The SBOM as CycloneDX 1.6 JSON, checked against the schema before it is written."""
    text = JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
    invalid = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if invalid is not None:
        raise SbomError(f"the SBOM does not validate: {str(invalid).splitlines()[0]}")
    return text


def main(argv: list[str]) -> int:
    """Write OUT from TARBALL and BUILDINFO; a failure is one line on stderr and status 1."""
    parser = argparse.ArgumentParser(prog="sbom.py", description=DESCRIPTION)
    parser.add_argument("tarball", type=Path)
    parser.add_argument("buildinfo", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        text = render(make_bom(args.tarball, args.buildinfo))
        partial = args.out.with_name(args.out.name + ".part")
        partial.write_text(text, encoding="utf-8")
        partial.replace(args.out)  # never a half-written SBOM under the final name
    except SbomError as error:
        print(f"sbom: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"sbom: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
