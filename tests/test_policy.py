"""policy in-process: the exact IAM document, with and without --pull, asking AWS nothing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from docker_credential_ecr import commands
from docker_credential_ecr.commands import policy
from docker_credential_ecr.commands.context import Parser
from support.services import World, context, errors, output

TOKENS = {
    "Sid": "GetRegistryTokens",
    "Effect": "Allow",
    "Action": [
        "ecr:GetAuthorizationToken",
        "ecr-public:GetAuthorizationToken",
        "sts:GetServiceBearerToken",
    ],
    "Resource": "*",
}
PULL = {
    "Sid": "PullImages",
    "Effect": "Allow",
    "Action": [
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    ],
    "Resource": "arn:aws:ecr:*:*:repository/*",
}


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_the_policy_is_token_actions_only_and_asks_aws_nothing(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert policy.main(argparse.Namespace(pull=False), ctx) == 0
    assert json.loads(output(ctx)) == {"Version": "2012-10-17", "Statement": [TOKENS]}
    assert errors(ctx) == ""
    assert w.asked == []


def test_pull_adds_the_image_actions_on_ecr_repositories_only(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert policy.main(argparse.Namespace(pull=True), ctx) == 0
    assert json.loads(output(ctx)) == {"Version": "2012-10-17", "Statement": [TOKENS, PULL]}


def test_the_document_is_indented_by_two_and_ends_in_one_newline(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    policy.main(argparse.Namespace(pull=False), ctx)
    text = output(ctx)
    assert text == json.dumps({"Version": "2012-10-17", "Statement": [TOKENS]}, indent=2) + "\n"
    assert text.splitlines()[:3] == ["{", '  "Version": "2012-10-17",', '  "Statement": [']


def test_the_options_are_pull_alone_off_by_default() -> None:
    parser = Parser(prog="docker-credential-ecr policy")
    policy.arguments(parser, "policy")
    assert parser.parse_args([]) == argparse.Namespace(pull=False)
    assert parser.parse_args(["--pull"]) == argparse.Namespace(pull=True)


def test_run_from_the_table_it_prints_the_pull_policy(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    command = commands.find("policy")
    assert command is not None
    assert commands.run(command, ["--pull"], ctx) == 0
    assert [s["Sid"] for s in json.loads(output(ctx))["Statement"]] == [
        "GetRegistryTokens",
        "PullImages",
    ]


def test_an_unknown_option_is_one_line_on_stderr_and_no_policy(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    command = commands.find("policy")
    assert command is not None
    assert commands.run(command, ["--push"], ctx) == 1
    assert output(ctx) == ""
    assert errors(ctx) == (
        "docker-credential-ecr policy: unrecognized arguments: --push (see --help)\n"
    )
