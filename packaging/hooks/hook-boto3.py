"""boto3 without what the helper never loads (overrides the contrib hook).

The contrib hook adds boto3's resource models and its S3, DynamoDB and EC2
customisations; ``packaging/leftout.py`` says why each is not needed.
"""

from __future__ import annotations

hiddenimports: list[str] = []
datas: list[tuple[str, str]] = []
