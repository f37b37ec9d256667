"""What the frozen program leaves out of boto3, and why: one list for the spec and the test.

Each entry is loaded only by a code path the helper never takes; the
PyInstaller spec excludes the modules, ``hooks/hook-boto3.py`` leaves out the
data, and ``tests/test_packaging.py`` runs every AWS path of the helper and
fails if one of them loads anything listed here.  s3transfer cannot be left
out: ``boto3.compat`` imports it whatever the client.
"""

from __future__ import annotations

# Module -> why no code path of the helper imports it.
MODULES = {
    "boto3.s3": "S3's transfer methods, which boto3 injects only into S3 clients",
    "boto3.crt": "the CRT-based S3 transfer client (it needs awscrt)",
    "boto3.dynamodb": "DynamoDB's resource conditions and types",
    "boto3.ec2": "EC2's resource customisations",
}

# boto3's data folder (boto3/data/<service>/.../resources-1.json): read only by
# Session.resource(); the helper makes clients.
DATA = "boto3/data"
