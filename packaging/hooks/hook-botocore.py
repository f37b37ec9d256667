"""Collect only the botocore data the helper uses (overrides the contrib hook).

The contrib hook bundles every service model, about 2,000 files that a
one-file build unpacks on every run.  The helper needs ECR and ECR Public, STS
and SSO for credential resolution, and botocore's top-level data.
"""

from __future__ import annotations

import os

import botocore
from PyInstaller.utils.hooks import collect_data_files

SERVICES = ("ecr", "ecr-public", "sts", "sso", "sso-oidc", "signin")
_root = os.path.dirname(botocore.__file__)


def _wanted(path: str) -> bool:
    rel = os.path.relpath(path, _root).split(os.sep)
    if rel[0] != "data":
        return rel[-1] == "cacert.pem"
    return len(rel) == 2 or rel[1] in SERVICES


datas = [(src, dest) for src, dest in collect_data_files("botocore") if _wanted(src)]
hiddenimports = ["html.parser"]
