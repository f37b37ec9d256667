"""Collect only the botocore data the helper uses (overrides the contrib hook).

The contrib hook bundles every service model, about 2,000 files that a
one-file build unpacks on every run.  The helper needs the services in
packaging/botodata.py and botocore's top-level data, with ``endpoints.json``
cut down to those services at build time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import botocore
from PyInstaller.config import CONF
from PyInstaller.utils.hooks import collect_data_files

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import botodata

_root = os.path.dirname(botocore.__file__)
_data = os.path.join(_root, "data")


def _wanted(path: str) -> bool:
    if os.path.relpath(path, _root).split(os.sep)[0] != "data":
        return os.path.basename(path) == "cacert.pem"
    return path != os.path.join(_data, "endpoints.json") and botodata.wanted(_data, path)


_endpoints = botodata.write_trimmed_endpoints(
    Path(_data), Path(CONF["workpath"]) / "botocore-data" / "endpoints.json"
)
datas = [(src, dest) for src, dest in collect_data_files("botocore") if _wanted(src)]
datas.append((str(_endpoints), "botocore/data"))
hiddenimports = ["html.parser"]
