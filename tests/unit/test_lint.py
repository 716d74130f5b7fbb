"""Trust policy lint: table of policies (tests/unit/lint_cases.json) and the duplicate-key rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.catalogue import Severity
from webid_canary.core.lint import lint
from webid_canary.core.policy import parse_trust_policy

ROWS = json.loads((Path(__file__).parent / "lint_cases.json").read_text())


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_lint_finds_exactly_the_expected_codes(row: dict[str, Any]) -> None:
    findings = lint(parse_trust_policy(row["policy"]), provider_url=row.get("provider_url"))
    assert sorted({f.code for f in findings}) == sorted(row["findings"])
    assert row["source"].startswith("https://")


def test_duplicate_condition_block_is_reported_with_the_dropped_value() -> None:
    text = """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/payments:*"},
        "StringLike": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]}"""
    policy = parse_trust_policy(text)

    findings = lint(policy)

    duplicate = [f for f in findings if f.code == "duplicate_key_dropped"]
    assert len(duplicate) == 1
    assert duplicate[0].evidence["key"] == "StringLike"
    assert duplicate[0].evidence["dropped"] == {"token.actions.githubusercontent.com:sub": "repo:acme/payments:*"}
    # IAM keeps the last block: the sub condition is gone, so the role is open to every repository.
    assert "sub_not_pinned" in {f.code for f in findings}


def test_cognito_without_aud_is_critical_and_lint_can_focus_on_one_provider() -> None:
    policy = parse_trust_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/gitlab.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                },
            ]
        }
    )
    everything = lint(policy)
    gitlab_only = lint(policy, provider_url="https://gitlab.com")

    assert any(f.code == "aud_not_pinned" and f.severity is Severity.CRITICAL for f in everything)
    assert {f.evidence["principal"] for f in gitlab_only} == {"arn:aws:iam::1:oidc-provider/gitlab.com"}


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://idp.example.com:8443/realms/prod", True),
        ("idp.example.com:443", True),
        ("idp.example.com/realms/prod", False),
        ("https://idp.example.com/path:with-colon", False),
    ],
)
def test_a_provider_url_with_a_port_is_an_error_iam_would_raise_at_save_time(url: str, refused: bool) -> None:
    policy = parse_trust_policy(ROWS[0]["policy"])

    findings = [f for f in lint(policy, provider_url=url) if f.code == "provider_url_has_port"]

    assert bool(findings) == refused
    assert all(f.severity == Severity.CRITICAL and "port" in str(f.evidence["aws_says"]) for f in findings)
