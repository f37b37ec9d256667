"""Fixtures and hooks: a local AWS endpoint, a clean environment, the helper under test.

Everything else the tests share (constants, environments, seeding the cache, running
the helper) is in tests/support/, which the tests import by name as they do fakeaws.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ on the path: fakeaws and support are imported by name, here and by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from fakeaws import FakeAWS, make_certificate
from support.environ import clean_env
from support.helper import Runner, built_binary
from support.paths import left_since, snapshot


@pytest.fixture(autouse=True)
def _writes_only_under_temporary_directories() -> Iterator[None]:
    """Fail a test that left anything new outside its temporary directories."""
    before = snapshot()
    yield
    left = left_since(before)
    assert not left, f"the tests left files outside their temporary directories: {left}"


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One directory for the binary to unpack into, shared by the whole session."""
    return str(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(params=["script", "binary"])
def runner(request: pytest.FixtureRequest, runtime_dir: str) -> Runner:
    """The helper under test: the pip-installed script, then the built single file."""
    if request.param == "script":
        return Runner.script()
    binary = built_binary()
    if binary is None:
        pytest.skip("no built binary: run scripts/build-binary")
    return Runner.binary(binary, runtime_dir)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A throw-away CA and a certificate for localhost: (ca, cert, key)."""
    ca, cert, key = make_certificate(tmp_path_factory.mktemp("tls"), ["localhost"], ("127.0.0.1",))
    return str(ca), str(cert), str(key)


@pytest.fixture
def other_user_dir() -> Iterator[Path]:
    """A fresh directory that any user can read and write (mode 1777), removed afterwards.

    pytest's own temporary directories sit under a 0700 directory of this user,
    so a test that runs something as another uid puts what that uid needs here.
    """
    path = Path(tempfile.mkdtemp(prefix="dce-other-user-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def fake_aws() -> Iterator[FakeAWS]:
    """A plain-HTTP local AWS endpoint, stopped after the test."""
    fake = FakeAWS().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_aws_tls(tls_files: tuple[str, str, str]) -> Iterator[FakeAWS]:
    """An HTTPS local AWS endpoint whose CA is ``tls_files[0]``."""
    fake = FakeAWS(tls=(tls_files[1], tls_files[2])).start()
    yield fake
    fake.stop()


@pytest.fixture
def env(tmp_path: Path, fake_aws: FakeAWS, runner: Runner) -> dict[str, str]:
    """A clean environment for the helper under test, pointed at the plain-HTTP endpoint.

    It is made for one runner, so a test that takes it runs against each.
    """
    return clean_env(tmp_path, fake_aws, runner)


@pytest.fixture
def umask_000() -> Iterator[None]:
    """Run the test under umask 0, so that only the code's own modes protect its files."""
    old = os.umask(0)
    yield
    os.umask(old)
