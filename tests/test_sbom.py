"""packaging/sbom.py: the SBOM of the built tarball lists everything the frozen program carries.

cyclonedx-python-lib is in .venv-sbom (packaging/requirements-sbom.txt), PyInstaller and the
carried distributions in .venv-build: the generator, the schema check and the listing of
the frozen modules run in the first with the second's site-packages ahead of its own (as
scripts/lib/setup.sh's ``sbom`` runs it), as subprocesses; what the tests decide is
decided here, from the tarball itself.  They skip where scripts/release has not made
.venv-sbom, unless DOCKER_CREDENTIAL_ECR_RELEASE_TESTS is set (scripts/test-release).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pack import debian_arch

from docker_credential_ecr import __version__
from support.paths import ROOT

PRODUCT = "docker-credential-ecr"
NAME = f"{PRODUCT}-{__version__}-linux-{debian_arch()}"
DIST = ROOT / "dist"
TARBALL, BUILDINFO = f"{NAME}.tar.gz", f"{NAME}.buildinfo"
BUILD_PYTHON = ROOT / ".venv-build" / "bin" / "python"
SBOM_PYTHON = ROOT / ".venv-sbom" / "bin" / "python"
REQUIRED = bool(os.environ.get("DOCKER_CREDENTIAL_ECR_RELEASE_TESTS"))
SBOM = ROOT / "packaging" / "sbom.py"
INTERNAL = f"{PRODUCT}/_internal/"
BOOTLOADER = f"{PRODUCT}/{PRODUCT}.bin"
# The spec's script (packaging/entry.py), frozen in the bootloader's archive as "entry".
OUR_MODULES = {"docker_credential_ecr", "entry"}
# Tools that freeze the program, and are not in it.
BUILD_ONLY = {"altgraph", "packaging", "pyinstaller-hooks-contrib", "setuptools"}

# Run in the build venv: the modules frozen in the bootloader's archive (and its PYZ), and
# what owns a top-level name there.  PyInstaller's own bootstrap modules are frozen under
# their bare names, so their owner is found from the files of PyInstaller/loader/.
FROZEN = r"""
import json, sys
from importlib import metadata
from PyInstaller.archive.readers import CArchiveReader

archive = CArchiveReader(sys.argv[1])
modules = []
for name, (*_, typecode) in archive.toc.items():
    if typecode in "mMs":
        modules.append(name)
    elif typecode == "z":
        modules.extend(archive.open_embedded_archive(name).toc)
loaders = {}
for dist in metadata.distributions():
    for file in dist.files or ():
        if file.suffix == ".py" and file.parent.as_posix() == "PyInstaller/loader":
            loaders[file.stem] = [dist.metadata["Name"]]
print(json.dumps({"modules": modules, "owners": {**metadata.packages_distributions(), **loaders},
                  "stdlib": sorted(sys.stdlib_module_names)}))
"""

# Run in the build venv: cyclonedx-python-lib's own validator, for the document's version.
VALIDATE = r"""
import json, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

text = open(sys.argv[1], encoding="utf-8").read()
version = SchemaVersion.from_version(json.loads(text)["specVersion"])
error = JsonStrictValidator(version).validate_str(text)
print(error if error is not None else "valid")
"""


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Frozen:
    """What the built program carries, from the tarball and its bootloader's archive."""

    files: tuple[str, ...]  # every file and link of the tarball
    modules: dict[str, str]  # each top-level module -> a file (or archive entry) holding it
    owners: dict[str, list[str]]  # top-level module -> distributions (build venv)
    stdlib: frozenset[str]


