"""``doctor --kubelet``: the registries through the kubelet's eyes.

It reads the kubelet's ``CredentialProviderConfig``, finds our provider and its program,
and runs the program as the kubelet would: its ``args``, the environment the kubelet
gives it (RKE2's or K3s' service environment files, which are the kubelet's own, and the
provider's ``env:``), nothing of the shell's.  So "works from my shell, fails in the
kubelet" shows here as the one line the kubelet would log.
"""

from __future__ import annotations

import json
import os

from docker_credential_ecr import fileconfig, kubelet, trust
from docker_credential_ecr.commands.context import known_hosts
from docker_credential_ecr.errors import NAME, HelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.commands.doctor import Report

# The services that run the kubelet on RKE2 and K3s read these (those that exist).
ENVIRONMENT_FILES = (
    "/etc/default/rke2-server", "/etc/default/rke2-agent",
    "/etc/sysconfig/rke2-server", "/etc/sysconfig/rke2-agent",
    "/etc/systemd/system/k3s.service.env", "/etc/systemd/system/k3s-agent.service.env",
    "/etc/default/k3s", "/etc/default/k3s-agent",
    "/etc/sysconfig/k3s", "/etc/sysconfig/k3s-agent",
)  # fmt: skip
# The provider names the kubelet may run us by (docs/kubernetes.md): the link named as
# AWS's plugin is, or the executable itself with args: ["get-credentials"].
PROVIDER_NAMES = (kubelet.PROGRAM, NAME)
# What systemd gives a service before its environment files.
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def check(
    report: Report, ctx: Context, config_path: str, bin_dir: str, env_files: Sequence[str]
) -> None:
    """Report what a pod's pull from each registry would get from the kubelet's provider."""
    provider = _provider(report, config_path)
    program = None if provider is None else _program(report, provider, bin_dir)
    if provider is None or program is None:
        return
    environ = environment(env_files, _list(provider, "env"))
    args = [str(a) for a in _list(provider, "args")]
    globs = [str(g) for g in _list(provider, "matchImages")]
    seen = _aliases_seen(report, environ)
    unseen = set() if seen is None else set(ctx.file.aliases) - set(seen)
    for host in sorted({*known_hosts(ctx), *ctx.file.aliases}):
        if not _covered(host, globs):
            report.problem(
                f"kubelet: matchImages in {config_path} does not cover {host}",
                _match_fix(config_path),
            )
        elif host in unseen:
            _unseen_alias(report, host, environ)
        else:
            _ask(report, host, [program, *args], environ)


def _program(report: Report, provider: dict[str, object], bin_dir: str) -> str | None:
    """The provider's program under ``bin_dir``, if it is there and trusted (else the problem)."""
    program = os.path.join(bin_dir, str(provider["name"]))
    why = trust.check_file(program, os.geteuid())
    if not os.path.isfile(program) or why:
        report.problem(
            f"kubelet: the provider {program} is {why or 'missing'}",
            "docker-credential-ecr configure --kubelet",
        )
        return None
    return program


def _covered(host: str, globs: Sequence[str]) -> bool:
    """Whether the kubelet would ask the provider for an image of ``host``."""
    return any(kubelet.matches(glob, f"{host}/doctor/check:latest") for glob in globs)


def _unseen_alias(report: Report, host: str, environ: Mapping[str, str]) -> None:
    """The alias is the shell's configuration's, not in the files the provider reads."""
    report.problem(
        f"kubelet: {host}: the provider does not know this alias: the configuration "
        f"it reads ({', '.join(fileconfig.files_for(environ))}) does not name it",
        f"put the [aliases] in {fileconfig.SYSTEM_FILE}, or name the file that has "
        "them with DOCKER_CREDENTIAL_ECR_CONFIG in the provider's env:",
    )


def _match_fix(config_path: str) -> str:
    """How to cover every registry: ours is rewritten; anyone else's is edited by hand."""
    from docker_credential_ecr.commands import kubeletsetup

    if kubeletsetup.ours(config_path) and os.path.basename(config_path) == "config.yaml":
        directory = os.path.dirname(config_path)
        return (
            f"{NAME} configure --kubelet --kubelet-dir {directory} (it lists every form and alias)"
        )
    return (
        f"add the patterns that '{NAME} configure --kubelet --dry-run' prints to the "
        f"provider's matchImages in {config_path} (not written by {NAME}, so not replaced)"
    )


