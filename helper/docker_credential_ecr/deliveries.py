"""Deliveries: fresh credentials pushed to what cannot call a credential helper.

A ``[deliveries.NAME]`` section of the configuration file names the registries it
carries, the document's format (``formats.FORMATS``), and where it goes: a file
(written atomically, 0600, its owner kept, only in a directory that passes the
trusted-path rule) and/or a command (an argv list, no shell, the document on its
stdin and nowhere else)::

    [deliveries.cluster]
    registries = ["*.dkr.ecr.us-east-1.amazonaws.com"]   # default: every known registry
    format = "kubernetes-secret"
    namespaces = ["default", "ci"]
    command = ["kubectl", "apply", "-f", "-"]

``refresh --deliver`` makes one pass; ``refresh --watch`` delivers at start and again
whenever a token a delivery carries changes.
"""

from __future__ import annotations

import os

from docker_credential_ecr import formats
from docker_credential_ecr.fileconfig import fail

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from docker_credential_ecr.fileconfig import FileConfig

_KEYS = frozenset(
    ("registries", "format", "file", "directory", "command", "timeout", "name", "namespaces",
     "labels", "annotations")
)  # fmt: skip
DEFAULT_TIMEOUT = 60.0


class Delivery:
    """One delivery section, checked: what it carries, in which format, to where."""

    __slots__ = (
        "command", "directory", "file", "format", "name", "options", "registries", "timeout"
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        format: str,
        registries: tuple[str, ...] = (),
        file: str | None = None,
        command: tuple[str, ...] = (),
        timeout: float = DEFAULT_TIMEOUT,
        options: formats.Metadata | None = None,
        directory: str | None = None,
    ) -> None:
        self.name = name
        self.format = format
        self.registries = registries  # hosts or globs; empty: every known registry
        self.file = file
        self.directory = directory  # a format of one file per registry writes under it
        self.command = command
        self.timeout = timeout
        self.options = options or formats.Metadata()

    def carries(self, known: Sequence[str]) -> list[str]:
        """The registries this delivery carries: those it names, and the known ones its
        globs match (every known one if it names none)."""
        if not self.registries:
            return list(known)
        import fnmatch

        globs = [p for p in self.registries if any(c in p for c in "*?[")]
        named = [p for p in self.registries if p not in globs]
        matched = [h for h in known if any(fnmatch.fnmatchcase(h, p) for p in globs)]
        return list(dict.fromkeys(named + matched))

    def render(self, auths: formats.Auths) -> formats.Files:
        """The files this delivery writes (a format that merges reads its file first).

        Raises OSError when the file to merge into cannot be read, ValueError when it
        does not hold what its format says.
        """
        kind = formats.FORMATS[self.format]
        current = None
        if kind.merges and self.file is not None:
            from docker_credential_ecr import files

            found = files.read_regular(self.file)
            if found is not None and found[1].st_size > files.READ_LIMIT:
                # What is read is cut at the limit: merging into it would lose the rest.
                raise ValueError(f"larger than {files.READ_LIMIT} bytes; not merging into it")
            current = None if found is None else found[0].decode("utf-8")
        return kind.render(auths, self.options, current)


def of(file: FileConfig) -> list[Delivery]:
    """Every delivery the configuration names, checked; InputError at file:line if one is wrong."""
    return [parse(name, *raw) for name, raw in sorted(file.deliveries.items())]


def parse(name: str, section: object, path: str, text: str) -> Delivery:
    """One ``[deliveries.NAME]`` table as a Delivery; InputError naming the file and line."""

    def wrong(key: str, message: str) -> None:
        fail(path, text, key, f"delivery {name!r}: {message}")

    if not isinstance(section, dict):
        fail(path, text, name, f"deliveries.{name!r} must be a table")
    for key in section:
        if key not in _KEYS:
            wrong(key, f"unknown setting {key!r}")
    kind = section.get("format")
    if kind not in formats.FORMATS:
        wrong("format", f"format must be one of {', '.join(sorted(formats.FORMATS))}")
    _destination(name, section, formats.FORMATS[str(kind)], wrong)
    return Delivery(
        name,
        str(kind),
        _strings(section, "registries", wrong),
        _path(section, "file", wrong),
        _command(section, wrong),
        _timeout(section, wrong),
        _options(section, wrong),
        _path(section, "directory", wrong),
    )


