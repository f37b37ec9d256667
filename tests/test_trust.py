"""The trusted-path rule: its cases in Python, and the launcher's C twin held to the same answers.

The C side (packaging/trust.c) is built here with AddressSanitizer and
UndefinedBehaviorSanitizer behind a small driver (tests/c/trust_driver.c) and run on
the same generated trees of directories, files and symlinks of varied owners and
modes as the Python side: verdict, message and resolved path must be identical.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from docker_credential_ecr.trust import UntrustedPath, check_dir, first_trusted
from support.users import AS_OTHER, their_python

ROOT = Path(__file__).resolve().parent.parent
OTHER = 54321
EUID = os.geteuid()
as_root = pytest.mark.skipif(EUID != 0, reason="needs root to give files away")


@pytest.fixture(scope="session")
def c_rule(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C rule behind its test driver, built with the sanitizers."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    driver = tmp_path_factory.mktemp("c") / "trust_driver"
    subprocess.run(
        ["gcc", "-Wall", "-Wextra", "-Werror", "-g", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", f"-I{ROOT / 'packaging'}", "-o", str(driver),
         str(ROOT / "tests" / "c" / "trust_driver.c"), str(ROOT / "packaging" / "trust.c")],
        check=True,
    )  # fmt: skip
    return driver


def python_rule(path: str) -> str:
    try:
        return f"ok {check_dir(path, EUID)}"
    except UntrustedPath as exc:
        return f"refused {exc}"


def c_answers(driver: Path, paths: list[str]) -> list[str]:
    proc = subprocess.run(
        [str(driver), *paths], capture_output=True, text=True, check=False, timeout=30
    )
    assert proc.returncode == 0, proc.stderr  # a sanitizer report fails it
    assert proc.stderr == ""
    return proc.stdout.splitlines()


def test_an_own_tree_is_trusted_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to("a/b")
    assert check_dir(str(tmp_path / "link" / "new" / "x"), EUID) == f"{tmp_path}/a/b/new/x"
    assert check_dir(f"{tmp_path}/a/./../a//b/", EUID) == f"{tmp_path}/a/b"


def test_a_directory_writable_by_others_is_refused_unless_sticky(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UntrustedPath, match=r"shared is writable by group and others \(mode 777\)"):
        check_dir(str(shared / "cache"), EUID)
    shared.chmod(0o1777)
    assert check_dir(str(shared / "cache"), EUID) == f"{shared}/cache"
    shared.chmod(0o775)
    with pytest.raises(UntrustedPath, match=r"is writable by group \(mode 775\)"):
        check_dir(str(shared), EUID)


@as_root
def test_a_directory_of_another_user_is_refused_wherever_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    os.chown(home, OTHER, OTHER)
    with pytest.raises(UntrustedPath, match=f"{home} is owned by uid {OTHER}"):
        check_dir(str(home / ".cache" / "docker-credential-ecr"), 0)
    # Reached only through a symlink: still checked.
    (tmp_path / "via").symlink_to(home / ".cache")
    with pytest.raises(UntrustedPath, match=f"{home} is owned by uid {OTHER}"):
        check_dir(str(tmp_path / "via"), 0)


@as_root
def test_a_symlink_of_another_user_is_not_followed(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir(mode=0o1777)
    sticky.chmod(0o1777)
    (tmp_path / "real").mkdir()
    planted = sticky / "docker-credential-ecr-0"
    planted.symlink_to(tmp_path / "real")
    os.lchown(planted, OTHER, OTHER)
    with pytest.raises(UntrustedPath, match=f"{planted} is a symlink owned by uid {OTHER}"):
        check_dir(str(planted), 0)


def test_symlink_loops_and_relative_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(UntrustedPath, match="too many levels of symbolic links"):
        check_dir(str(tmp_path / "loop"), EUID)
    with pytest.raises(UntrustedPath, match="is not an absolute path"):
        check_dir("relative/cache", EUID)


def test_a_file_on_the_way_ends_the_walk_without_a_verdict(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert check_dir(str(tmp_path / "file" / "cache"), EUID) == f"{tmp_path}/file/cache"


def test_first_trusted_says_why_each_refused_candidate_failed(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    chosen, refused = first_trusted([str(loose / "c"), str(tmp_path / "ok")], EUID)
    assert chosen == str(tmp_path / "ok")
    assert refused == [f"{loose}/c: {loose} is writable by group and others (mode 777)"]


NAMES = ("a", "b", "c")
MODES = (0o755, 0o700, 0o775, 0o777, 0o1777, 0o757)
node = st.tuples(
    st.sampled_from(("dir", "dir", "link", "file")),
    st.integers(0, 20),
    st.sampled_from(NAMES),
    st.sampled_from(MODES),
    st.sampled_from((0, OTHER) if EUID == 0 else (EUID,)),
    st.lists(st.sampled_from((*NAMES, "..", ".", "/")), min_size=1, max_size=4),
)
query = st.lists(st.sampled_from((*NAMES, "..", ".", "", "missing")), min_size=1, max_size=6)


def build(root: Path, nodes: list[tuple[str, int, str, int, int, list[str]]]) -> None:
    dirs = [root]
    for kind, parent_index, name, mode, owner, target in nodes:
        path = dirs[parent_index % len(dirs)] / name
        if os.path.lexists(path):
            continue
        if kind == "dir":
            path.mkdir()
            path.chmod(mode)
            dirs.append(path)
        elif kind == "file":
            path.write_text("")
        else:
            absolute = target[0] == "/"
            rest = "/".join(target[1:] if absolute else target)
            path.symlink_to(f"{root}/{rest}" if absolute else rest)
        if EUID == 0:
            os.lchown(path, owner, owner)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(nodes=st.lists(node, max_size=10), queries=st.lists(query, min_size=1, max_size=6))
def test_c_and_python_agree_on_every_tree(
    c_rule: Path,
    tmp_path_factory: pytest.TempPathFactory,
    nodes: list[tuple[str, int, str, int, int, list[str]]],
    queries: list[list[str]],
) -> None:
    root = tmp_path_factory.mktemp("tree")
    build(root, nodes)
    paths = [f"{root}/" + "/".join(q) for q in queries]
    expected = [python_rule(p) for p in paths]
    for answer in expected:
        event(answer.split(" ", 2)[0] if answer.startswith("ok") else answer.split(" is ")[-1][:24])
    assert c_answers(c_rule, paths) == expected


def test_a_resolved_path_too_long_for_its_buffer_is_refused_with_a_reason(
    c_rule: Path, tmp_path: Path
) -> None:
    """The walk stops at a missing component, and what it resolved plus what is left
    does not fit the caller's 8192 bytes: the answer says so (it once said nothing)."""
    deep = tmp_path
    for i in range(14):
        deep = deep / (f"{i:02d}" + "d" * 248)
    deep.mkdir(parents=True)
    missing = "/".join(["m" * 250] * 16)  # about 4 kB, none of it there
    (deep / "link").symlink_to(missing)
    tail = "/".join(["t" * 250] * 4)
    path = f"{deep}/link/{tail}"
    assert c_answers(c_rule, [path]) == [f"refused {path}: path too long"]


