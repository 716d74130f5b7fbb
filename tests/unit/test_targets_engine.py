"""A registered target's claims reach the explain engine as the JSON a token carries (lists, objects)."""

from __future__ import annotations

from datetime import UTC, datetime

from webid_canary.core.case import build_case
from webid_canary.core.check import synthetic_claims
from webid_canary.core.explain import explain
from webid_canary.core.targets import parse_target

NOW = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
POOL = "eu-west-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"cognito-identity.amazonaws.com:aud": POOL},
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
            },
        }
    ],
}


def outcome(amr: list[str]) -> str:
    target = parse_target(
        {
            "target_id": "app-signed-in",
            "role_arn": "arn:aws:iam::123456789012:role/app-signed-in",
            "issuer": "https://cognito-identity.amazonaws.com",
            "claims": {"sub": "eu-west-1:5f0c8a2e-91d4-4b6a-8e3f-0a7b6c5d4e21", "aud": POOL, "amr": amr},
        }
    )
    case = build_case(
        role_arn=target.role_arn, trust_policy=TRUST, provider=None, claims=synthetic_claims(target, NOW), now=NOW
    )
    return str(explain(case).to_json()["outcome"])


def test_a_list_claim_of_a_target_is_evaluated_as_a_list() -> None:
    assert outcome(["authenticated"]) == "allow"
    assert outcome(["unauthenticated"]) == "deny"
