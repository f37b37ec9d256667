"""``policy``: the minimal IAM policy the helper needs (``--pull``: and what pulling needs)."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from docker_credential_ecr.commands.context import Context

TOKEN_ACTIONS = [
    "ecr:GetAuthorizationToken",
    "ecr-public:GetAuthorizationToken",
    "sts:GetServiceBearerToken",
]
PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
]


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare policy's options."""
    parser.add_argument("--pull", action="store_true", help="add the actions a host needs to pull")


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Print the policy document."""
    statements: list[dict[str, object]] = [
        {"Sid": "GetRegistryTokens", "Effect": "Allow", "Action": TOKEN_ACTIONS, "Resource": "*"}
    ]
    if args.pull:
        statements.append(
            {
                "Sid": "PullImages",
                "Effect": "Allow",
                "Action": PULL_ACTIONS,
                "Resource": "arn:aws:ecr:*:*:repository/*",
            }
        )
    ctx.out.write(json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2) + "\n")
    return 0
