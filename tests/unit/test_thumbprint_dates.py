"""Drift and explain read one dated table for when AWS stopped using thumbprints, so they agree on every date.

The dates per provider are in data/context_keys.json (thumbprint_trusted_root_ca); the table below restates
them as a user would expect them, so a wrong row fails here as well as disagreement between the two checks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from webid_canary.core.case import build_case
from webid_canary.core.catalogue import Severity
from webid_canary.core.drift import check_drift
from webid_canary.core.explain import explain
from webid_canary.core.inspection import CertificateFacts, Fetch, HostFacts, IssuerInspection, KeyFacts, Role
from webid_canary.core.model import ProviderRecord

ACCOUNT = "123456789012"
CONFIGURED, PRESENTED = "a" * 40, "b" * 40

# provider URL as IAM stores it, client ID, the day AWS began verifying it against trusted root CAs
PROVIDERS: dict[str, tuple[str, str, date]] = {
    "github": ("token.actions.githubusercontent.com", "sts.amazonaws.com", date(2023, 7, 6)),
    "google": ("accounts.google.com", "1234.apps.googleusercontent.com", date(2023, 5, 31)),
    "auth0": ("acme.eu.auth0.com", "sts.amazonaws.com", date(2023, 5, 31)),
    "generic": ("idp.example/tenant", "sts.amazonaws.com", date(2024, 7, 1)),
}
DATES = sorted({since for _, _, since in PROVIDERS.values()})
INSTANTS = [
    instant
    for day in DATES
    for instant in (
        datetime.combine(day, time(), tzinfo=UTC) - timedelta(seconds=1),
        datetime.combine(day, time(), tzinfo=UTC),
    )
]


def _provider(url: str, client_id: str) -> ProviderRecord:
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url}"
    return ProviderRecord(url=url, client_ids=(client_id,), thumbprints=(CONFIGURED,), arn=arn)


def _inspection(url: str, trusted: bool, now: datetime) -> IssuerInspection:
    """One host serving discovery and keys, presenting a chain whose last certificate is not configured."""
    issuer = f"https://{url}"
    leaf = CertificateFacts("CN=leaf", "CN=Intermediate", now + timedelta(days=400), "f" * 40)
    last = CertificateFacts("CN=Intermediate", "CN=Root", now + timedelta(days=900), PRESENTED)
    return IssuerInspection(
        url=issuer,
        inspected_at=now,
        discovery=Fetch(f"{issuer}/.well-known/openid-configuration", 200, 0.1),
        issuer=issuer,
        jwks_uri=f"{issuer}/keys",
        jwks=Fetch(f"{issuer}/keys", 200, 0.1),
        keys=(KeyFacts(kid="k1", kty="RSA", alg="RS256", use="sig"),),
        hosts=(HostFacts(url.split("/", 1)[0], Role.ISSUER, (leaf, last), trusted_root_ca=trusted),),
    )


def _policy(url: str, client_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{url}:aud": client_id}},
            }
        ],
    }


CASES = [
    pytest.param(name, now, trusted, id=f"{name}-{now:%Y-%m-%dT%H:%M:%S}-{'trusted' if trusted else 'private'}")
    for name in PROVIDERS
    for now in INSTANTS
    for trusted in (True, False)
]


@pytest.mark.parametrize(("name", "now", "trusted"), CASES)
def test_drift_and_explain_agree_on_whether_aws_uses_the_thumbprint(name: str, now: datetime, trusted: bool) -> None:
    url, client_id, since = PROVIDERS[name]
    provider = _provider(url, client_id)
    seen = _inspection(url, trusted, now)
    uses_thumbprint = not trusted or now.date() < since

    (finding,) = check_drift(provider, seen, None, now=now)
    assert finding.code == "thumbprint_mismatch"
    assert finding.evidence["aws_uses_thumbprints"] is uses_thumbprint
    assert finding.severity is (Severity.CRITICAL if uses_thumbprint else Severity.INFO)

    claims = {"iss": f"https://{url}", "aud": client_id, "sub": "someone", "exp": now.timestamp() + 300}
    case = build_case(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/deploy",
        trust_policy=_policy(url, client_id),
        provider=provider,
        claims=claims,
        now=now,
        idp=seen.idp_facts(),
    )
    verdict = explain(case)
    assert verdict.root_cause == ("provider_thumbprint_mismatch" if uses_thumbprint else "none")
    assert verdict.allowed is not uses_thumbprint


def test_every_date_is_crossed_by_some_provider() -> None:
    """Each provider changes answer on its own day, and only there, among all the table's days."""
    for name, (url, client_id, since) in PROVIDERS.items():
        provider = _provider(url, client_id)
        severities = [check_drift(provider, _inspection(url, True, now), None, now=now)[0].severity for now in INSTANTS]
        changes = [INSTANTS[i + 1] for i in range(len(INSTANTS) - 1) if severities[i] != severities[i + 1]]
        assert changes == [datetime.combine(since, time(), tzinfo=UTC)], name
