"""``configure --kubelet``: make this executable the kubelet's ECR image credential provider.

Writes the provider's name (a symlink to this executable) and a CredentialProviderConfig
where RKE2 and K3s look by default, or under ``--kubelet-dir``.  Files someone else
wrote are never changed: the command says what to add to them instead.
"""

from __future__ import annotations

import os

from docker_credential_ecr import files, kubelet, program, registry, trust
from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable

    from docker_credential_ecr.commands.context import Context

# RKE2's and K3s's defaults for --image-credential-provider-{bin-dir,config}.
DEFAULT_DIR = "/var/lib/rancher/credentialprovider"
MARKER = f"# Written by {NAME} configure --kubelet; unconfigure --kubelet removes it."
# Used by the kubelet only for a response without cacheDuration; ours always has one.
DEFAULT_CACHE_DURATION = "6h"


def match_images(aliases: Iterable[str] = ()) -> list[str]:
    """Every ECR host form as a kubelet ``matchImages`` glob, from registry's own tables,
    and each configured alias's own name (the kubelet asks for the host the image names)."""
    images = [f"*.{form.prefix}*.{suffix}" for form, suffix in registry.private_forms()]
    return images + sorted(registry.PUBLIC_HOSTS) + sorted(aliases)


def render(aliases: Iterable[str] = ()) -> str:
    """The CredentialProviderConfig (YAML) naming this helper for every ECR host form and
    the aliases."""
    lines = [
        MARKER,
        "apiVersion: kubelet.config.k8s.io/v1",
        "kind: CredentialProviderConfig",
        "providers:",
        f"  - name: {kubelet.PROGRAM}",
        f"    apiVersion: {kubelet.API_VERSIONS[0]}",
        f'    args: ["{kubelet.ACTION}"]',
        f'    defaultCacheDuration: "{DEFAULT_CACHE_DURATION}"',
        "    matchImages:",
        *(f'      - "{image}"' for image in match_images(aliases)),
    ]
    return "\n".join(lines) + "\n"


def dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--kubelet-dir``, as configure and doctor both take it."""
    parser.add_argument(
        "--kubelet-dir",
        default=DEFAULT_DIR,
        help="holds bin/ and config.yaml (default: RKE2's and K3s's, %(default)s)",
    )


def paths(directory: str) -> tuple[str, str]:
    """The provider's link and the configuration file under ``directory``."""
    return os.path.join(directory, "bin", kubelet.PROGRAM), os.path.join(directory, "config.yaml")


def setup(args: argparse.Namespace, ctx: Context) -> int:
    """Link the provider and write the configuration, or say why not."""
    link, config = paths(args.kubelet_dir)
    executable = os.path.realpath(args.executable or _this_executable(ctx))
    refused = _foreign(link, config, executable)
    if args.dry_run:
        ctx.out.write(f"# {link} -> {executable}\n# {config}:\n{render(ctx.file.aliases)}")
        if refused:  # what the real run would say, so that the dry run does not mislead
            ctx.err.write(f"{refused} (a real run would stop here)\n")
        return 0
    if refused:
        raise InputError(refused)
    _check_executable(executable)
    _make_trusted_dirs(os.path.dirname(link))
    if os.path.realpath(link) != executable:
        files.remove(link)
        os.symlink(executable, link)
    files.replace_file(config, render(ctx.file.aliases).encode(), 0o644)
    ctx.out.write(
        f"{link} -> {executable}\n{config}: written\n"
        "restart the kubelet's service (rke2-server, rke2-agent, k3s or k3s-agent) to use it\n"
    )
    return 0


def teardown(args: argparse.Namespace, ctx: Context) -> int:
    """Remove the link and the configuration, if they are ours."""
    link, config = paths(args.kubelet_dir)
    try:
        executable = os.path.realpath(args.executable or _this_executable(ctx))
    except InputError:
        executable = ""
    found = ((link, _links_to_us(link, executable)), (config, ours(config)))
    mine = [path for path, is_ours in found if is_ours]
    if not args.dry_run:
        for path in mine:
            os.unlink(path)
    done = "would be removed" if args.dry_run else "removed"
    ctx.out.write("".join(f"{path}: {done}\n" for path in mine) or "nothing of ours found\n")
    return 0


def _check_executable(path: str) -> None:
    """Refuse to have the kubelet run, as root, a program that anyone else could replace."""
    import stat

    euid = os.geteuid()
    try:
        trust.check_dir(os.path.dirname(path), euid)
        info = os.stat(path)
    except OSError as exc:
        raise InputError(f"{NAME} configure --kubelet: not linking {path}: {exc}") from None
    if not stat.S_ISREG(info.st_mode) or info.st_uid not in (0, euid) or info.st_mode & 0o022:
        raise InputError(
            f"{NAME} configure --kubelet: not linking {path}: it must be a regular file "
            f"owned by root (or uid {euid}) that no one else can write"
        )


def _make_trusted_dirs(path: str) -> None:
    """Make ``path`` (like ``mkdir -p``, mode 0755) only under directories only root can change.

    The kubelet runs what is linked there as root.
    """
    existing = os.path.abspath(path)
    missing = []
    while not os.path.isdir(existing):
        missing.append(os.path.basename(existing))
        existing = os.path.dirname(existing)
    trust.check_dir(existing, os.geteuid())
    for name in reversed(missing):
        existing = os.path.join(existing, name)
        os.mkdir(existing, 0o755)
        # mkdir's mode passes through the umask (002 would make it 0775, which the
        # check below refuses); the parent passed the rule, so no one swaps it meanwhile.
        os.chmod(existing, 0o755)  # noqa: S103 - the kubelet's directories are world-readable
    trust.check_dir(os.path.abspath(path), os.geteuid())


def _foreign(link: str, config: str, executable: str) -> str | None:
    """Why ``link`` or ``config`` must not be replaced (another's), or None."""
    if os.path.lexists(link) and not _links_to_us(link, executable):
        return (
            f"{NAME} configure --kubelet: {link} is another program (AWS's plugin?); "
            "move it away first, then run this again"
        )
    if os.path.lexists(config) and not ours(config):
        return (
            f"{NAME} configure --kubelet: {config} was not written by {NAME}; add the "
            f"provider that '{NAME} configure --kubelet --dry-run' prints to it instead"
        )
    return None


def _links_to_us(path: str, executable: str) -> bool:
    """A link to an installed helper, or to this one under any name (a release's file)."""
    if not os.path.islink(path):
        return False
    target = os.path.realpath(path)
    return os.path.basename(target) == NAME or target == executable


def ours(path: str) -> bool:
    """Whether the file at ``path`` is one ``configure --kubelet`` wrote."""
    found = files.read_regular(path)
    return found is not None and found[0].startswith(MARKER.encode())


def _this_executable(ctx: Context) -> str:
    """The installed helper: the launcher of a built executable, the script run, or PATH's."""
    import shutil
    import sys

    run = program.command(ctx.environ)
    # Only a launcher is a file that was installed: neither this Python nor a bundle
    # run without its launcher is one the kubelet should run.
    if run[0] != sys.executable:
        return run[0]
    if os.path.basename(sys.argv[0]) == NAME and "/" in sys.argv[0]:
        return os.path.abspath(sys.argv[0])
    found = shutil.which(NAME, path=ctx.environ.get("PATH"))
    if found:
        return found
    raise InputError(f"{NAME} configure --kubelet: cannot find {NAME}; name it with --executable")
