"""The launcher's native cache-hit answer must equal the Python helper's, or stay out of the way.

Each case runs the binary twice on the same cache: once where only the native
path can answer (its unpack directory is a file, so declining shows up as that
error), once with the native path switched off (any DOCKER_CREDENTIAL_ECR_*
setting does that) so that Python answers.  When the native path answers, both
answers must be identical, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from docker_credential_ecr.cache import encode
from docker_credential_ecr.config import Settings
from docker_credential_ecr.registry import parse
from docker_credential_ecr.token import CLOCK_SKEW, REFRESH_FRACTION, AuthToken
from support.environ import offline_env
from support.helper import built_binary
from support.hosts import every_host_form
from support.tokens import cache_entry, make_token

BINARY = built_binary()
pytestmark = pytest.mark.skipif(BINARY is None, reason="no built binary: run scripts/build-binary")

ROOT = Path(__file__).resolve().parent.parent
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DECLINED = "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR="


class TwoWays:
    """A home, a cache directory and the two ways of running the binary."""

    def __init__(self, root: Path, runtime_dir: str) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.not_a_dir = root / "not-a-dir"
        self.not_a_dir.write_text("")
        self.runtime_dir = runtime_dir
        # Nothing listens at its endpoints: a Python refresh fails instead of changing the
        # cache.  Without the helper's own settings, which would turn the native path off,
        # and with the default cache directory under HOME.
        self.env = {
            k: v for k, v in offline_env(root).items()
            if not k.startswith("DOCKER_CREDENTIAL_ECR_") and k != "AWS_ECR_CACHE_DIR"
        }  # fmt: skip
        self.env["HOME"] = str(self.home)

    def cache_file(self, host: str) -> Path:
        path = cache_entry(self.env, host)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def put(self, host: str, data: bytes, mode: int = 0o600) -> Path:
        path = self.cache_file(host)
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def run(self, request: bytes, *, native: bool) -> tuple[int, str, str]:
        env = dict(self.env)
        if native:
            env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(self.not_a_dir)
        else:
            env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = self.runtime_dir
            env["DOCKER_CREDENTIAL_ECR_FASTPATH"] = "off"
        proc = subprocess.run(
            [str(BINARY), "get"],
            input=request,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        return (
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def compare(self, request: bytes) -> bool:
        """Run both ways; return whether the native path answered (and then matched Python)."""
        native = self.run(request, native=True)
        if DECLINED in native[1]:
            # Nothing to compare; and Python, given a setting such as a relative HOME,
            # would use the passwd entry's home, outside this test's directories.
            return False
        python = self.run(request, native=False)
        assert native[:2] == python[:2], (request, native, python)
        assert native[2] == ""
        return True


@pytest.fixture
def world(tmp_path: Path, runtime_dir: str) -> TwoWays:
    return TwoWays(tmp_path, runtime_dir)


def token(
    secret: str = "c2VjcmV0", age: float = 60, lifetime: float = 43200, user: str = "AWS"
) -> bytes:
    return encode(make_token(secret, age, lifetime, user, f"https://{HOST}"))


ANSWERED = [
    HOST,
    f"https://{HOST}",
    f"  HTTPS://{HOST.upper()}:443/v2/repo \n",
    f"\x1c\t{HOST}.\x1f",
    f"user@{HOST}",
    f"http://{HOST}/a://b",
]


@pytest.mark.parametrize("request_text", ANSWERED)
def test_native_path_answers_fresh_hits_exactly_as_python(
    world: TwoWays, request_text: str
) -> None:
    world.put(HOST, token())
    assert world.compare(request_text.encode())


@pytest.mark.parametrize(
    "secret", ['se"cr\\et', "tab\there", "x" * 4000, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw=="]
)
def test_native_path_escapes_secrets_exactly_as_python(world: TwoWays, secret: str) -> None:
    world.put(HOST, token(secret=secret))
    assert world.compare(HOST.encode())


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("public.ecr.aws", True),
        ("210987654321.dkr-ecr-fips.us-gov-west-1.on.aws", True),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", True),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", False),
        ("registry.example", False),
        ("123456789012.dkr-ecr.us-east-1.amazonaws.com", False),
    ],
)
def test_native_path_answers_only_for_ecr_hosts(world: TwoWays, host: str, expected: bool) -> None:
    world.put(host, token())  # a token file even where Python would never have written one
    assert world.compare(host.encode()) is expected


@pytest.mark.parametrize(
    "identity",
    [
        {"AWS_PROFILE": "puller", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r=x"},
        {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token"},
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"},
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"},
    ],
)
def test_native_path_uses_the_same_identity_hash(world: TwoWays, identity: dict[str, str]) -> None:
    world.env.update(identity)
    world.put(HOST, token())
    assert world.compare(HOST.encode())


@pytest.mark.parametrize("where", ["default", "named", "symlinked"])
def test_native_path_keys_on_the_aws_files_as_python(world: TwoWays, where: str) -> None:
    aws = world.home / ".aws"
    aws.mkdir()
    (aws / "config").write_text("[profile puller]\nregion = eu-west-1\n")
    (aws / "credentials").write_text("[puller]\naws_access_key_id = AKIDEXAMPLE\n")
    if where == "default":
        del world.env["AWS_CONFIG_FILE"], world.env["AWS_SHARED_CREDENTIALS_FILE"]
    elif where == "named":
        world.env["AWS_CONFIG_FILE"] = str(aws / "config")
    else:
        (world.root / "link").symlink_to(aws / "config")
        world.env["AWS_CONFIG_FILE"] = str(world.root / "link")
    assert Settings(world.env).identity_tag() != "default"
    world.put(HOST, token())
    assert world.compare(HOST.encode())
    # An edited profile is another identity: the token cached for the old one is not served.
    (aws / "config").write_text("[profile puller]\nrole_arn = arn:aws:iam::1:role/other\n")
    assert not world.compare(HOST.encode())


def test_native_path_keys_on_an_aws_file_that_is_not_regular_as_python(world: TwoWays) -> None:
    """/dev/null (an operator's way to say "no config", and what a refused file becomes)
    is no file for botocore's isfile, so for both keys."""
    world.env["AWS_CONFIG_FILE"] = os.devnull
    world.put(HOST, token())
    assert world.compare(HOST.encode())


@pytest.mark.parametrize("value", ["~user/config", "$HOME/config", "~", "~/$SUB/config"])
def test_native_path_leaves_expansions_to_python(world: TwoWays, value: str) -> None:
    world.env["AWS_CONFIG_FILE"] = value
    world.put(HOST, token())
    assert not world.compare(HOST.encode())


@pytest.mark.parametrize("where", ["xdg", "cache-dir", "relative-xdg"])
def test_native_path_finds_the_same_cache_directory(world: TwoWays, where: str) -> None:
    if where == "xdg":
        world.env["XDG_CACHE_HOME"] = str(world.root / "xdg/")
    elif where == "cache-dir":
        world.env["AWS_ECR_CACHE_DIR"] = str(world.root / "elsewhere")
    else:
        world.env["XDG_CACHE_HOME"] = "relative"
    world.put(HOST, token())
    assert world.compare(HOST.encode())


@pytest.mark.parametrize("host", every_host_form())
def test_native_path_answers_every_host_form_python_knows(world: TwoWays, host: str) -> None:
    assert parse(host) is not None
    world.put(host, token())
    assert world.compare(host.encode())


# Run in a process of its own, so that the form it adds to registry.py stays there: the
# header of rules for that registry (argv[1]), then whether Python's parse takes each host.
WITH_A_NEW_FORM = """
import json, sys
sys.path[:0] = [sys.argv[2] + "/helper", sys.argv[2] + "/packaging"]
from docker_credential_ecr import registry
registry.FORMS += (registry.Form(("oci", "ecr-fips"), fips=True, dualstack=True),)
import gen_rules
with open(sys.argv[1], "w") as header:
    header.write(gen_rules.render())
print(json.dumps([registry.parse(host) is not None for host in sys.argv[3:]]))
"""
NEW_FORM_HOSTS = [
    "123456789012.oci.ecr-fips.eu-west-1.on.aws",
    "https://123456789012.OCI.ecr-fips.us-gov-west-1.on.amazonwebservices.com.cn:443/v2/",
    "123456789012.oci.ecr-fips.eu-west-1.amazonaws.com",  # a dual-stack form's suffix only
    "123456789012.oci.ecr.eu-west-1.on.aws",
    "123456789012.oci.ecr-fips.on.aws",
]


def test_a_form_added_to_registry_alone_is_answered_natively(tmp_path: Path) -> None:
    """A form added to registry.FORMS reaches the native host check through rules.h alone."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    hosts = [*NEW_FORM_HOSTS, *every_host_form(), "registry.example", "123456789012.dkr.ecr"]
    assert parse(NEW_FORM_HOSTS[0]) is None  # a form this registry.py does not have
    (tmp_path / "gen").mkdir()
    python = subprocess.run(
        [sys.executable, "-c", WITH_A_NEW_FORM, str(tmp_path / "gen" / "rules.h"), str(ROOT),
         *hosts],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    driver = tmp_path / "fastpath_driver"
    subprocess.run(
        ["gcc", "-Wall", "-Wextra", "-Werror", "-g", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", f"-I{tmp_path / 'gen'}", f"-I{ROOT / 'packaging'}",
         "-o", str(driver), str(ROOT / "tests" / "c" / "fastpath_driver.c"),
         str(ROOT / "packaging" / "trust.c")],
        check=True, timeout=120,
    )  # fmt: skip
    native = subprocess.run(
        [str(driver), *hosts], capture_output=True, text=True, check=False, timeout=30
    )
    assert (native.returncode, native.stderr) == (0, "")  # a sanitizer report fails it
    expected = ["ecr" if ok else "not ecr" for ok in json.loads(python.stdout)]
    assert expected[:3] == ["ecr", "ecr", "not ecr"]
    assert list(zip(hosts, native.stdout.splitlines(), strict=True)) == list(
        zip(hosts, expected, strict=True)
    )


LIFETIME = 43200.0


@pytest.mark.parametrize(
    "age",
    [
        0.0,
        60.0,
        LIFETIME * REFRESH_FRACTION - 60,  # just before the refresh window
        LIFETIME * REFRESH_FRACTION + 60,  # just inside it
        LIFETIME - CLOCK_SKEW - 60,  # still usable
        LIFETIME - CLOCK_SKEW + 60,  # inside the skew margin
        LIFETIME + 60,  # expired
    ],
)
def test_native_path_answers_exactly_while_python_calls_the_token_fresh(
    world: TwoWays, age: float
) -> None:
    world.put(HOST, token(age=age, lifetime=LIFETIME))
    now = time.time()
    fresh = AuthToken("AWS", "s", "e", now - age, now - age + LIFETIME).fresh(now)
    assert world.compare(HOST.encode()) is fresh


@pytest.mark.parametrize(
    ("case", "data", "mode"),
    [
        ("stale", token(age=30000), 0o600),
        ("expired", token(age=50000), 0o600),
        ("readable by others", token(), 0o644),
        ("garbage", b"garbage", 0o600),
        ("wrong magic", token().replace(b"v1", b"v2"), 0o600),
        ("extra line", token() + b"more\n", 0o600),
        ("no final newline", token()[:-1], 0o600),
        ("empty secret", token(secret=""), 0o600),
        ("non-repr number", token().replace(b"\n", b"\n+", 1), 0o600),
        ("non-ASCII user", token(user="\u00e9"), 0o600),
    ],
)
def test_native_path_declines_what_it_should_not_answer(
    world: TwoWays, case: str, data: bytes, mode: int
) -> None:
    world.put(HOST, data, mode)
    assert not world.compare(HOST.encode()), case


@pytest.mark.parametrize(
    "setting",
    [
        {"AWS_ECR_DISABLE_CACHE": "1"},
        {"DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "DEBUG"},
        {"DOCKER_CREDENTIAL_ECR_DEADLINE": "nonsense"},
        {"HOME": "relative"},
    ],
)
def test_native_path_declines_unusual_settings(world: TwoWays, setting: dict[str, str]) -> None:
    world.put(HOST, token())
    world.env.update(setting)
    assert not world.compare(HOST.encode())


def test_native_path_declines_symlinked_entries(world: TwoWays) -> None:
    real = world.root / "real.token"
    real.write_bytes(token())
    real.chmod(0o600)
    world.cache_file(HOST).symlink_to(real)
    assert not world.compare(HOST.encode())


def test_declined_request_reaches_python_intact_through_a_pipe(world: TwoWays) -> None:
    # Not a cache hit: Python must still read the whole request the native path consumed.
    proc = subprocess.run(
        [str(BINARY), "get"],
        input=b"  registry.example  \n",
        env={**world.env, "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR": world.runtime_dir},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (1, b"credentials not found in native keychain\n")
    big = b"x" * 70000
    proc = subprocess.run(
        [str(BINARY), "get"],
        input=big,
        env={**world.env, "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR": world.runtime_dir},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == b"request on stdin is larger than 65536 bytes\n"


ecr_hosts = st.sampled_from(
    [HOST, "public.ecr.aws", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"]
)
noise = st.text(alphabet=string.printable + "\x1c\x1d\u00e9", max_size=6)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str]:
    host = draw(ecr_hosts)
    spelled = "".join(c.upper() if draw(st.booleans()) else c for c in host)
    url = (
        draw(st.sampled_from(["", "https://", "http://", "HTTPS://", "x@"]))
        + spelled
        + draw(st.sampled_from(["", "/", ":443", ":5000/v2/", ".", "/a@b"]))
    )
    return host, draw(noise) + url + draw(noise)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    request=requests(),
    secret=st.text(alphabet=string.printable, min_size=1, max_size=40).filter(
        lambda s: "\n" not in s and "\r" not in s
    ),
    age=st.sampled_from([0.0, 100.0, 21599.0, 21601.0, 50000.0]),
    profile=st.sampled_from(["", "dev", "pr\u00f6d"]),
)
def test_native_and_python_answers_agree(
    world: TwoWays, request: tuple[str, str], secret: str, age: float, profile: str
) -> None:
    host, text = request
    world.env["AWS_PROFILE"] = profile
    if parse(host) is not None:
        world.put(host, token(secret=secret, age=age))
    event("native path answered" if world.compare(text.encode()) else "native path declined")


@pytest.mark.parametrize("where", ["explicit", "user"])
def test_native_path_stands_aside_when_a_configuration_file_exists(
    world: TwoWays, where: str
) -> None:
    world.put(HOST, token())
    assert world.compare(HOST.encode())
    config = world.root / "config.toml"
    config.write_text(f'[registries."{HOST}"]\nrefresh_before = 60\n')
    if where == "explicit":
        world.env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)
    else:
        user = world.home / ".config" / "docker-credential-ecr"
        user.mkdir(parents=True)
        config.rename(user / "config.toml")
    assert not world.compare(HOST.encode())
