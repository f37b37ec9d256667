"""configure --kubelet in-process: the provider config, its dry run, its link, and its refusals."""

from __future__ import annotations

import argparse
import fnmatch
import os
from pathlib import Path

import pytest

from docker_credential_ecr import kubelet
from docker_credential_ecr.commands import kubeletsetup
from docker_credential_ecr.commands.context import Context
from docker_credential_ecr.errors import InputError
from support.files import mode
from support.hosts import every_host_form
from support.services import ALIAS, World, context, errors, output
from support.users import OTHER

NOT_ECR = [
    "docker.io",
    "registry.example.com",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    "123456789012.dkr.ecr.us-east-1.evil.example",
    "public.ecr.aws.evil.example",
    "gallery.ecr.aws",
]
REFUSED = "docker-credential-ecr configure --kubelet"


def kubelet_matches(pattern: str, host: str) -> bool:
    """The kubelet's matchImages rule for a host: as many labels, each matching its glob."""
    labels, globs = host.split("."), pattern.split(".")
    return len(labels) == len(globs) and all(map(fnmatch.fnmatchcase, labels, globs))


def a_program(place: Path, name: str = "docker-credential-ecr") -> Path:
    """An executable ``name`` in a new directory ``place`` (both 0755), for setup to link."""
    place.mkdir(mode=0o755)
    place.chmod(0o755)
    program = place / name
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def args(directory: Path, executable: Path | None, *, dry_run: bool = False) -> argparse.Namespace:
    """The options setup and teardown read, as configure's parser gives them."""
    return argparse.Namespace(
        kubelet_dir=str(directory),
        executable=None if executable is None else str(executable),
        dry_run=dry_run,
    )


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A command context whose PATH holds no helper: the executable must be named."""
    (tmp_path / "empty").mkdir()
    return context(World(tmp_path), tmp_path, {"PATH": str(tmp_path / "empty")})


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """The kubelet's directory, made 0755 as a system's would be; bin/ is setup's to make."""
    made = tmp_path / "credentialprovider"
    made.mkdir(mode=0o755)
    made.chmod(0o755)
    return made


def test_every_ecr_host_form_and_no_other_host_matches_the_kubelets_globs() -> None:
    images = kubeletsetup.match_images()
    for host in every_host_form():
        assert [p for p in images if kubelet_matches(p, host)], host
    for host in NOT_ECR:
        assert not [p for p in images if kubelet_matches(p, host)], host
    # Each glob is there for a form: none matches no ECR host.
    assert all(any(kubelet_matches(p, h) for h in every_host_form()) for p in images)


def test_the_config_is_marked_ours_and_lists_every_glob_for_the_provider() -> None:
    lines = kubeletsetup.render().splitlines()
    assert lines[0] == kubeletsetup.MARKER
    assert lines[1:9] == [
        "apiVersion: kubelet.config.k8s.io/v1",
        "kind: CredentialProviderConfig",
        "providers:",
        "  - name: ecr-credential-provider",
        "    apiVersion: credentialprovider.kubelet.k8s.io/v1",
        '    args: ["get-credentials"]',
        '    defaultCacheDuration: "6h"',
        "    matchImages:",
    ]
    assert lines[9:] == [f'      - "{image}"' for image in kubeletsetup.match_images()]


def test_a_dry_run_names_the_executable_resolved_and_makes_nothing(
    ctx: Context, tmp_path: Path
) -> None:
    program = a_program(tmp_path / "opt")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker-credential-ecr").symlink_to(program)
    directory = tmp_path / "credentialprovider"
    given = args(directory, tmp_path / "bin" / "docker-credential-ecr", dry_run=True)
    assert kubeletsetup.setup(given, ctx) == 0
    link, config = directory / "bin" / kubelet.PROGRAM, directory / "config.yaml"
    assert output(ctx) == f"# {link} -> {program}\n# {config}:\n{kubeletsetup.render([ALIAS])}"
    assert not directory.exists()


@pytest.mark.usefixtures("umask_000")
def test_setup_links_writes_with_its_own_modes_and_says_to_restart(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "opt")
    assert kubeletsetup.setup(args(directory, program), ctx) == 0
    link, config = directory / "bin" / kubelet.PROGRAM, directory / "config.yaml"
    assert output(ctx) == (
        f"{link} -> {program}\n{config}: written\n"
        "restart the kubelet's service (rke2-server, rke2-agent, k3s or k3s-agent) to use it\n"
    )
    assert os.readlink(link) == str(program)
    assert config.read_text() == kubeletsetup.render([ALIAS])  # World's configuration has one
    assert (mode(directory / "bin"), mode(config)) == (0o755, 0o644)


def test_setup_replaces_its_own_link_and_config_from_an_older_install(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "new")
    link, config = directory / "bin" / kubelet.PROGRAM, directory / "config.yaml"
    link.parent.mkdir(mode=0o755)
    link.symlink_to(tmp_path / "old" / "docker-credential-ecr")  # removed since: dangling
    config.write_text(f"{kubeletsetup.MARKER}\nproviders: []\n")
    assert kubeletsetup.setup(args(directory, program), ctx) == 0
    assert os.readlink(link) == str(program)
    assert config.read_text() == kubeletsetup.render([ALIAS])


