"""Delivery sections in-process (deliveries.py): checked at file:line, what each carries,
its file written privately with its owner kept, its command run with the document on
stdin only, its trusted program, and the ledger of what was last delivered."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from docker_credential_ecr import deliveries, fileconfig, formats
from docker_credential_ecr.deliveries import Delivery, Ledger, Record
from docker_credential_ecr.errors import InputError
from support.users import OTHER

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
EU = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
DOCUMENT = b'{"auths": {"h": {"password": "the-token"}}}\n'
MADE = {"": DOCUMENT.decode()}  # what a format of one document renders


def parsed(text: str) -> list[Delivery]:
    return deliveries.of(fileconfig.parse(text, "/etc/c.toml"))


def program(tmp_path: Path, body: str, name: str = "deliver") -> str:
    """A shell script ``name`` in a directory of its own (both 0755), returning its path."""
    place = tmp_path / "bin"
    place.mkdir(mode=0o755, exist_ok=True)
    place.chmod(0o755)
    path = place / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_a_section_is_read_with_its_defaults() -> None:
    (found,) = parsed(
        '[deliveries.cluster]\nformat = "kubernetes-secret"\nnamespaces = ["a", "b"]\n'
        'command = ["kubectl", "apply", "-f", "-"]\nlabels = {team = "web"}\n'
    )
    assert (found.name, found.format, found.file, found.timeout) == (
        "cluster",
        "kubernetes-secret",
        None,
        deliveries.DEFAULT_TIMEOUT,
    )
    assert found.command == ("kubectl", "apply", "-f", "-")
    assert (found.options.name, found.options.namespaces) == ("ecr-pull", ("a", "b"))
    assert found.options.labels == {"team": "web"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('format = "yaml"\nfile = "/x"', "c.toml:3: delivery 'd': format must be one of "),
        ('format = "dockerconfigjson"', "c.toml:2: delivery 'd': needs a file, a command, or both"),
        ('format = "dockerconfigjson"\nfile = "x.json"', "c.toml:4: delivery 'd': file must be an"),
        ('format = "dockerconfigjson"\ncommand = "kubectl apply"', "command must be a list"),
        ('format = "dockerconfigjson"\ncommand = []', "c.toml:4: delivery 'd': command must be"),
        ('format = "dockerconfigjson"\nfile = "/x"\ntimeout = 0', "timeout must be a positive"),
        ('format = "dockerconfigjson"\nfile = "/x"\nowner = 1', "unknown setting 'owner'"),
        ('format = "dockerconfigjson"\nfile = "/x"\nlabels = {a = 1}', "labels must be a table"),
    ],
)
def test_a_mistake_is_one_line_at_its_file_and_line(body: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parsed(f"\n[deliveries.d]\n{body}\n")
    assert message in str(caught.value)
    assert str(caught.value).count("\n") == 0


def test_a_delivery_carries_what_it_names_and_what_its_globs_match() -> None:
    known = [HOST, EU]
    assert Delivery("d", "dockerconfigjson").carries(known) == known
    globbed = Delivery("d", "dockerconfigjson", ("*.eu-west-1.amazonaws.com",))
    assert globbed.carries(known) == [EU]
    named = "999999999999.dkr.ecr.us-west-2.amazonaws.com"
    both = Delivery("d", "dockerconfigjson", (named, "*.us-east-1.amazonaws.com"))
    assert both.carries(known) == [named, HOST]  # a named registry need not be known yet


@pytest.mark.usefixtures("umask_000")
def test_the_file_is_replaced_private_and_keeps_its_owner(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("old")
    os.chown(target, OTHER, OTHER)
    delivery = Delivery("d", "dockerconfigjson", file=str(target))
    assert deliveries.deliver(delivery, MADE, {}) is None
    info = target.stat()
    assert (target.read_bytes(), stat.S_IMODE(info.st_mode)) == (DOCUMENT, 0o600)
    assert (info.st_uid, info.st_gid) == (OTHER, OTHER)
    fresh = tmp_path / "new.json"
    assert (
        deliveries.deliver(Delivery("d", "dockerconfigjson", file=str(fresh)), {"": "x"}, {})
        is None
    )
    assert (fresh.stat().st_uid, stat.S_IMODE(fresh.stat().st_mode)) == (os.geteuid(), 0o600)


def test_a_file_in_a_directory_others_can_change_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    reason = deliveries.deliver(
        Delivery("d", "dockerconfigjson", file=str(shared / "x.json")), MADE, {}
    )
    assert reason is not None
    assert "writable" in reason
    assert list(shared.iterdir()) == []


def test_the_command_gets_the_document_on_stdin_and_nowhere_else(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    script = program(tmp_path, f'cat > {seen}/stdin; env > {seen}/env; echo "$@" > {seen}/argv\n')
    delivery = Delivery("d", "dockerconfigjson", command=(script, "apply"))
    assert deliveries.deliver(delivery, MADE, {"PATH": "/usr/bin:/bin", "KEEP": "1"}) is None
    assert (seen / "stdin").read_bytes() == DOCUMENT
    assert "KEEP=1" in (seen / "env").read_text()
    for place in ("env", "argv"):
        assert "the-token" not in (seen / place).read_text()


def test_a_command_found_on_path_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    program(tmp_path, f"cat > {out}\n", name="apply-it")
    delivery = Delivery("d", "dockerconfigjson", command=("apply-it",))
    path = f"{tmp_path / 'bin'}:/usr/bin:/bin"
    assert deliveries.deliver(delivery, MADE, {"PATH": path}) is None
    assert out.read_bytes() == DOCUMENT


def test_a_failed_command_says_its_status_and_last_line_of_stderr(tmp_path: Path) -> None:
    script = program(tmp_path, "cat >/dev/null; echo first >&2; echo 'error: denied' >&2; exit 3\n")
    reason = deliveries.deliver(Delivery("d", "dockerconfigjson", command=(script,)), {"": ""}, {})
    assert reason == f"{script} exited 3: error: denied"


def test_a_command_that_hangs_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    script = program(tmp_path, "exec sleep 60\n")
    delivery = Delivery("d", "dockerconfigjson", command=(script,), timeout=0.2)
    assert deliveries.deliver(delivery, {"": ""}, {}) == f"{script} timed out after 0.2s"


def test_a_program_others_can_replace_is_not_run(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    script = program(tmp_path, f"touch {ran}\n")
    Path(script).chmod(0o777)  # anyone may replace it
    reason = deliveries.deliver(Delivery("d", "dockerconfigjson", command=(script,)), {"": ""}, {})
    assert reason is not None
    assert reason.startswith(f"not running {script}: ")
    assert not ran.exists()
    missing = deliveries.deliver(Delivery("d", "dockerconfigjson", command=("nope",)), {"": ""}, {})
    assert missing == "nope: no such program on PATH"


def test_the_ledger_keeps_records_privately_and_survives_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "deliveries.json"
    ledger = Ledger(str(path))
    assert ledger.read() == {}
    record = Record({"digest": "ab", "last_success": 5.0, "registries": [HOST]})
    ledger.write({"d": record})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (read,) = ledger.read().values()
    assert (read.digest, read.last_success, read.last_failure, read.registries) == (
        "ab",
        5.0,
        None,
        [HOST],
    )
    path.write_text("{not json")
    assert ledger.read() == {}
    path.write_text(json.dumps([1, 2]))
    assert ledger.read() == {}
    Ledger(None).write({"d": record})  # no cache kept: no records either, and no error


def test_the_digest_changes_with_what_is_carried_and_holds_no_token() -> None:
    auths = {HOST: {"username": "AWS", "password": "the-token", "auth": "QVdTOnRoZS10b2tlbg=="}}
    secret = Delivery("d", "kubernetes-secret")
    first = deliveries.digest(secret, auths)
    assert first == deliveries.digest(Delivery("d", "kubernetes-secret"), dict(auths))
    renewed = {HOST: {**auths[HOST], "password": "another"}}
    assert deliveries.digest(secret, renewed) != first
    other_namespace = Delivery(
        "d", "kubernetes-secret", options=formats.Metadata(namespaces=("x",))
    )
    assert deliveries.digest(other_namespace, auths) != first
    assert "the-token" not in first


@pytest.mark.parametrize("document", ["README.md", "docs/rancher.md"])
def test_every_delivery_the_documents_show_is_one_the_helper_takes(document: str) -> None:
    text = (Path(__file__).resolve().parent.parent / document).read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    shown = [b for b in blocks if "[deliveries." in b]
    assert shown, f"{document} shows no delivery"
    for block in shown:
        for found in deliveries.of(fileconfig.parse(block, document)):
            assert found.format in formats.FORMATS
            assert found.file or found.directory or found.command


def test_a_program_in_another_users_directory_on_path_is_refused(tmp_path: Path) -> None:
    # sudo -E keeps a user's PATH: their ~/bin comes first, with a kubectl of theirs.
    theirs = tmp_path / "home" / "bin"
    theirs.mkdir(parents=True)
    ran = tmp_path / "ran"
    planted = theirs / "kubectl"
    planted.write_text(f"#!/bin/sh\ntouch {ran}\n")
    planted.chmod(0o755)
    for path in (theirs, theirs.parent):
        os.chown(path, OTHER, OTHER)
    os.chown(planted, OTHER, OTHER)
    delivery = Delivery("d", "kubernetes-secret", command=("kubectl", "apply", "-f", "-"))
    reason = deliveries.deliver(delivery, {"": "{}"}, {"PATH": f"{theirs}:/usr/bin:/bin"})
    assert reason is not None
    assert reason.startswith(f"not running {planted}: ")
    assert str(OTHER) in reason
    assert not ran.exists()
