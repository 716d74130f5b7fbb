"""Drift checks as a table: provider record x inspection facts x baseline -> codes with severities."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from webid_canary.core import catalogue
from webid_canary.core.catalogue import Kind, Severity
from webid_canary.core.context import thumbprints_ignored_since
from webid_canary.core.drift import (
    DriftFinding,
    ProviderBaseline,
    baseline_from,
    check_drift,
    deleted_providers,
    federated_principals,
    missing_providers,
    provider_report,
    trusting_roles,
    worst,
)
from webid_canary.core.inspection import CertificateFacts, Failure, Fetch, HostFacts, IssuerInspection, KeyFacts, Role
from webid_canary.core.model import IdpFacts, ProviderRecord

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BEFORE_TRUSTED_ROOTS = datetime(2023, 1, 1, tzinfo=UTC)
OLD, NEW, KEYS = "a" * 40, "b" * 40, "c" * 40
ARN = "arn:aws:iam::111122223333:oidc-provider/idp.example/tenant"
PROVIDER = ProviderRecord(url="idp.example/tenant", client_ids=("sts.amazonaws.com",), thumbprints=(OLD,), arn=ARN)


def chain(last: str, *, days: float = 400) -> tuple[CertificateFacts, ...]:
    leaf = CertificateFacts("CN=idp.example", "CN=Intermediate", NOW + timedelta(days=days), "f" * 40)
    return (leaf, CertificateFacts("CN=Intermediate", "CN=Root", NOW + timedelta(days=1000), last))


def host(name: str = "idp.example", role: Role = Role.ISSUER, last: str = OLD, **kw: Any) -> HostFacts:
    return HostFacts(host=name, role=role, chain=chain(last, days=kw.pop("days", 400)), **kw)


def inspection(**changes: Any) -> IssuerInspection:
    base = IssuerInspection(
        url="https://idp.example/tenant",
        inspected_at=NOW,
        discovery=Fetch("https://idp.example/tenant/.well-known/openid-configuration", 200, 0.2),
        issuer="https://idp.example/tenant",
        jwks_uri="https://idp.example/tenant/keys",
        jwks=Fetch("https://idp.example/tenant/keys", 200, 0.2),
        keys=(KeyFacts(kid="k1", kty="RSA", alg="RS256", use="sig"),),
        hosts=(host(trusted_root_ca=False),),
    )
    return replace(base, **changes)


TWO_HOSTS_PRIVATE = (host(trusted_root_ca=False), host("keys.example", Role.JWKS, KEYS, trusted_root_ca=False))
TWO_HOSTS_TRUSTED = (host(trusted_root_ca=True), host("keys.example", Role.JWKS, KEYS, trusted_root_ca=True))
BASELINE = ProviderBaseline(
    url=PROVIDER.url,
    arn=ARN,
    recorded_at=NOW - timedelta(days=1),
    thumbprints=(("idp.example", OLD),),
    key_ids=("k1",),
    issuer="https://idp.example/tenant",
    jwks_uri="https://idp.example/tenant/keys",
    client_ids=("sts.amazonaws.com",),
)

# id, provider, inspection, baseline, keyword arguments, expected [(code, severity)]
CASES: list[
    tuple[
        str,
        ProviderRecord | None,
        IssuerInspection | None,
        ProviderBaseline | None,
        dict[str, Any],
        list[tuple[str, Severity]],
    ]
] = [
    ("healthy private issuer", PROVIDER, inspection(), BASELINE, {}, []),
    ("healthy, unchecked baseline", PROVIDER, inspection(), None, {}, []),
    (
        "rotated intermediate on a private chain: AWS checks the list",
        PROVIDER,
        inspection(hosts=(host(last=NEW, trusted_root_ca=False),)),
        BASELINE,
        {},
        [("thumbprint_mismatch", Severity.CRITICAL), ("thumbprint_changed", Severity.INFO)],
    ),
    (
        "rotated intermediate on a publicly trusted chain: the list is not used",
        PROVIDER,
        inspection(hosts=(host(last=NEW, trusted_root_ca=True),)),
        BASELINE,
        {},
        [("thumbprint_mismatch", Severity.INFO), ("thumbprint_changed", Severity.INFO)],
    ),
    (
        "trusted chain before AWS stopped using thumbprints",
        PROVIDER,
        inspection(hosts=(host(last=NEW, trusted_root_ca=True),)),
        None,
        {"now": BEFORE_TRUSTED_ROOTS},
        [("thumbprint_mismatch", Severity.CRITICAL)],
    ),
    (
        "chain unknown (TLS facts unusable) counts as thumbprint-verified",
        PROVIDER,
        inspection(hosts=(host(last=NEW, trusted_root_ca=None),)),
        None,
        {},
        [("thumbprint_mismatch", Severity.CRITICAL)],
    ),
    (
        "keys on a second host the list does not cover",
        PROVIDER,
        inspection(
            hosts=TWO_HOSTS_PRIVATE, jwks_uri="https://keys.example/k", jwks=Fetch("https://keys.example/k", 200, 0.1)
        ),
        None,
        {},
        [("thumbprint_host_uncovered", Severity.HIGH)],
    ),
    (
        "second host uncovered but both chains trusted",
        PROVIDER,
        inspection(hosts=TWO_HOSTS_TRUSTED),
        None,
        {},
        [("thumbprint_host_uncovered", Severity.INFO)],
    ),
    (
        "both hosts covered",
        replace(PROVIDER, thumbprints=(OLD, KEYS)),
        inspection(hosts=TWO_HOSTS_PRIVATE),
        None,
        {},
        [],
    ),
    (
        "neither host covered",
        replace(PROVIDER, thumbprints=(NEW,)),
        inspection(hosts=TWO_HOSTS_PRIVATE),
        None,
        {},
        [("thumbprint_mismatch", Severity.CRITICAL), ("thumbprint_mismatch", Severity.CRITICAL)],
    ),
    (
        "thumbprints compare case-insensitively",
        replace(PROVIDER, thumbprints=(OLD.upper(),)),
        inspection(),
        None,
        {},
        [],
    ),
    (
        "discovery issuer differs from the provider URL",
        PROVIDER,
        inspection(issuer="https://idp.example/tenant/"),
        None,
        {},
        [("issuer_mismatch", Severity.CRITICAL)],
    ),
    (
        "discovery unreachable hides everything that depends on it",
        PROVIDER,
        inspection(
            discovery=Fetch(
                "https://idp.example/.well-known/openid-configuration", None, 5.0, Failure.TIMEOUT, "timed out"
            ),
            issuer=None,
            jwks=None,
            keys=(),
        ),
        None,
        {},
        [("discovery_unreachable", Severity.CRITICAL)],
    ),
    (
        "JWKS answered 500",
        PROVIDER,
        inspection(jwks=Fetch("https://idp.example/tenant/keys", 500, 0.1, Failure.STATUS, "HTTP 500"), keys=()),
        None,
        {},
        [("jwks_unreachable", Severity.CRITICAL)],
    ),
    (
        "discovery names no jwks_uri",
        PROVIDER,
        inspection(jwks_uri=None, jwks=None, keys=()),
        None,
        {},
        [("jwks_unreachable", Severity.CRITICAL)],
    ),
    (
        "a key without kid",
        PROVIDER,
        inspection(keys=(KeyFacts(kid=None, kty="RSA", alg="RS256"),)),
        None,
        {},
        [("jwks_kid_missing", Severity.HIGH)],
    ),
    (
        "an encryption key without kid is not a signing key",
        PROVIDER,
        inspection(
            keys=(KeyFacts(kid="k1", kty="RSA", alg="RS256"), KeyFacts(kid=None, kty="RSA", alg="RSA-OAEP", use="enc"))
        ),
        None,
        {},
        [],
    ),
    (
        "HS256 and PS256 keys are not accepted",
        PROVIDER,
        inspection(keys=(KeyFacts(kid="k1", kty="oct", alg="HS256"), KeyFacts(kid="k2", kty="RSA", alg="PS256"))),
        None,
        {},
        [("jwks_alg_unsupported", Severity.HIGH)],
    ),
    (
        "keys without alg: RSA and P-256 are fine, Ed25519 is not",
        PROVIDER,
        inspection(
            keys=(
                KeyFacts(kid="k1", kty="RSA"),
                KeyFacts(kid="k2", kty="EC", crv="P-256"),
                KeyFacts(kid="k3", kty="OKP", crv="Ed25519"),
            )
        ),
        None,
        {},
        [("jwks_alg_unsupported", Severity.HIGH)],
    ),
    (
        "slow discovery and JWKS",
        PROVIDER,
        inspection(),
        None,
        {"slow_seconds": 0.3},
        [("jwks_slow", Severity.MEDIUM)],
    ),
    (
        "keys rotated since the baseline",
        PROVIDER,
        inspection(keys=(KeyFacts(kid="k2", kty="RSA", alg="RS256"),)),
        BASELINE,
        {},
        [("jwks_keys_changed", Severity.INFO)],
    ),
    (
        "certificate expiring within the window",
        PROVIDER,
        inspection(hosts=(host(days=20, trusted_root_ca=False),)),
        None,
        {},
        [("certificate_expiring", Severity.MEDIUM)],
    ),
    (
        "certificate expiring within 7 days",
        PROVIDER,
        inspection(hosts=(host(days=3, trusted_root_ca=False),)),
        None,
        {},
        [("certificate_expiring", Severity.HIGH)],
    ),
    (
        "expiry window is a setting",
        PROVIDER,
        inspection(hosts=(host(days=20, trusted_root_ca=False),)),
        None,
        {"expiry_days": 10},
        [],
    ),
    (
        "client IDs changed since the baseline",
        replace(PROVIDER, client_ids=("other",)),
        inspection(),
        BASELINE,
        {},
        [("client_ids_changed", Severity.MEDIUM)],
    ),
    ("provider deleted since the baseline", None, None, BASELINE, {}, [("provider_deleted", Severity.CRITICAL)]),
    (
        "no role trusts the provider",
        PROVIDER,
        None,
        None,
        {"trusted_by_roles": False},
        [("provider_unused", Severity.INFO)],
    ),
    ("roles trust the provider", PROVIDER, None, None, {"trusted_by_roles": True}, []),
]


@pytest.mark.parametrize(
    ("provider", "seen", "baseline", "kwargs", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_drift_table(
    provider: ProviderRecord | None,
    seen: IssuerInspection | None,
    baseline: ProviderBaseline | None,
    kwargs: dict[str, Any],
    expected: list[tuple[str, Severity]],
) -> None:
    options = dict(kwargs)
    now = options.pop("now", NOW)
    findings = check_drift(provider, seen, baseline, now=now, **options)
    assert sorted((f.code, f.severity) for f in findings) == sorted(expected)


def test_every_reported_code_has_a_catalogue_entry_and_the_contract_codes_are_all_there() -> None:
    contract = {
        "thumbprint_mismatch", "thumbprint_host_uncovered", "issuer_mismatch", "discovery_unreachable",
        "jwks_unreachable", "jwks_slow", "jwks_kid_missing", "jwks_alg_unsupported", "jwks_keys_changed",
        "certificate_expiring", "client_ids_changed", "provider_deleted", "provider_missing", "provider_unused",
    }  # fmt: skip
    assert contract <= catalogue.codes(Kind.DRIFT)
    for case in CASES:
        for code, _ in case[5]:
            assert catalogue.entry(Kind.DRIFT, code).remedy


def test_evidence_names_what_failed_and_serialises() -> None:
    seen = inspection(jwks=Fetch("https://idp.example/tenant/keys", None, 0.1, Failure.NOT_JSON, "answer is not JSON"))
    (finding,) = check_drift(PROVIDER, seen, None, now=NOW)
    assert finding.evidence["url"] == "https://idp.example/tenant/keys"
    assert finding.evidence["failure"] == "not_json"
    report = provider_report(PROVIDER.url, ARN, seen.hosts, [finding])
    assert json.loads(json.dumps(report)) == {
        "url": "idp.example/tenant",
        "arn": ARN,
        "hosts": [
            {
                "host": "idp.example",
                "role": "issuer",
                "thumbprint": OLD,
                "trusted_root_ca": False,
                "not_after": (NOW + timedelta(days=400)).isoformat(),
            }
        ],
        "findings": [{"code": "jwks_unreachable", "severity": "critical", "evidence": finding.to_json()["evidence"]}],
    }


def test_mismatch_evidence_gives_presented_and_configured() -> None:
    (finding,) = check_drift(PROVIDER, inspection(hosts=(host(last=NEW, trusted_root_ca=False),)), None, now=NOW)
    assert finding.evidence["presented"] == NEW
    assert finding.evidence["configured"] == [OLD]
    assert finding.evidence["free_slots"] == 4
    assert finding.evidence["aws_uses_thumbprints"] is True


def test_the_date_aws_stopped_using_thumbprints_comes_from_the_dated_table() -> None:
    row = thumbprints_ignored_since(PROVIDER.url)
    assert row is not None
    assert row.since == date(2024, 7, 1)
    assert row.source.startswith("https://docs.aws.amazon.com/")
    since = datetime.combine(row.since, time(), tzinfo=UTC)
    trusted_new = inspection(hosts=(host(last=NEW, trusted_root_ca=True),))
    just_before = check_drift(PROVIDER, trusted_new, None, now=since - timedelta(seconds=1))
    on_the_day = check_drift(PROVIDER, trusted_new, None, now=since)
    assert [f.severity for f in just_before] == [Severity.CRITICAL]
    assert [f.severity for f in on_the_day] == [Severity.INFO]


def test_worst_and_serious() -> None:
    info = DriftFinding("provider_unused", Severity.INFO, {})
    high = DriftFinding("jwks_kid_missing", Severity.HIGH, {})
    assert worst([]) is Severity.INFO
    assert worst([info, high]) is Severity.HIGH
    assert not info.serious and high.serious


# ----- baselines


def test_baseline_round_trips_through_json() -> None:
    text = json.dumps(BASELINE.to_json())
    assert ProviderBaseline.from_json(json.loads(text)) == BASELINE


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "baseline.url"),
        ({"url": "x", "recorded_at": "yesterday"}, "baseline.recorded_at"),
        ({"url": "x", "recorded_at": NOW.isoformat(), "key_ids": "k1"}, "baseline.key_ids"),
        ({"url": "x", "recorded_at": NOW.isoformat(), "thumbprints": ["a"]}, "baseline.thumbprints"),
    ],
)
def test_a_broken_baseline_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ProviderBaseline.from_json(raw)


def test_baseline_from_an_inspection_then_rotation_shows_as_drift() -> None:
    first = baseline_from(PROVIDER, inspection(), None, now=NOW)
    assert first is not None
    assert first.thumbprint_of("idp.example") == OLD
    assert first.key_ids == ("k1",)
    assert first.client_ids == ("sts.amazonaws.com",)
    rotated = inspection(hosts=(host(last=NEW, trusted_root_ca=True),))
    codes = {f.code for f in check_drift(PROVIDER, rotated, first, now=NOW)}
    assert codes == {"thumbprint_changed", "thumbprint_mismatch"}
    second = baseline_from(PROVIDER, rotated, first, now=NOW)
    assert second is not None
    assert second.thumbprint_of("idp.example") == NEW


def test_baseline_keeps_what_could_not_be_read() -> None:
    down = inspection(
        discovery=Fetch("u", None, 5.0, Failure.TIMEOUT, "timed out"), issuer=None, jwks=None, keys=(), hosts=()
    )
    kept = baseline_from(PROVIDER, down, BASELINE, now=NOW)
    assert kept is not None
    assert kept.key_ids == BASELINE.key_ids
    assert kept.issuer == BASELINE.issuer
    assert kept.thumbprints == BASELINE.thumbprints
    assert kept.recorded_at == NOW


# ----- the whole account

ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": [ARN, "accounts.google.com"]},
            "Action": "sts:AssumeRoleWithWebIdentity",
        },
        {"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/denied.example"}},
    ],
}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ROLE_POLICY, (ARN,)),
        (json.dumps(ROLE_POLICY), (ARN,)),
        ({"Statement": {"Effect": "Allow", "Principal": {"Federated": ARN}}}, (ARN,)),
        ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}]}, ()),
        ({"Statement": [{"Effect": "Allow", "Principal": "*"}]}, ()),
        ("not json", ()),
        ([], ()),
    ],
)
def test_federated_principals(policy: Any, expected: tuple[str, ...]) -> None:
    assert federated_principals(policy) == expected


def test_missing_unused_and_deleted_over_the_account() -> None:
    gone = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/OLD"
    other = ProviderRecord(url="unused.example", arn="arn:aws:iam::111122223333:oidc-provider/unused.example")
    trusts = {"arn:aws:iam::111122223333:role/a": (ARN,), "arn:aws:iam::111122223333:role/b": (ARN, gone)}
    (missing,) = missing_providers([PROVIDER, other], trusts)
    assert missing.code == "provider_missing"
    assert missing.severity is Severity.CRITICAL
    assert missing.evidence == {
        "arn": gone,
        "url": "oidc.eks.eu-west-1.amazonaws.com/id/OLD",
        "roles": ["arn:aws:iam::111122223333:role/b"],
    }
    assert trusting_roles(PROVIDER, trusts) == ("arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:role/b")
    assert trusting_roles(other, trusts) == ()
    old = replace(BASELINE, url="removed.example")
    assert [f.evidence["url"] for f in deleted_providers([PROVIDER], [BASELINE, old])] == ["removed.example"]


def test_idp_facts_for_the_explain_engine() -> None:
    seen = inspection(hosts=TWO_HOSTS_PRIVATE)
    assert seen.idp_facts() == IdpFacts(
        presented_thumbprints=(OLD, KEYS), trusted_root_ca=False, jwks_reachable=True, jwks_kids=("k1",)
    )
    down = inspection(jwks=Fetch("u", None, 0.1, Failure.CONNECT, "refused"), keys=())
    facts = down.idp_facts()
    assert facts.jwks_reachable is False
    assert facts.jwks_kids is None
    ca_file_only = inspection(hosts=(host(trusted_root_ca=False, verified_by_ca_file=True),))
    assert ca_file_only.idp_facts().trusted_root_ca is False
    assert ca_file_only.idp_facts(ca_file_is_public=True).trusted_root_ca is True
