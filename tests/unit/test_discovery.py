"""Discovery: trust policies in, proposed targets out (cases in tests/unit/data/discovery_cases.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webid_canary.core.catalogue import Severity
from webid_canary.core.conditions import glob_match
from webid_canary.core.discovery import Discovery, discover_targets, representative
from webid_canary.core.targets import parse_target, target_to_item

CASES = json.loads((Path(__file__).parent / "data" / "discovery_cases.json").read_text())["cases"]
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Role:
    arn: str
    name: str
    trust_policy_document: str


def roles_of(case: dict[str, Any]) -> list[Role]:
    return [
        Role(
            arn=f"arn:aws:iam::{ACCOUNT}:role/{raw['name']}",
            name=raw["name"],
            trust_policy_document=raw["trust_policy"]
            if isinstance(raw["trust_policy"], str)
            else json.dumps(raw["trust_policy"]),
        )
        for raw in case["roles"]
    ]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_discovery_proposes_the_expected_targets(case: dict[str, Any]) -> None:
    roles = roles_of(case)

    found = discover_targets(roles)

    got = [
        {
            "target_id": p.target.target_id,
            "issuer": p.target.issuer,
            "claims": p.target.claims.to_json(),
            "representative": sorted(p.representative),
        }
        for p in found.proposals
    ]
    expected = [{**p, "representative": sorted(p["representative"])} for p in case["proposals"]]
    assert got == expected
    skipped = [(s.role_arn.rsplit("/", 1)[-1], s.reason) for s in found.skipped]
    assert len(skipped) == len(case.get("skipped", []))
    for (role, reason), wanted in zip(skipped, case.get("skipped", []), strict=True):
        assert role == wanted["role"]
        assert wanted["reason"] in reason
    assert found.roles_read == len(roles)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_proposal_is_a_valid_item_marked_when_it_guesses(case: dict[str, Any]) -> None:
    for proposal in discover_targets(roles_of(case)).proposals:
        target = proposal.target

        assert parse_target(target_to_item(target)) == target
        assert target.claims_are_representative is bool(proposal.representative)
        assert target.role_arn.startswith(f"arn:aws:iam::{ACCOUNT}:role/")
        assert target.token_source is None
        assert target.notes is not None
        assert proposal.statement in target.notes
        for claim in proposal.representative:
            assert claim in target.notes


def test_ids_already_registered_are_avoided() -> None:
    roles = roles_of(CASES[1])

    found = discover_targets(roles, taken_ids={"deploy", "deploy-2"})

    assert [p.target.target_id for p in found.proposals] == ["deploy-3"]


def test_severity_and_owner_are_applied_to_every_proposal() -> None:
    found = discover_targets(roles_of(CASES[5]), severity=Severity.CRITICAL, owner="platform")

    assert {(p.target.severity, p.target.owner) for p in found.proposals} == {(Severity.CRITICAL, "platform")}


def test_discovery_renders_as_json() -> None:
    found = discover_targets(roles_of(CASES[1]) + roles_of(CASES[-2]))

    document = json.loads(json.dumps(found.to_json()))

    assert document["roles_read"] == 5
    assert document["proposals"][0]["target"]["claims"]["sub"] == "repo:acme/payments:ref:refs/heads/main"
    assert document["proposals"][0]["representative_claims"] == ["sub"]
    assert document["proposals"][0]["target"]["claims_are_representative"] is True
    assert {s["role_arn"].rsplit("/", 1)[-1] for s in document["skipped"]} == {
        "wrong-action",
        "deny-only",
        "login-with-amazon",
        "broken-json",
    }
    assert Discovery().to_json() == {"roles_read": 0, "proposals": [], "skipped": []}


@given(st.text(alphabet="ab:/*?-", min_size=1, max_size=30))
def test_a_representative_value_always_matches_its_pattern(pattern: str) -> None:
    assert glob_match(pattern, representative(pattern))
    assert glob_match(pattern, representative(pattern, family="github", claim="sub"))


def test_github_branch_pattern_keeps_the_documented_sub_format() -> None:
    assert representative("repo:acme/app:*", family="github", claim="sub") == "repo:acme/app:ref:refs/heads/main"
    assert representative("repo:acme/app:ref:refs/heads/*", family="github", claim="sub") == (
        "repo:acme/app:ref:refs/heads/main"
    )
    assert representative("system:serviceaccount:ns:*") == "system:serviceaccount:ns:main"


def test_a_long_role_name_keeps_the_provider_suffix_within_64_characters() -> None:
    name = "Deploy-Role-For-The-Payments-Service-In-Production-Eu-West-1-Now"
    policy = json.loads(roles_of(CASES[5])[0].trust_policy_document)
    role = Role(f"arn:aws:iam::{ACCOUNT}:role/{name}", name, json.dumps(policy))

    ids = [p.target.target_id for p in discover_targets([role]).proposals]

    assert ids == [
        "deploy-role-for-the-payments-service-in-production-eu-wes-github",
        "deploy-role-for-the-payments-service-in-production-eks-abcdef01",
    ]
    assert all(len(i) <= 64 for i in ids)


def github_role(name: str, operator: str, sub: str) -> Role:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {operator: {"token.actions.githubusercontent.com:sub": sub}},
            }
        ],
    }
    return Role(f"arn:aws:iam::{ACCOUNT}:role/{name}", name, json.dumps(policy))


def test_a_pattern_github_could_not_send_as_a_subject_asks_for_a_concrete_value() -> None:
    found = discover_targets([github_role("org-wide", "StringLike", "repo:acme/*")])

    assert found.proposals == ()
    (skipped,) = found.skipped
    assert "'repo:acme/*'" in skipped.reason
    assert "register --claim sub=VALUE" in skipped.reason


def test_a_pattern_with_the_repository_still_proposes_a_subject_github_sends() -> None:
    found = discover_targets([github_role("one-repo", "StringLike", "repo:acme/app:*")])

    (proposal,) = found.proposals
    assert proposal.target.claims.to_json()["sub"] == "repo:acme/app:ref:refs/heads/main"
