"""boto3 without its resource models or s3/ec2/dynamodb helpers (overrides the contrib hook).

The helper uses boto3 sessions and clients only.
"""

from __future__ import annotations

datas: list[tuple[str, str]] = []
hiddenimports: list[str] = []