def _destination(
    name: str,
    section: Mapping[str, object],
    kind: formats.Format,
    wrong: Callable[[str, str], None],
) -> None:
    """Where a format's output may go: a directory for one file per registry, a file (the
    one to merge into, for a format that merges), and a command for any of them."""
    if kind.per_registry:
        if "directory" not in section:
            wrong(name, "needs a directory (a file per registry goes under it)")
        if "file" in section:
            wrong("file", "writes a file per registry under its directory, not one file")
    elif "directory" in section:
        wrong("directory", "writes one document: give a file, not a directory")
    elif kind.merges and "file" not in section:
        wrong(name, "needs the file it merges into")
    elif "file" not in section and "command" not in section:
        wrong(name, "needs a file, a command, or both")


def _strings(
    section: Mapping[str, object], key: str, wrong: Callable[[str, str], None]
) -> tuple[str, ...]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        wrong(key, f"{key} must be a list of non-empty strings")
        return ()
    return tuple(value)


def _table(
    section: Mapping[str, object], key: str, wrong: Callable[[str, str], None]
) -> dict[str, str]:
    value = section.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        wrong(key, f"{key} must be a table of strings")
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _path(section: Mapping[str, object], key: str, wrong: Callable[[str, str], None]) -> str | None:
    value = section.get(key)
    if value is not None and not (isinstance(value, str) and value.startswith("/")):
        wrong(key, f"{key} must be an absolute path")
    return value if isinstance(value, str) else None


def _command(section: Mapping[str, object], wrong: Callable[[str, str], None]) -> tuple[str, ...]:
    command = _strings(section, "command", wrong)
    if "command" in section and not command:
        wrong("command", "command must be a list of non-empty strings (an argv, no shell)")
    return command


def _timeout(section: Mapping[str, object], wrong: Callable[[str, str], None]) -> float:
    value = section.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        wrong("timeout", "timeout must be a positive number of seconds")
        return DEFAULT_TIMEOUT
    return float(value)


def _options(section: Mapping[str, object], wrong: Callable[[str, str], None]) -> formats.Metadata:
    name = section.get("name", "ecr-pull")
    if not isinstance(name, str) or not name:
        wrong("name", "name must be a non-empty string")
    return formats.Metadata(
        str(name),
        _strings(section, "namespaces", wrong),
        _table(section, "labels", wrong),
        _table(section, "annotations", wrong),
    )


def executable(command: str, path: str) -> str:
    """The program a command's first word names, found on ``path`` (``PATH``'s value), if it
    passes the trusted-path rule; OSError naming what fails.

    The helper runs it, often as root: a program anyone else could replace, such as one
    under a user's home that ``sudo -E`` kept on ``PATH``, is refused, not run.
    """
    import shutil

    from docker_credential_ecr import trust

    found = command if "/" in command else shutil.which(command, path=path)
    if found is None or not os.path.isfile(found):
        raise OSError(f"{command}: no such program on PATH")
    found = os.path.abspath(found)
    why = trust.check_file(found, os.geteuid())
    if why is not None:
        raise OSError(f"not running {found}: {why}")
    return found


def write(path: str, document: bytes) -> None:
    """Replace the file at ``path`` with ``document``: 0600, its owner kept if it exists."""
    from docker_credential_ecr import files

    try:
        info = os.stat(path, follow_symlinks=False)
        owner: tuple[int, int] | None = (info.st_uid, info.st_gid)
    except FileNotFoundError:
        owner = None
    files.replace_file(path, document, 0o600, owner)


def write_under(directory: str, made: formats.Files) -> None:
    """Write each file under ``directory``, making what is missing of its directories.

    They are made 0755, as containerd's ``certs.d`` is (the files are 0600), by
    descriptor under parents that pass the trusted-path rule (``trust.make_dirs``).
    """
    from docker_credential_ecr import trust

    for name, text in sorted(made.items()):
        path = os.path.join(directory, name)
        trust.make_dirs(os.path.dirname(path), os.geteuid(), 0o755)
        write(path, text.encode())


