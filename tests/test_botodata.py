"""The botocore data the build prepares: the cut-down endpoints.json answers as the full one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions
import botocore.regions
import botodata
import pytest

DATA = Path(botocore.__file__).parent / "data"


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / "endpoints.json").read_text())
    return document


def test_every_carried_service_has_its_endpoints_and_nothing_else_is_kept(
    full: dict[str, Any],
) -> None:
    prefixes = botodata.endpoint_prefixes(DATA)
    assert {"api.ecr", "api.ecr-public", "sts", "portal.sso", "oidc"} <= prefixes
    trimmed = botodata.trim_endpoints(full, prefixes)
    kept = {name for p in trimmed["partitions"] for name in p["services"]}
    assert kept <= prefixes
    assert [p["partition"] for p in trimmed["partitions"]] == [
        p["partition"] for p in full["partitions"]
    ]
    assert len(json.dumps(trimmed)) < len(json.dumps(full)) / 10


def test_every_region_resolves_the_same_through_the_trimmed_file(full: dict[str, Any]) -> None:
    prefixes = botodata.endpoint_prefixes(DATA)
    whole = botocore.regions.EndpointResolver(full)
    cut = botocore.regions.EndpointResolver(botodata.trim_endpoints(full, prefixes))
    regions = {r for p in full["partitions"] for r in p["regions"]} | {"aws-global", "xx-new-1"}
    answers = 0
    for prefix in sorted(prefixes):
        for region in sorted(regions):
            for fips in (False, True):
                for dualstack in (False, True):
                    expected = _outcome(whole, prefix, region, fips, dualstack)
                    assert _outcome(cut, prefix, region, fips, dualstack) == expected
                    answers += isinstance(expected, dict)
        assert cut.get_available_endpoints(prefix) == whole.get_available_endpoints(prefix)
    for region in regions:
        assert _partition(cut, region) == _partition(whole, region)
    assert answers > 500  # the loops ran: a check of nothing would prove nothing


def _outcome(
    resolver: botocore.regions.EndpointResolver,
    prefix: str,
    region: str,
    fips: bool,
    dualstack: bool,
) -> object:
    try:
        return resolver.construct_endpoint(
            prefix, region, use_fips_endpoint=fips, use_dualstack_endpoint=dualstack
        )
    except botocore.exceptions.BotoCoreError as exc:
        return type(exc)


def _partition(resolver: botocore.regions.EndpointResolver, region: str) -> object:
    try:
        return resolver.get_partition_for_region(region)
    except botocore.exceptions.BotoCoreError as exc:
        return type(exc)


def test_the_build_writes_the_trimmed_file_and_leaves_out_other_services(tmp_path: Path) -> None:
    written = botodata.write_trimmed_endpoints(DATA, tmp_path / "endpoints.json")
    expected = botodata.trim_endpoints(
        json.loads((DATA / "endpoints.json").read_text()), botodata.endpoint_prefixes(DATA)
    )
    assert json.loads(written.read_text()) == expected
    assert botodata.wanted(str(DATA), str(DATA / "ecr" / "2015-09-21" / "service-2.json.gz"))
    assert botodata.wanted(str(DATA), str(DATA / "_retry.json"))
    assert not botodata.wanted(str(DATA), str(DATA / "s3" / "2006-03-01" / "service-2.json.gz"))
    assert os.path.basename(written) == "endpoints.json"