def build_python(
    args: list[str], tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run .venv-sbom's Python over .venv-build's site-packages with ``args``, temporary
    files under ``tmp``."""
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": str(tmp),
            "PYTHONPATH": build_site()}  # fmt: skip
    return subprocess.run(
        [str(SBOM_PYTHON), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def build_site() -> str:
    """.venv-build's site-packages."""
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    found = subprocess.run([str(BUILD_PYTHON), "-c", where], capture_output=True, text=True,
                           check=True)  # fmt: skip
    return found.stdout.strip()


def module_name(rel: str) -> str | None:
    """The top-level module a file under _internal/ belongs to; None if it is no module's."""
    if rel.startswith("glibc/") or re.fullmatch(r"lib[^/]*\.so(\.[0-9.]+)?", rel):
        return None  # native libraries: the occurrences test covers them
    if re.fullmatch(r"python3\.\d+/lib-dynload/[^/]+\.so", rel):
        return rel.rpartition("/")[2].partition(".")[0]  # the standard library's extensions
    return re.split(r"[/.]", rel, maxsplit=1)[0]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's directory: a copy of the build's tarball and buildinfo, the SBOMs made."""
    if not (DIST / TARBALL).exists() or not (DIST / BUILDINFO).exists():
        pytest.skip(f"no {TARBALL} and .buildinfo in dist/: run scripts/build-binary")
    tmp = tmp_path_factory.mktemp("sbom")
    probe = ["-c", "import cyclonedx.validation.json, PyInstaller"]
    if not (BUILD_PYTHON.exists() and SBOM_PYTHON.exists()) or build_python(probe, tmp).returncode:
        why = "no .venv-sbom with cyclonedx-python-lib beside .venv-build (scripts/release)"
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    # A copy, so that a build replacing dist/ meanwhile changes no test's input; copy2 keeps
    # the buildinfo's modification time, the SBOM's timestamp.
    for name in (TARBALL, BUILDINFO):
        shutil.copy2(DIST / name, tmp / name)
    return tmp


def generate(tmp: Path, out: str, env: dict[str, str] | None = None) -> Path:
    """Run packaging/sbom.py on the built tarball; the SBOM's path."""
    path = tmp / out
    done = build_python([str(SBOM), str(tmp / TARBALL), str(tmp / BUILDINFO), str(path)], tmp, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return path


@pytest.fixture(scope="module")
def sbom_path(tmp: Path) -> Path:
    """The SBOM of the built tarball."""
    return generate(tmp, "first.cdx.json")


@pytest.fixture(scope="module")
def sbom(sbom_path: Path) -> dict[str, Any]:
    """The SBOM of the built tarball, parsed."""
    parsed: dict[str, Any] = json.loads(sbom_path.read_text())
    return parsed


@pytest.fixture(scope="module")
def frozen(tmp: Path) -> Frozen:
    """Everything the built program carries: files, and top-level modules where they are."""
    with tarfile.open(tmp / TARBALL) as tar:
        files = tuple(sorted(m.name for m in tar if not m.isdir()))
        bootloader = tar.extractfile(BOOTLOADER)
        assert bootloader is not None
        (tmp / "bootloader").write_bytes(bootloader.read())
    done = build_python(["-c", FROZEN, str(tmp / "bootloader")], tmp)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    modules: dict[str, str] = {}
    for name in files:
        top = module_name(name.removeprefix(INTERNAL)) if name.startswith(INTERNAL) else None
        if top is not None:
            modules.setdefault(top, name)
    for module in listed["modules"]:
        modules.setdefault(module.partition(".")[0], f"{BOOTLOADER}:{module}")
    return Frozen(files, modules, listed["owners"], frozenset(listed["stdlib"]))


def owners(top: str, frozen: Frozen) -> set[str]:
    """Who may own a top-level module: "product", "cpython" or "pypi:<name>"s."""
    if top in OUR_MODULES:
        return {"product"}
    if top in frozen.stdlib:
        return {"cpython"}
    return {f"pypi:{normalize(d)}" for d in frozen.owners.get(top, [])}


def listed(sbom: dict[str, Any]) -> set[str]:
    """The owners the SBOM lists, named as owners() names them."""
    found = {"product"} if sbom["metadata"]["component"]["name"] == PRODUCT else set()
    for component in sbom.get("components", []):
        purl = component.get("purl", "")
        if purl.startswith("pkg:pypi/"):
            found.add("pypi:" + normalize(purl.removeprefix("pkg:pypi/").partition("@")[0]))
        elif component["name"] == "cpython":
            found.add("cpython")
    return found


def orphans(sbom: dict[str, Any], frozen: Frozen) -> list[str]:
    """The modules of the program that no component of ``sbom`` owns, with where they are."""
    have = listed(sbom)
    return sorted(
        f"{top} ({where}; owners: {sorted(owners(top, frozen)) or 'none known'})"
        for top, where in frozen.modules.items()
        if not owners(top, frozen) & have
    )


def uncovered(sbom: dict[str, Any], files: tuple[str, ...]) -> list[str]:
    """The files of the tarball that no component's evidence names, nor a folder of theirs."""
    components = [sbom["metadata"]["component"], *sbom.get("components", [])]
    places = {
        occurrence["location"]
        for component in components
        for occurrence in component.get("evidence", {}).get("occurrences", [])
    }
    return [
        name
        for name in files
        if not any("/".join(name.split("/")[:n]) in places for n in range(1, name.count("/") + 2))
    ]


def component(sbom: dict[str, Any], name: str) -> dict[str, Any]:
    """The component called ``name``."""
    found: list[dict[str, Any]] = [c for c in sbom["components"] if c["name"] == name]
    assert len(found) == 1, f"{len(found)} components called {name}"
    return found[0]


def test_the_sbom_validates_against_the_cyclonedx_schema(sbom_path: Path, tmp: Path) -> None:
    done = build_python(["-c", VALIDATE, str(sbom_path)], tmp)
    assert (done.returncode, done.stdout.strip()) == (0, "valid"), done.stderr


def test_the_schema_check_can_fail(sbom: dict[str, Any], tmp: Path) -> None:
    broken = tmp / "broken.cdx.json"
    broken.write_text(json.dumps({**sbom, "serialNumber": "not a uuid"}))
    done = build_python(["-c", VALIDATE, str(broken)], tmp)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != "valid"


def test_every_frozen_module_belongs_to_a_listed_component(
    sbom: dict[str, Any], frozen: Frozen
) -> None:
    # The listing works: a package of _internal/, a module of the bootloader's archive.
    assert {"boto3", "pyimod01_archive", "entry", "struct"} <= frozen.modules.keys()
    assert orphans(sbom, frozen) == []


def test_the_module_check_names_a_module_whose_component_is_missing(
    sbom: dict[str, Any], frozen: Frozen
) -> None:
    without = {**sbom, "components": [c for c in sbom["components"] if c["name"] != "jmespath"]}
    left = orphans(without, frozen)
    assert [o.partition(" ")[0] for o in left] == ["jmespath"], left
    assert "pypi:jmespath" in left[0]


def test_every_file_of_the_tarball_is_in_a_components_evidence(
    sbom: dict[str, Any], frozen: Frozen
) -> None:
    assert uncovered(sbom, frozen.files) == []
    without = {**sbom, "components": [c for c in sbom["components"] if c["name"] != "glibc"]}
    assert f"{INTERNAL}glibc/libc.so.6" in uncovered(without, frozen.files)


def test_the_sbom_lists_the_product_the_runtime_and_the_build_root(
    sbom: dict[str, Any], tmp: Path
) -> None:
    product = sbom["metadata"]["component"]
    assert (product["name"], product["version"]) == (PRODUCT, __version__)
    assert product["type"] == "application"
    assert sbom["specVersion"] in ("1.5", "1.6", "1.7")
    buildinfo = (tmp / BUILDINFO).read_text().splitlines()
    python = next(line for line in buildinfo if line.startswith("python: ")).split()[1]
    assert component(sbom, "cpython")["version"] == python
    glibc = next(line for line in buildinfo if line.startswith("glibc (carried): "))
    assert glibc.endswith(" " + component(sbom, "glibc")["version"])
    purls = {c.get("purl") for c in sbom["components"]}
    for line in buildinfo:
        if line.startswith("debian: "):
            name, version = (quote(part, safe=".-~:") for part in line[8:].split())
            assert f"pkg:deb/debian/{name}@{version}?arch={debian_arch()}" in purls, line


def test_each_python_distribution_has_its_pinned_version_and_a_licence(
    sbom: dict[str, Any], tmp: Path
) -> None:
    pins = {}
    for line in (tmp / BUILDINFO).read_text().splitlines():
        if line.startswith("pypi: "):
            name, _, version = line.removeprefix("pypi: ").partition("==")
            pins[normalize(name)] = version
    pypi = [c for c in sbom["components"] if c.get("purl", "").startswith("pkg:pypi/")]
    assert {"boto3", "botocore", "pyinstaller"} <= {normalize(c["name"]) for c in pypi}
    for dist in pypi:
        assert dist["purl"] == f"pkg:pypi/{normalize(dist['name'])}@{dist['version']}"
        assert pins[normalize(dist["name"])] == dist["version"]
        assert dist["licenses"], dist["name"]
    # The build tools are not in the program: only PyInstaller's bootloader is.
    assert not BUILD_ONLY & {normalize(c["name"]) for c in pypi}
    bootloader = component(sbom, "pyinstaller")["evidence"]["occurrences"]
    assert {"location": BOOTLOADER} in [{"location": o["location"]} for o in bootloader]


def test_two_runs_give_the_same_bytes(sbom_path: Path, tmp: Path) -> None:
    again = generate(tmp, "again.cdx.json", {"PYTHONHASHSEED": "1"})
    assert again.read_bytes() == sbom_path.read_bytes()
    dated = generate(tmp, "dated.cdx.json", {"SOURCE_DATE_EPOCH": "1700000000"})
    assert json.loads(dated.read_text())["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert generate(tmp, "dated2.cdx.json", {"SOURCE_DATE_EPOCH": "1700000000"}).read_bytes() == (
        dated.read_bytes()
    )


def _line(pattern: str, replacement: str) -> Callable[[str], str]:
    """A change to the real buildinfo: each line matching ``pattern`` becomes ``replacement``."""
    return lambda real: re.sub(pattern, replacement, real, flags=re.MULTILINE)


# A broken buildinfo, made from the real one -> what the one-line error says.
BAD_BUILDINFOS: dict[str, tuple[Callable[[str], str | bytes] | None, str]] = {
    "missing": (None, "cannot read the buildinfo"),
    "garbled": (lambda _: "garbage\n", "not a buildinfo line: 'garbage'"),
    "empty": (lambda _: "", "no architecture"),
    "not-text": (lambda _: b"\xff\xfe", "cannot read the buildinfo"),
    "bad-pin": (_line(r"^pypi: boto3==", "pypi: boto3="), "not a buildinfo line: 'pypi: boto3="),
    "no-glibc": (_line(r"^glibc .*\n", ""), "no glibc (carried): line"),
    "other-arch": (_line(r"^architecture: .*$", "architecture: s390x"), "is for s390x"),
    "wrong-pin": (_line(r"^pypi: six==.*$", "pypi: six==0.0.1"), "six is 0.0.1 in"),
    "unpinned": (_line(r"^pypi: six==.*\n", ""), "carries six, which"),
    "bad-epoch": (lambda real: real + "source-date-epoch: yesterday\n", "'source-date-epoch: y"),
}


@pytest.mark.parametrize("case", sorted(BAD_BUILDINFOS))
def test_a_bad_buildinfo_is_one_line_and_a_failure(tmp: Path, case: str) -> None:
    change, says = BAD_BUILDINFOS[case]
    path = tmp / case / BUILDINFO
    path.parent.mkdir()
    made = change((tmp / BUILDINFO).read_text()) if change else None
    if isinstance(made, bytes):
        path.write_bytes(made)
    elif made is not None:
        path.write_text(made)
    out = tmp / case / "out.cdx.json"
    done = build_python([str(SBOM), str(tmp / TARBALL), str(path), str(out)], tmp)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("sbom: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr
    assert not out.exists()