def run(delivery: Delivery, document: bytes, environ: Mapping[str, str]) -> None:
    """Run the delivery's command with ``document`` on its stdin; OSError saying how it failed.

    Its exit status and last line of stderr are the reason; its stdout is discarded.
    """
    import subprocess

    path = environ.get("PATH", os.defpath)
    argv = [executable(delivery.command[0], path), *delivery.command[1:]]
    try:
        proc = subprocess.run(  # noqa: S603 - an argv the trusted configuration gave; no shell
            argv,
            input=document,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(environ),
            timeout=delivery.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OSError(f"{delivery.command[0]} timed out after {delivery.timeout:g}s") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").splitlines()
        last = next((line for line in reversed(lines) if line.strip()), "")
        said = f": {last}" if last else ""
        raise OSError(f"{delivery.command[0]} exited {proc.returncode}{said}")


def deliver(delivery: Delivery, made: formats.Files, environ: Mapping[str, str]) -> str | None:
    """Write the files and/or pipe the document; None if it arrived, else the one-line reason."""
    from docker_credential_ecr.errors import one_line

    try:
        if delivery.directory is not None:
            write_under(delivery.directory, made)
        elif delivery.file is not None:
            write(delivery.file, made[""].encode())
        if delivery.command:
            run(delivery, formats.listing(made).encode(), environ)
    except OSError as exc:
        return one_line(str(exc))
    return None


def where(delivery: Delivery) -> str:
    """Where a delivery goes, as its report names it."""
    places = [p for p in (delivery.directory, delivery.file) if p]
    if delivery.command:
        places.append(" ".join(delivery.command))
    return " and ".join(places)


class Record:
    """What the last attempts of one delivery left: for ``status``, never a token."""

    __slots__ = ("digest", "last_failure", "last_success", "reason", "registries")

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        values = values or {}
        self.digest = str(values.get("digest", ""))  # the document last delivered, hashed
        self.last_success = _moment(values.get("last_success"))
        self.last_failure = _moment(values.get("last_failure"))
        self.reason = str(values.get("reason", ""))
        found = values.get("registries", [])
        self.registries = [str(h) for h in found] if isinstance(found, list) else []

    def as_dict(self) -> dict[str, object]:
        """The record as its file keeps it."""
        return {k: getattr(self, k) for k in self.__slots__}


def _moment(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Ledger:
    """Each delivery's record, in one private file of the cache directory.

    A record that cannot be read is empty: the next pass then delivers again, which is
    what a lost record should cost, and nothing more.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path  # None: the cache is not kept, and neither are records

    def read(self) -> dict[str, Record]:
        """Every record, by delivery name."""
        import json

        from docker_credential_ecr import files

        data = files.read_private(self.path) if self.path else None
        try:
            found = json.loads(data) if data else {}
        except ValueError:
            found = {}
        if not isinstance(found, dict):
            return {}
        return {str(k): Record(v) for k, v in found.items() if isinstance(v, dict)}

    def write(self, records: Mapping[str, Record]) -> None:
        """Replace every record (the refresh service is the one writer, under its lock)."""
        import json

        from docker_credential_ecr import files

        if self.path is None:
            return
        files.ensure_private_dir(os.path.dirname(self.path))
        document = {name: r.as_dict() for name, r in sorted(records.items())}
        files.write_private(self.path, (json.dumps(document, indent=2) + "\n").encode())


def digest(delivery: Delivery, auths: formats.Auths) -> str:
    """A fingerprint of what a delivery carries (its format, options and credentials):
    whether it changed, without keeping what it says.

    Not of the rendered files: a file merged into changes when someone edits its other
    keys, which is no reason to send it (and restart whatever reads it) again.
    """
    import hashlib
    import json

    o = delivery.options
    carried = [delivery.format, o.name, o.namespaces, o.labels, o.annotations, auths]
    return hashlib.sha256(json.dumps(carried, sort_keys=True).encode()).hexdigest()
