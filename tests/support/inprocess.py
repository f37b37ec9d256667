"""The helper run in this process: ``cli.main`` with its edges passed in."""

from __future__ import annotations

import io
from collections.abc import Mapping

from docker_credential_ecr import cli


def run_main(
    argv: list[str], environ: Mapping[str, str], stdin: bytes = b""
) -> tuple[int, str, str]:
    """``cli.main`` in this process: its status, its stdout and its stderr."""
    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(raw_out, write_through=True)
    err = io.TextIOWrapper(raw_err, write_through=True)
    status = cli.main(argv, environ, io.BytesIO(stdin), out, err)
    out.flush()
    err.flush()
    return status, raw_out.getvalue().decode(), raw_err.getvalue().decode()
