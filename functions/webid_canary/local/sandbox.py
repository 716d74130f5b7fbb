"""The sandbox: the demo's local AWS and issuers with a few sample targets, for trying every command by hand.

It reuses the demo's pieces (the private CA, moto with the strict STS, the EKS-style and GitHub-style issuers on
loopback) and registers targets in both states a person should see: healthy, failing and open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webid_canary import names
from webid_canary.local.demo import AUDIENCE, start_issuers, start_local_aws
from webid_canary.local.seed import oidc_trust_policy

EKS_NAMESPACE = "billing"


@dataclass(frozen=True)
class Sandbox:
    """What a second shell needs: the environment that points the CLI at the sandbox, and what it holds."""

    environment: dict[str, str]
    target_ids: tuple[str, ...]
    issuers: tuple[str, ...]


def sample_items(eks_url: str, github_url: str, roles: dict[str, str]) -> list[dict[str, Any]]:
    """The sample targets: two healthy, one failing (a mistyped service account), one open (any repository)."""
    return [
        {
            "target_id": "invoice-worker",
            "role_arn": roles["invoice-worker"],
            "issuer": eks_url,
            "claims": {"sub": f"system:serviceaccount:{EKS_NAMESPACE}:invoice-worker", "aud": AUDIENCE},
            "severity": "critical",
            "owner": "team-billing",
        },
        {
            "target_id": "deploy",
            "role_arn": roles["deploy"],
            "issuer": github_url,
            "claims": {"sub": "repo:acme/payments:ref:refs/heads/main", "aud": AUDIENCE},
            "must_deny": [{"sub": "repo:acme/payments:pull_request"}],
            "severity": "high",
            "owner": "team-payments",
        },
        {
            "target_id": "report-worker",
            "role_arn": roles["report-worker"],
            "issuer": eks_url,
            "claims": {"sub": f"system:serviceaccount:{EKS_NAMESPACE}:report-worker", "aud": AUDIENCE},
            "severity": "high",
            "owner": "team-billing",
        },
        {
            "target_id": "preview-deploy",
            "role_arn": roles["preview-deploy"],
            "issuer": github_url,
            "claims": {"sub": "repo:acme/web:pull_request", "aud": AUDIENCE},
            "must_deny": [{"sub": "repo:acme/payments:pull_request"}],
            "severity": "medium",
            "owner": "team-web",
        },
    ]


def start_sandbox(
    stack: contextlib.ExitStack, workdir: Path, progress: Callable[[str], None] = lambda _: None
) -> Sandbox:
    """Start the local AWS and issuers (stopped when `stack` closes), seed roles, providers, tables and targets."""
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.targets import parse_target

    progress("starting the local AWS (moto with the strict STS)")
    pki, server, seed = start_local_aws(stack, workdir)
    progress("starting the OIDC issuers on 127.0.0.1")
    eks, github = start_issuers(stack, pki)
    progress("creating the tables, providers, roles and sample targets")
    targets_table, state_table = seed.tables()
    eks_arn = seed.provider(eks, client_ids=[AUDIENCE])
    github_arn = seed.provider(github, client_ids=[AUDIENCE])

    def eks_role(name: str, service_account: str) -> str:
        sub = f"system:serviceaccount:{EKS_NAMESPACE}:{service_account}"
        return seed.role(name, oidc_trust_policy(eks_arn, eks.provider_url, sub=sub, aud=AUDIENCE))

    def github_role(name: str, sub: str, operator: str) -> str:
        policy = oidc_trust_policy(github_arn, github.provider_url, sub=sub, aud=AUDIENCE, operator=operator)
        return seed.role(name, policy)

    roles = {
        "invoice-worker": eks_role("invoice-worker", "invoice-worker"),
        "report-worker": eks_role("report-worker", "report-wroker"),
        "deploy": github_role("deploy", "repo:acme/payments:ref:refs/heads/main", "StringEquals"),
        "preview-deploy": github_role("preview-deploy", "repo:acme/*", "StringLike"),
    }
    items = sample_items(eks.url, github.url, roles)
    TargetsTable(server.client("dynamodb"), targets_table).put_all([parse_target(item) for item in items])
    environment = {
        **server.environment(),
        "AWS_REGION": server.region,
        names.ENV_TARGETS_TABLE: targets_table,
        names.ENV_STATE_TABLE: state_table,
        names.ENV_ALLOW_PRIVATE_ISSUERS: "true",
        names.ENV_CA_FILE: str(pki.ca_file),
    }
    return Sandbox(
        environment=environment,
        target_ids=tuple(str(item["target_id"]) for item in items),
        issuers=(eks.url, github.url),
    )
