"""The whole CLI in-process under generated input: never an exception, one line on failure."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docker_credential_ecr import cli
from support.environ import offline_env

ACTIONS = st.sampled_from(["get", "store", "erase", "list"])
URLS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["123456789012.dkr.ecr.us-east-1.amazonaws.com", "public.ecr.aws", "docker.io"]
    ),
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "ServerURL": st.one_of(URLS, st.integers(), st.none()),
        "Username": st.one_of(st.text(max_size=20), st.lists(st.text(), max_size=2)),
        "Secret": st.one_of(st.text(max_size=40), st.floats()),
    },
).map(lambda d: json.dumps(d).encode())
PAYLOADS = st.one_of(st.binary(max_size=3000), URLS.map(str.encode), DOCUMENTS)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(action=ACTIONS, payload=PAYLOADS)
def test_any_request_gets_an_answer_or_one_line(
    tmp_path: Path, action: str, payload: bytes
) -> None:
    environ = offline_env(tmp_path)
    environ.update(
        {"DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS": "1", "DOCKER_CREDENTIAL_ECR_CONNECT_TIMEOUT": "0.5"}
    )
    out, err = io.BytesIO(), io.BytesIO()
    status = cli.run(action, environ, io.BytesIO(payload), out, err)
    text = out.getvalue().decode()
    assert status in (0, 1)
    if status == 1:
        assert text.endswith("\n")
        assert text.count("\n") == 1
        assert "Traceback" not in text
    elif action == "get":
        assert set(json.loads(text)) == {"ServerURL", "Username", "Secret"}
    elif action == "list":
        assert isinstance(json.loads(text), dict)
    else:
        assert text == ""
