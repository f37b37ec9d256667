"""The simplest frozen boto3 program: the floor scripts/bench holds a cache miss against.

It answers ``get`` as a credential helper does, with nothing but boto3: read the
registry host, make the same GetAuthorizationToken call through a default
Session, print the same answer.  No cache, no lock, no configuration.
"""

from __future__ import annotations

import base64
import json
import sys

import boto3.session


def main() -> None:
    """Answer ``get`` for the host on standard input."""
    host = sys.stdin.read().strip()
    account, _, _, region = host.split(".")[:4]  # <account>.dkr.ecr.<region>.amazonaws.com
    client = boto3.session.Session().client("ecr", region_name=region)
    data = client.get_authorization_token(registryIds=[account])["authorizationData"][0]
    user, _, secret = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    json.dump({"ServerURL": f"https://{host}", "Username": user, "Secret": secret}, sys.stdout)


if __name__ == "__main__":
    main()
