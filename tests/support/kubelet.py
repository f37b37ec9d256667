"""Kubelet provider requests as the kubelet writes them, and the password a response gives."""

from __future__ import annotations

import json
from typing import Any

from docker_credential_ecr import kubelet
from support.hosts import ECR_HOST

API_V1 = "credentialprovider.kubelet.k8s.io/v1"
IMAGE = f"{ECR_HOST}/team/app:1.2"
ROLE = "arn:aws:iam::123456789012:role/pod-puller"
OTHER_ROLE = "arn:aws:iam::123456789012:role/env-puller"


def request(image: str = IMAGE, version: str = API_V1, **extra: Any) -> str:
    """A CredentialProviderRequest as the kubelet writes it."""
    return json.dumps(
        {"apiVersion": version, "kind": "CredentialProviderRequest", "image": image, **extra}
    )


def sa_request(token: str, role: str | None = ROLE, image: str = IMAGE) -> str:
    """A request carrying a service account's token (and its role annotation, if any)."""
    annotations = {kubelet.ROLE_ANNOTATION: role} if role else {"team": "a"}
    return request(image, serviceAccountToken=token, serviceAccountAnnotations=annotations)


def password(document: Any, registry: str = ECR_HOST) -> str:
    """The password the response gives for ``registry``."""
    auth = document["auth"][registry]
    assert auth["username"] == "AWS"
    return str(auth["password"])