def _aliases_seen(report: Report, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The aliases of the configuration the provider reads with ``environ``; None (and the
    problem) if it cannot read it."""
    try:
        seen = fileconfig.load(environ, fileconfig.read_file, fileconfig.check_with(os.geteuid()))
    except HelperError as exc:
        report.problem(f"kubelet: the provider's configuration: {exc}", _ENV_FIX)
        return None
    return seen.aliases


def _list(provider: dict[str, object], key: str) -> list[object]:
    found = provider.get(key)
    return found if isinstance(found, list) else []


def _provider(report: Report, path: str) -> dict[str, object] | None:
    """Our entry of the CredentialProviderConfig at ``path``, or None (and the problem)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from docker_credential_ecr import files

    fix = "docker-credential-ecr configure --kubelet"
    try:
        read = files.read_regular(path)  # never blocks on a FIFO, never reads a device
        if read is None:
            raise FileNotFoundError(f"{path}: no such file")
        document = YAML(typ="safe").load(read[0].decode("utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        report.problem(f"kubelet: cannot read {path}: {exc}", fix)
        return None
    providers = document.get("providers") if isinstance(document, dict) else None
    ours = [p for p in providers or [] if isinstance(p, dict) and p.get("name") in PROVIDER_NAMES]
    if not ours:
        report.problem(f"kubelet: {path} names no provider {' or '.join(PROVIDER_NAMES)}", fix)
        return None
    report.ok(f"kubelet: {path} names the provider {ours[0]['name']}")
    found: dict[str, object] = ours[0]
    return found


def environment(files: Sequence[str], entries: Sequence[object]) -> dict[str, str]:
    """The provider's environment: a service's PATH, the environment files, its ``env:``."""
    environ = {"PATH": SERVICE_PATH}
    for path in files:
        environ.update(read_environment_file(path))
    for entry in entries:
        if isinstance(entry, dict) and "name" in entry:
            environ[str(entry["name"])] = str(entry.get("value", ""))
    return environ


def read_environment_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's ``EnvironmentFile=`` reads them (none if absent or
    not root's to trust).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".env") as f:
    ...     _ = f.write('# c\\nA=1\\nexport B="two words"\\n')
    ...     f.flush()
    ...     read_environment_file(f.name)
    {'A': '1', 'B': 'two words'}
    """
    from docker_credential_ecr import files

    if trust.check_file(path, os.geteuid()) is not None:
        return {}
    try:
        read = files.read_regular(path)
    except OSError:
        return {}
    found = {}
    for raw in (read[0] if read else b"").decode("utf-8", "replace").splitlines():
        line = raw.strip().removeprefix("export ")
        key, equals, value = line.partition("=")
        if not equals or line.startswith(("#", ";")):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[key.strip()] = value
    return found


def _ask(report: Report, host: str, argv: list[str], environ: Mapping[str, str]) -> None:
    """Run the provider for an image of ``host`` as the kubelet would; report its answer."""
    import subprocess

    request = {"apiVersion": kubelet.API_VERSIONS[0], "kind": kubelet.REQUEST_KIND}
    request["image"] = f"{host}/doctor/check:latest"
    try:
        proc = subprocess.run(  # noqa: S603 - the trusted provider, as the kubelet runs it
            argv, input=json.dumps(request).encode(), capture_output=True, env=dict(environ),
            timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        report.problem(f"kubelet: {host}: the provider did not answer: {exc}", _ENV_FIX)
        return
    said = proc.stderr.decode(errors="replace").strip().splitlines()
    try:
        auth = json.loads(proc.stdout)["auth"] if proc.returncode == 0 else {}
    except (ValueError, KeyError, TypeError):
        auth = {}
    if host in auth:
        report.ok(f"kubelet: {host}: a pod's pull gets a token")
    else:
        report.problem(f"kubelet: {host}: {said[-1] if said else 'no credentials'}", _ENV_FIX)


_ENV_FIX = (
    "give the provider's env: (or the service's environment file) what the shell has: "
    "AWS_PROFILE, AWS_CONFIG_FILE, or keys; see docs/kubernetes.md"
)