# ---- in a user namespace: root's files show as the overflow uid ----

ASKER = """
import os, sys
from trust import UntrustedPath, check_dir
for path in sys.argv[1:]:
    try:
        print("ok", check_dir(path, os.geteuid()))
    except UntrustedPath as exc:
        print("refused", exc)
"""


def in_namespace(
    c_rule: Path, shared: Path, prefix: list[str], paths: list[str]
) -> tuple[list[str], list[str]]:
    """Both rules' answers for ``paths``, asked by commands run behind ``prefix``."""
    module = ROOT / "helper" / "docker_credential_ecr" / "trust.py"
    shutil.copy(module, shared / "trust.py")
    driver = str(shutil.copy(c_rule, shared / "trust_driver"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(shared), "PYTHONDONTWRITEBYTECODE": "1"}

    def ask(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *argv, *paths], capture_output=True, text=True,
                              env=env, cwd="/", check=False, timeout=60)  # fmt: skip

    asked = [ask([their_python(), "-c", ASKER]), ask([driver])]
    for proc in asked:
        assert proc.returncode == 0, proc.stderr
    return asked[0].stdout.splitlines(), asked[1].stdout.splitlines()


@as_root
def test_rootless_namespaces_trust_roots_files_under_the_overflow_uid(
    c_rule: Path, other_user_dir: Path
) -> None:
    """As rootless podman runs the helper: uid 54321 mapped to 0, host root unmapped."""
    for name, mode in (("a", 0o755), ("a/b", 0o755), ("loose", 0o777), ("mine", 0o700)):
        (other_user_dir / name).mkdir(mode=mode)
        (other_user_dir / name).chmod(mode)
    os.chown(other_user_dir / "mine", OTHER, OTHER)
    (other_user_dir / "link").symlink_to("a")
    shared = str(other_user_dir)
    paths = [f"{shared}/a/b/new", f"{shared}/link/b", f"{shared}/loose/x", f"{shared}/mine"]
    rootless = [*AS_OTHER, "unshare", "--user", "--map-root-user", "--"]
    python, c = in_namespace(c_rule, other_user_dir, rootless, paths)
    assert python == [
        f"ok {shared}/a/b/new",
        f"ok {shared}/a/b",
        f"refused {shared}/loose is writable by group and others (mode 777)",
        f"ok {shared}/mine",
    ]
    assert c == python


@as_root
def test_the_overflow_uid_is_nobody_where_root_is_mapped(
    c_rule: Path, other_user_dir: Path
) -> None:
    """In a namespace that maps root (here root's own, 0 to 0) 65534 is anyone unmapped:
    uid 54321's directory shows as 65534 and is refused; so is nobody's on the host."""
    theirs = other_user_dir / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, OTHER, OTHER)
    nobody = other_user_dir / "nobody"
    nobody.mkdir(mode=0o755)
    os.chown(nobody, 65534, 65534)
    paths = [f"{theirs}/x", f"{nobody}/x"]
    mapped = ["unshare", "--user", "--map-root-user", "--"]
    python, c = in_namespace(c_rule, other_user_dir, mapped, paths)
    assert python == [
        f"refused {theirs} is owned by uid 65534",
        f"refused {nobody} is owned by uid 65534",
    ]
    assert c == python
    host_python, host_c = in_namespace(c_rule, other_user_dir, [], paths[1:])
    assert host_python == host_c == [f"refused {nobody} is owned by uid 65534"]
