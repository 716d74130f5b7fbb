"""What the engine keeps between requests (parsed policies, per-policy statement choices, per-role texts, shared
trace steps) never answers one request with another's facts, and stays bounded."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime

import pytest

from webid_canary.core.case import build_case
from webid_canary.core.claims import Claims, parse_claims
from webid_canary.core.explain import explain
from webid_canary.core.model import IdpFacts, ProviderRecord
from webid_canary.core.policy import parse_trust_policy
from webid_canary.core.verdict import Verdict

GH = "token.actions.githubusercontent.com"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/deploy"
PROVIDER = ProviderRecord(GH, ("sts.amazonaws.com",), ("a" * 40,), f"arn:aws:iam::123456789012:oidc-provider/{GH}")
IDP = IdpFacts(presented_thumbprints=("a" * 40,), trusted_root_ca=True, jwks_reachable=True, jwks_kids=("k1",))


def policy_text(sub_pattern: str, federated: str = f"arn:aws:iam::123456789012:oidc-provider/{GH}") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": federated},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"},
                        "StringLike": {f"{GH}:sub": sub_pattern},
                    },
                }
            ],
        }
    )


def claims(sub: str, exp: int = 1772366700, aud: str = "sts.amazonaws.com") -> dict[str, object]:
    return {"iss": f"https://{GH}", "aud": aud, "sub": sub, "exp": exp}


def predict(
    policy: str,
    sub: str,
    *,
    role: str = ROLE,
    provider: ProviderRecord = PROVIDER,
    now: datetime = NOW,
    exp: int = 1772366700,
) -> Verdict:
    case = build_case(
        role_arn=role,
        trust_policy=policy,
        provider=provider,
        claims=claims(sub, exp),
        now=now,
        session_name="webid-canary",
        duration_seconds=900,
        idp=IDP,
    )
    return explain(case)


def test_each_policy_text_is_judged_on_its_own() -> None:
    payments, ledger = policy_text("repo:acme/payments:*"), policy_text("repo:acme/ledger:*")
    sub = "repo:acme/payments:ref:refs/heads/main"

    assert predict(payments, sub).outcome == "allow"
    denied = predict(ledger, sub)
    assert predict(payments, sub).outcome == "allow"

    assert denied.outcome == "deny"
    assert denied.root_cause == "trust_condition_mismatch"
    assert denied.expected == ("repo:acme/ledger:*",)


def test_each_sub_is_judged_against_the_same_policy() -> None:
    payments = policy_text("repo:acme/payments:ref:refs/heads/*")

    allowed = predict(payments, "repo:acme/payments:ref:refs/heads/main")
    denied = predict(payments, "repo:acme/payments:pull_request")

    assert allowed.outcome == "allow"
    assert denied.outcome == "deny"
    assert denied.actual == ("repo:acme/payments:pull_request",)
    assert "sub=repo:acme/payments:pull_request" in denied.trace[1]


def test_an_allow_names_its_own_role() -> None:
    payments = policy_text("repo:acme/payments:*")
    sub = "repo:acme/payments:ref:refs/heads/main"

    first = predict(payments, sub, role="arn:aws:iam::123456789012:role/first")
    second = predict(payments, sub, role="arn:aws:iam::123456789012:role/second")

    assert "role/first" in first.explanation + first.message + first.remedy
    assert "role/second" not in first.explanation + first.message + first.remedy
    assert "role/second" in second.explanation + second.message + second.remedy


def test_an_audience_is_checked_against_the_providers_own_client_ids() -> None:
    payments = policy_text("repo:acme/payments:*")
    sub = "repo:acme/payments:ref:refs/heads/main"
    other_client = replace(PROVIDER, client_ids=("other-client",))

    assert predict(payments, sub).outcome == "allow"
    refused = predict(payments, sub, provider=other_client)

    assert refused.root_cause == "provider_audience_not_registered"


def test_expiry_is_judged_at_each_requests_instant() -> None:
    payments = policy_text("repo:acme/payments:*")
    sub = "repo:acme/payments:ref:refs/heads/main"
    exp = int(NOW.timestamp()) + 300

    assert predict(payments, sub, exp=exp).outcome == "allow"
    late = predict(payments, sub, exp=exp, now=datetime(2026, 3, 1, 13, tzinfo=UTC))

    assert late.root_cause == "token_expired"


def test_a_policy_keeps_a_bounded_number_of_statement_choices() -> None:
    text = policy_text("repo:acme/payments:*", federated="*")
    policy = parse_trust_policy(text)
    for index in range(200):
        issuer = f"issuer-{index}.example.com"
        case = build_case(
            role_arn=ROLE,
            trust_policy=text,
            provider=ProviderRecord(issuer, ("sts.amazonaws.com",)),
            claims={"iss": f"https://{issuer}", "aud": "sts.amazonaws.com", "sub": "x", "exp": 1772366700},
            now=NOW,
        )
        explain(case)

    assert parse_trust_policy(text) is policy
    assert 0 < len(policy.candidates) <= 64


def test_the_quick_constructors_keep_the_types_frozen_and_their_defaults() -> None:
    parsed = parse_claims(claims("repo:acme/payments:ref:refs/heads/main"))

    with pytest.raises(FrozenInstanceError):
        parsed.sub = "repo:acme/other:ref:refs/heads/main"  # type: ignore[misc]
    assert Claims() == Claims(raw={}, iss=None, aud=(), problems=())
    assert replace(parsed, sub="other").sub == "other"
    assert replace(parsed, sub="other").iss == parsed.iss
    assert parsed == Claims(**{name: getattr(parsed, name) for name in Claims.__dataclass_fields__})
    assert type(parsed) is Claims
    verdict = predict(policy_text("repo:acme/payments:*"), "repo:acme/payments:ref:refs/heads/main")
    with pytest.raises(FrozenInstanceError):
        verdict.outcome = "deny"  # type: ignore[misc]
    assert type(verdict) is Verdict and verdict == replace(verdict)
    assert replace(verdict, outcome="deny").outcome == "deny"
    assert "Verdict(outcome='allow'" in repr(verdict)


def test_the_quick_constructor_is_only_for_the_types_it_can_build() -> None:
    from dataclasses import dataclass, field

    from webid_canary.core.frozen import builder

    @dataclass(slots=True)
    class Unfrozen:
        value: int

    @dataclass(frozen=True)
    class Unslotted:
        value: int

    @dataclass(frozen=True, slots=True)
    class Derived:
        value: int
        doubled: int = field(init=False)

    for cls in (Unfrozen, Unslotted, Derived):
        with pytest.raises(TypeError):
            builder(cls)


def test_the_provider_checks_of_one_request_are_not_another_requests() -> None:
    payments = policy_text("repo:acme/payments:*")
    sub = "repo:acme/payments:ref:refs/heads/main"

    def with_idp(idp: IdpFacts) -> Verdict:
        case = build_case(role_arn=ROLE, trust_policy=payments, provider=PROVIDER, claims=claims(sub), now=NOW, idp=idp)
        return explain(case)

    assert predict(payments, sub).outcome == "allow"
    unreachable = with_idp(replace(IDP, jwks_reachable=False))
    bad_signature = with_idp(replace(IDP, signature_valid=False))

    assert unreachable.root_cause == "provider_keys_unreachable"
    assert bad_signature.root_cause == "token_signature_invalid"
    assert predict(payments, sub).outcome == "allow"


def test_facts_made_and_dropped_one_after_another_are_each_judged_on_their_own() -> None:
    # Each IdP facts object is dropped before the next is made, so the next may well get the same address.
    payments = policy_text("repo:acme/payments:*")
    sub = "repo:acme/payments:ref:refs/heads/main"
    for index in range(200):
        reachable = index % 2 == 0
        idp = replace(IDP, jwks_reachable=reachable)
        case = build_case(role_arn=ROLE, trust_policy=payments, provider=PROVIDER, claims=claims(sub), now=NOW, idp=idp)
        del idp
        verdict = explain(case)
        del case
        assert verdict.root_cause == ("none" if reachable else "provider_keys_unreachable"), index
    copy = replace(PROVIDER)
    assert copy is not PROVIDER
    assert predict(payments, sub, provider=copy) == predict(payments, sub)


def test_the_checks_not_made_are_read_from_the_verdicts_own_trace() -> None:
    verdict = predict(policy_text("repo:acme/payments:*"), "repo:acme/payments:ref:refs/heads/main")
    assert verdict.unchecked == ("signature",)
    assert verdict.to_json()["unchecked"] == ["signature"]

    checked = replace(verdict, trace=tuple(line for line in verdict.trace if not line.startswith("signature:")))
    assert checked.unchecked == ()
    assert checked.to_json()["unchecked"] == []
    assert checked != verdict
    assert replace(checked, trace=verdict.trace) == verdict
    assert Verdict("allow", None, "", "none", trace=("keys: not checked (no facts)",)).unchecked == ("keys",)
