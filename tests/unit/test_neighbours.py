"""Generated must-deny neighbours follow each provider's documented subject format."""

from __future__ import annotations

import pytest

from webid_canary.core.neighbours import neighbours

CASES = [
    (
        {"sub": "repo:acme/payments:ref:refs/heads/main", "repository": "acme/payments"},
        {
            ("repo:acme/webid-canary-probe:ref:refs/heads/main", True),
            ("repo:webid-canary-probe/payments:ref:refs/heads/main", True),
            ("repo:acme/payments:ref:refs/heads/webid-canary-probe", False),
            ("webid-canary-probe-unrelated-subject", True),
        },
    ),
    (
        {"sub": "repo:acme/payments:environment:prod"},
        {
            ("repo:acme/webid-canary-probe:environment:prod", True),
            ("repo:webid-canary-probe/payments:environment:prod", True),
            ("repo:acme/payments:environment:webid-canary-probe", False),
            ("webid-canary-probe-unrelated-subject", True),
        },
    ),
    (
        {"sub": "system:serviceaccount:billing:invoice-worker"},
        {
            ("system:serviceaccount:billing:webid-canary-probe", True),
            ("system:serviceaccount:webid-canary-probe:invoice-worker", True),
            ("webid-canary-probe-unrelated-subject", True),
        },
    ),
    (
        {"sub": "project_path:platform/infra:ref_type:branch:ref:main"},
        {
            ("project_path:platform/webid-canary-probe:ref_type:branch:ref:main", True),
            ("project_path:webid-canary-probe/infra:ref_type:branch:ref:main", True),
            ("project_path:platform/infra:ref_type:branch:ref:webid-canary-probe", False),
            ("webid-canary-probe-unrelated-subject", True),
        },
    ),
    ({"sub": "00u1abcd"}, {("webid-canary-probe-unrelated-subject", True)}),
]


@pytest.mark.parametrize(("claims", "expected"), CASES)
def test_neighbour_subjects(claims: dict[str, object], expected: set[tuple[str, bool]]) -> None:
    got = {(str(n.claims["sub"]), n.crosses_boundary) for n in neighbours(claims)}
    assert got == expected


def test_other_claims_are_kept_and_repository_follows_sub() -> None:
    found = neighbours({"sub": "repo:acme/payments:pull_request", "aud": "sts.amazonaws.com", "repository": "x"})
    other_repo = next(n for n in found if n.label == "another repository of acme")
    assert other_repo.claims["aud"] == "sts.amazonaws.com"
    assert other_repo.claims["repository"] == "acme/webid-canary-probe"


def test_no_sub_no_neighbours() -> None:
    assert neighbours({"aud": "x"}) == ()


def test_cognito_neighbours_are_another_pool_and_a_guest_identity() -> None:
    claims = {
        "iss": "https://cognito-identity.amazonaws.com",
        "sub": "eu-west-1:5f0c8a2e-91d4-4b6a-8e3f-0a7b6c5d4e21",
        "aud": "eu-west-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93",
        "amr": ["authenticated", "graph.facebook.com"],
    }
    found = {n.label: n.claims for n in neighbours(claims)}
    assert set(found) == {"an identity of another identity pool", "an unauthenticated (guest) identity"}
    assert found["an identity of another identity pool"]["aud"] != claims["aud"]
    assert str(found["an identity of another identity pool"]["aud"]).startswith("eu-west-1:")
    assert found["an unauthenticated (guest) identity"]["amr"] == ["unauthenticated"]
    assert found["an unauthenticated (guest) identity"]["sub"] == claims["sub"]