def test_a_link_to_another_program_is_refused_and_kept(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "opt")
    theirs = a_program(tmp_path / "aws", kubelet.PROGRAM)
    link = directory / "bin" / kubelet.PROGRAM
    link.parent.mkdir(mode=0o755)
    link.symlink_to(theirs)
    with pytest.raises(InputError) as refused:
        kubeletsetup.setup(args(directory, program), ctx)
    assert str(refused.value) == (
        f"{REFUSED}: {link} is another program (AWS's plugin?); move it away first, "
        "then run this again"
    )
    assert os.readlink(link) == str(theirs)
    assert not (directory / "config.yaml").exists()


def test_a_config_that_does_not_begin_with_the_marker_is_not_ours(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "opt")
    config = directory / "config.yaml"
    config.write_text(f"providers: []\n{kubeletsetup.MARKER}\n")
    with pytest.raises(InputError) as refused:
        kubeletsetup.setup(args(directory, program), ctx)
    assert str(refused.value) == (
        f"{REFUSED}: {config} was not written by docker-credential-ecr; add the provider that "
        "'docker-credential-ecr configure --kubelet --dry-run' prints to it instead"
    )
    assert config.read_text() == f"providers: []\n{kubeletsetup.MARKER}\n"
    assert kubeletsetup.teardown(args(directory, program), ctx) == 0
    assert output(ctx) == "nothing of ours found\n"
    assert config.exists()
    # The dry run prints the provider to add, and says that the real run would stop.
    assert kubeletsetup.setup(args(directory, program, dry_run=True), ctx) == 0
    assert errors(ctx) == f"{refused.value} (a real run would stop here)\n"
    assert f"  - name: {kubelet.PROGRAM}\n" in output(ctx)
    assert config.read_text() == f"providers: []\n{kubeletsetup.MARKER}\n"


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_an_executable_that_is_not_a_file_is_refused_before_anything_is_made(
    ctx: Context, tmp_path: Path, what: str
) -> None:
    (tmp_path / "opt").mkdir()
    program = tmp_path / "opt" / "docker-credential-ecr"
    if what == "directory":
        program.mkdir()
    directory = tmp_path / "credentialprovider"
    with pytest.raises(InputError) as refused:
        kubeletsetup.setup(args(directory, program), ctx)
    why = (
        f"[Errno 2] No such file or directory: '{program}'"
        if what == "missing"
        else f"it must be a regular file owned by root (or uid {os.geteuid()}) "
        "that no one else can write"
    )
    assert str(refused.value) == f"{REFUSED}: not linking {program}: {why}"
    assert not directory.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file away")
def test_an_executable_another_user_owns_is_refused(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "opt")
    os.chown(program, OTHER, OTHER)
    with pytest.raises(InputError) as refused:
        kubeletsetup.setup(args(directory, program), ctx)
    assert str(refused.value).startswith(f"{REFUSED}: not linking {program}: it must be ")
    assert list(directory.iterdir()) == []


def test_when_this_helper_cannot_be_found_setup_refuses_and_teardown_finds_its_link(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    with pytest.raises(InputError) as refused:
        kubeletsetup.setup(args(directory, None, dry_run=True), ctx)
    assert str(refused.value) == (
        f"{REFUSED}: cannot find docker-credential-ecr; name it with --executable"
    )
    link = directory / "bin" / kubelet.PROGRAM
    link.parent.mkdir()
    link.symlink_to(tmp_path / "gone" / "docker-credential-ecr")
    assert kubeletsetup.teardown(args(directory, None), ctx) == 0
    assert output(ctx) == f"{link}: removed\n"
    assert not os.path.lexists(link)


def test_a_teardown_dry_run_names_what_is_ours_and_removes_nothing(
    ctx: Context, tmp_path: Path, directory: Path
) -> None:
    program = a_program(tmp_path / "opt", "docker-credential-ecr-0.1.0-linux-amd64")
    link, config = directory / "bin" / kubelet.PROGRAM, directory / "config.yaml"
    link.parent.mkdir()
    link.symlink_to(program)
    config.write_text(kubeletsetup.render())
    assert kubeletsetup.teardown(args(directory, program, dry_run=True), ctx) == 0
    assert output(ctx) == f"{link}: would be removed\n{config}: would be removed\n"
    assert (os.readlink(link), config.read_text()) == (str(program), kubeletsetup.render())


def test_a_new_kubelet_dir_is_made_0755_whatever_the_umask(ctx: Context, tmp_path: Path) -> None:
    program = a_program(tmp_path / "opt")
    directory = tmp_path / "credentialprovider"
    old = os.umask(0o002)
    try:
        assert kubeletsetup.setup(args(directory, program), ctx) == 0
    finally:
        os.umask(old)
    assert (mode(directory), mode(directory / "bin")) == (0o755, 0o755)


def test_each_alias_is_matched_by_the_kubelet_as_the_host_it_asks_for() -> None:
    images = kubeletsetup.match_images(["registry.example.com", "proxy.internal"])
    for alias in ("registry.example.com", "proxy.internal"):
        assert any(kubelet_matches(p, alias) for p in images), alias
    assert not any(kubelet_matches(p, "other.example.com") for p in images)
    assert kubeletsetup.match_images() == kubeletsetup.match_images([])[: len(images) - 2]
