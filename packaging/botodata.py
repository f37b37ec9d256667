"""The botocore data the frozen program carries, and the part of it prepared at build time.

botocore reads ``endpoints.json`` (1.2 MB, every AWS service in every
partition) each time it makes its first client, which cost a cache miss
about 15 ms to parse.  The program can only make clients for the services
whose models it carries, so the build keeps every partition and region but
only those services' entries.  ``tests/test_botodata.py`` resolves every
region of every partition, with and without FIPS and dual-stack, through
both files and requires the same answers.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

# ECR and ECR Public for tokens; STS, SSO, SSO OIDC and sign-in for the
# credential chain (assume-role, web identity, SSO and login profiles).
SERVICES = ("ecr", "ecr-public", "sts", "sso", "sso-oidc", "signin")


def wanted(data_root: str, path: str) -> bool:
    """Whether a file of botocore's data folder goes into the program."""
    rel = os.path.relpath(path, data_root).split(os.sep)
    return len(rel) == 1 or rel[0] in SERVICES


def endpoint_prefixes(data_root: Path) -> set[str]:
    """The ``endpointPrefix`` of every carried service: its key in ``endpoints.json``."""
    prefixes = set()
    for service in SERVICES:
        for model in (data_root / service).glob("*/service-2.json*"):
            raw = model.read_bytes()
            text = gzip.decompress(raw) if model.suffix == ".gz" else raw
            prefixes.add(json.loads(text)["metadata"]["endpointPrefix"])
    return prefixes


def trim_endpoints(document: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """``endpoints.json`` with every partition and region, but only the services named."""
    partitions = [
        {**p, "services": {k: v for k, v in p["services"].items() if k in prefixes}}
        for p in document["partitions"]
    ]
    return {**document, "partitions": partitions}


def write_trimmed_endpoints(data_root: Path, target: Path) -> Path:
    """Write the trimmed ``endpoints.json`` for the carried services to ``target``."""
    document = json.loads((data_root / "endpoints.json").read_text())
    trimmed = trim_endpoints(document, endpoint_prefixes(data_root))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(trimmed, separators=(",", ":"), sort_keys=True))
    return target
