"""Provider drift: the IAM OIDC provider record against the live issuer and against the last baseline.

Pure: the record, the inspection facts, the baseline and `now` come in; findings (codes with evidence, as
in the drift contract of docs/contract.md) come out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from webid_canary.core.catalogue import SEVERITY_ORDER, Entry, Kind, Severity, entry
from webid_canary.core.claims import SUPPORTED_ALGORITHMS
from webid_canary.core.context import trusted_roots_apply
from webid_canary.core.inspection import HostFacts, IssuerInspection
from webid_canary.core.model import ProviderRecord

# "The IdP has latency exceeding 5 seconds for API requests to reach the AWS STS endpoint" is a documented
# cause of InvalidIdentityToken: https://repost.aws/knowledge-center/iam-sts-invalididentitytoken
STS_PATIENCE_SECONDS: Final = 5.0
# Warn at half of it: STS's own network path to the IdP is longer than ours.
DEFAULT_SLOW_SECONDS: Final = STS_PATIENCE_SECONDS / 2

_CURVE_ALGORITHM: Final = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

# "IAM lets you have up to five thumbprints for an OIDC provider":
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html
MAX_THUMBPRINTS: Final = 5
# The most key ids a baseline keeps (real issuers publish a handful; thousands would crowd the State item).
MAX_BASELINE_KEY_IDS: Final = 100
# A provider whose drift could not be worked out this cycle (catalogued with the monitor's codes).
CHECK_ERROR: Final = "check_error"
EXPIRY_HIGH_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class DriftFinding:
    """One drift code with its evidence; severity is the one that applies to this case."""

    code: str
    severity: Severity
    evidence: Mapping[str, Any]

    @property
    def entry(self) -> Entry:
        """The catalogue entry: a drift code, or the monitor's check_error for a provider that was not checked."""
        return entry(Kind.MONITOR if self.code == CHECK_ERROR else Kind.DRIFT, self.code)

    @property
    def serious(self) -> bool:
        """Above info: what makes `drift` exit 1 and a provider count as drifting."""
        return SEVERITY_ORDER[self.severity] > SEVERITY_ORDER[Severity.INFO]

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "evidence": dict(self.evidence)}


def _finding(code: str, evidence: Mapping[str, Any], severity: Severity | None = None) -> DriftFinding:
    return DriftFinding(code=code, severity=severity or entry(Kind.DRIFT, code).severity, evidence=evidence)


def check_error(url: str, reason: str) -> DriftFinding:
    """The finding for a provider whose drift could not be worked out this cycle."""
    return DriftFinding(CHECK_ERROR, entry(Kind.MONITOR, CHECK_ERROR).severity, {"url": url, "error": reason})


# ----- the baseline


@dataclass(frozen=True, slots=True)
class ProviderBaseline:
    """What was last seen of a provider and its issuer, kept in the State table between cycles."""

    url: str
    recorded_at: datetime
    thumbprints: tuple[tuple[str, str], ...] = ()
    key_ids: tuple[str, ...] | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    not_after: datetime | None = None
    client_ids: tuple[str, ...] | None = None
    arn: str | None = None

    def thumbprint_of(self, host: str) -> str | None:
        return dict(self.thumbprints).get(host)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "arn": self.arn,
            "recorded_at": self.recorded_at.isoformat(),
            "thumbprints": dict(self.thumbprints),
            # A key set too large to keep is not compared (jwks_keys_changed is informational): State items stay small.
            "key_ids": None if self.key_ids is None or len(self.key_ids) > MAX_BASELINE_KEY_IDS else list(self.key_ids),
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "not_after": None if self.not_after is None else self.not_after.isoformat(),
            "client_ids": None if self.client_ids is None else list(self.client_ids),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProviderBaseline:
        """Parse a stored baseline; a broken one raises ValueError naming the field."""

        def strings(name: str) -> tuple[str, ...] | None:
            value = raw.get(name)
            if value is None:
                return None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"baseline.{name}: expected a list of strings")
            return tuple(value)

        def instant(name: str) -> datetime | None:
            value = raw.get(name)
            if value is None:
                return None
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise ValueError(f"baseline.{name}: not an ISO-8601 instant") from exc
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

        url = raw.get("url")
        if not isinstance(url, str) or not url:
            raise ValueError("baseline.url: missing")
        thumbprints = raw.get("thumbprints") or {}
        if not isinstance(thumbprints, Mapping):
            raise ValueError("baseline.thumbprints: expected an object of host -> thumbprint")
        recorded_at = instant("recorded_at")
        if recorded_at is None:
            raise ValueError("baseline.recorded_at: missing")
        issuer, jwks_uri, arn = raw.get("issuer"), raw.get("jwks_uri"), raw.get("arn")
        return cls(
            url=url,
            arn=arn if isinstance(arn, str) else None,
            recorded_at=recorded_at,
            thumbprints=tuple(sorted((str(h), str(t)) for h, t in thumbprints.items())),
            key_ids=strings("key_ids"),
            issuer=issuer if isinstance(issuer, str) else None,
            jwks_uri=jwks_uri if isinstance(jwks_uri, str) else None,
            not_after=instant("not_after"),
            client_ids=strings("client_ids"),
        )


def baseline_from(
    provider: ProviderRecord | None,
    inspection: IssuerInspection | None,
    previous: ProviderBaseline | None = None,
    *,
    now: datetime,
) -> ProviderBaseline | None:
    """The next baseline: what was seen now, keeping the previous value of anything that could not be read."""
    url = provider.url if provider is not None else (previous.url if previous is not None else None)
    if url is None and inspection is not None:
        url = inspection.url.removeprefix("https://")
    if url is None:
        return None
    seen = dict(previous.thumbprints) if previous is not None else {}
    issuer = previous.issuer if previous else None
    jwks_uri = previous.jwks_uri if previous else None
    key_ids = previous.key_ids if previous else None
    not_after = previous.not_after if previous else None
    if inspection is not None:
        seen.update({h.host: h.thumbprint for h in inspection.hosts if h.thumbprint})
        if inspection.discovery.ok:
            issuer, jwks_uri = inspection.issuer, inspection.jwks_uri
        kids = inspection.kids
        key_ids = tuple(sorted(kids)) if kids is not None else key_ids
        expiries = [h.not_after for h in inspection.hosts if h.not_after is not None]
        not_after = min(expiries) if expiries else not_after
    return ProviderBaseline(
        url=url,
        arn=provider.arn if provider is not None else (previous.arn if previous else None),
        recorded_at=now,
        thumbprints=tuple(sorted(seen.items())),
        key_ids=key_ids,
        issuer=issuer,
        jwks_uri=jwks_uri,
        not_after=not_after,
        client_ids=tuple(sorted(provider.client_ids))
        if provider is not None
        else (previous.client_ids if previous else None),
    )


# ----- checks of one provider


def aws_uses_thumbprint(provider_url: str, host: HostFacts, now: datetime) -> bool:
    """Whether STS checks this provider host against the thumbprint list: no trusted root, unknown chain, or too early.

    The date comes from the same table as the explain engine's (data/context_keys.json), per provider.
    """
    if not trusted_roots_apply(provider_url, now):
        return True
    return host.trusted_root_ca is not True


def check_drift(
    provider: ProviderRecord | None,
    inspection: IssuerInspection | None,
    baseline: ProviderBaseline | None,
    *,
    now: datetime,
    expiry_days: int = 30,
    trusted_by_roles: bool | None = None,
    slow_seconds: float = DEFAULT_SLOW_SECONDS,
) -> tuple[DriftFinding, ...]:
    """Every drift finding for one provider; `trusted_by_roles` False adds provider_unused, None skips it."""
    findings: list[DriftFinding] = []
    if provider is None:
        if baseline is not None:
            findings.append(_finding("provider_deleted", {"url": baseline.url, "arn": baseline.arn}))
    elif trusted_by_roles is False:
        findings.append(_finding("provider_unused", {"url": provider.url, "arn": provider.arn}))
    if inspection is not None:
        expected = "https://" + (provider.url if provider is not None else inspection.url.removeprefix("https://"))
        findings += _issuer_findings(inspection, expected, slow_seconds)
        findings += _certificate_findings(inspection, now, expiry_days)
        if provider is not None:
            findings += _thumbprint_findings(provider, inspection, now)
        if baseline is not None:
            findings += _baseline_inspection_findings(inspection, baseline)
    if provider is not None and baseline is not None and baseline.client_ids is not None:
        before, after = set(baseline.client_ids), set(provider.client_ids)
        if before != after:
            findings.append(
                _finding("client_ids_changed", {"added": sorted(after - before), "removed": sorted(before - after)})
            )
    return tuple(findings)


def _issuer_findings(inspection: IssuerInspection, expected: str, slow_seconds: float) -> list[DriftFinding]:
    if not inspection.discovery.ok:
        return [_finding("discovery_unreachable", inspection.discovery.evidence())]
    findings: list[DriftFinding] = []
    if inspection.issuer != expected:
        findings.append(_finding("issuer_mismatch", {"expected": expected, "actual": inspection.issuer}))
    if inspection.jwks is None:
        findings.append(
            _finding(
                "jwks_unreachable",
                {"url": inspection.jwks_uri, "failure": "invalid", "error": "discovery names no usable jwks_uri"},
            )
        )
    elif not inspection.jwks.ok:
        findings.append(_finding("jwks_unreachable", inspection.jwks.evidence()))
    else:
        signing = [k for k in inspection.keys if k.use != "enc"]
        missing = [index for index, key in enumerate(signing) if key.kid is None]
        if missing:
            findings.append(_finding("jwks_kid_missing", {"url": inspection.jwks.url, "key_indexes": missing}))
        unsupported = [
            {"kid": key.kid, "kty": key.kty, "alg": key.alg}
            for key in signing
            if _algorithm(key.kty, key.alg, key.crv) not in SUPPORTED_ALGORITHMS
        ]
        if unsupported:
            findings.append(_finding("jwks_alg_unsupported", {"url": inspection.jwks.url, "keys": unsupported}))
        if inspection.seconds > slow_seconds:
            findings.append(
                _finding(
                    "jwks_slow",
                    {
                        "seconds": round(inspection.seconds, 3),
                        "threshold_seconds": slow_seconds,
                        "sts_patience_seconds": STS_PATIENCE_SECONDS,
                    },
                )
            )
    return findings


def _algorithm(kty: str | None, alg: str | None, crv: str | None) -> str | None:
    """The algorithm a key signs with: its `alg`, else what its type implies (RSA keys sign RS256)."""
    if alg is not None:
        return alg
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv is not None:
        return _CURVE_ALGORITHM.get(crv)
    return None


def _certificate_findings(inspection: IssuerInspection, now: datetime, expiry_days: int) -> list[DriftFinding]:
    findings: list[DriftFinding] = []
    seen: set[str] = set()
    for host in inspection.hosts:
        for cert in host.chain:
            if cert.thumbprint in seen:
                continue
            seen.add(cert.thumbprint)
            left = cert.not_after - now
            if left > timedelta(days=expiry_days):
                continue
            severity = Severity.HIGH if left <= timedelta(days=EXPIRY_HIGH_DAYS) else Severity.MEDIUM
            findings.append(
                _finding(
                    "certificate_expiring",
                    {
                        "host": host.host,
                        "subject": cert.subject,
                        "not_after": cert.not_after.isoformat(),
                        "days_left": round(left / timedelta(days=1), 1),
                        "thumbprint": cert.thumbprint,
                    },
                    severity,
                )
            )
    return findings


def _thumbprint_findings(provider: ProviderRecord, inspection: IssuerInspection, now: datetime) -> list[DriftFinding]:
    listed = {t.lower() for t in provider.thumbprints}
    hosts = _distinct_hosts(inspection.hosts)
    covered = [h for h in hosts if h.thumbprint in listed]
    uncovered = [h for h in hosts if h.thumbprint not in listed]
    if len(hosts) > 1 and covered and uncovered:
        host = uncovered[0]
        used = any(aws_uses_thumbprint(provider.url, h, now) for h in hosts)
        return [
            _finding(
                "thumbprint_host_uncovered",
                {
                    "host": host.host,
                    "role": host.role.value,
                    "thumbprint": host.thumbprint,
                    "covered_hosts": [h.host for h in covered],
                    "configured": sorted(listed),
                    "aws_uses_thumbprints": used,
                },
                Severity.HIGH if used else Severity.INFO,
            )
        ]
    findings: list[DriftFinding] = []
    for host in uncovered:
        used = aws_uses_thumbprint(provider.url, host, now)
        findings.append(
            _finding(
                "thumbprint_mismatch",
                {
                    "host": host.host,
                    "role": host.role.value,
                    "presented": host.thumbprint,
                    "configured": sorted(listed),
                    "free_slots": max(0, MAX_THUMBPRINTS - len(listed)),
                    "trusted_root_ca": host.trusted_root_ca,
                    "aws_uses_thumbprints": used,
                },
                Severity.CRITICAL if used else Severity.INFO,
            )
        )
    return findings


def _distinct_hosts(hosts: Sequence[HostFacts]) -> list[HostFacts]:
    """Hosts with a thumbprint, once each (the issuer host may also serve the keys)."""
    by_host: dict[str, HostFacts] = {}
    for host in hosts:
        if host.thumbprint is not None:
            by_host.setdefault(host.host, host)
    return list(by_host.values())


def _baseline_inspection_findings(inspection: IssuerInspection, baseline: ProviderBaseline) -> list[DriftFinding]:
    findings: list[DriftFinding] = []
    for host in _distinct_hosts(inspection.hosts):
        before = baseline.thumbprint_of(host.host)
        if before is not None and before != host.thumbprint:
            findings.append(
                _finding(
                    "thumbprint_changed",
                    {"host": host.host, "role": host.role.value, "before": before, "after": host.thumbprint},
                )
            )
    kids = inspection.kids
    if kids is not None and baseline.key_ids is not None and set(kids) != set(baseline.key_ids):
        findings.append(
            _finding(
                "jwks_keys_changed",
                {
                    "added": sorted(set(kids) - set(baseline.key_ids)),
                    "removed": sorted(set(baseline.key_ids) - set(kids)),
                },
            )
        )
    return findings


# ----- checks over the whole account

OIDC_PROVIDER_ARN_MARK: Final = ":oidc-provider/"


def federated_principals(trust_policy: str | Mapping[str, Any]) -> tuple[str, ...]:
    """The OIDC provider ARNs an Allow statement of a trust policy names under Principal.Federated."""
    document: Any = trust_policy
    if isinstance(trust_policy, str):
        try:
            document = json.loads(trust_policy)
        except ValueError:
            return ()
    if not isinstance(document, Mapping):
        return ()
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    found: list[str] = []
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        federated = principal.get("Federated") if isinstance(principal, Mapping) else None
        values = [federated] if isinstance(federated, str) else federated if isinstance(federated, list) else []
        found += [v for v in values if isinstance(v, str) and OIDC_PROVIDER_ARN_MARK in v]
    return tuple(dict.fromkeys(found))


def provider_url_of(arn: str) -> str:
    """`arn:aws:iam::123:oidc-provider/host/path` -> `host/path`."""
    return arn.split(OIDC_PROVIDER_ARN_MARK, 1)[1] if OIDC_PROVIDER_ARN_MARK in arn else arn


def trusting_roles(provider: ProviderRecord, trusts: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """Roles (ARN -> federated principals) whose trust policy names this provider's ARN."""
    if provider.arn is None:
        return ()
    return tuple(sorted(role for role, principals in trusts.items() if provider.arn in principals))


def missing_providers(
    providers: Sequence[ProviderRecord], trusts: Mapping[str, Iterable[str]]
) -> tuple[DriftFinding, ...]:
    """provider_missing for every provider ARN a trust policy names that is not in the account."""
    existing = {p.arn for p in providers if p.arn is not None}
    wanted: dict[str, list[str]] = {}
    for role, principals in trusts.items():
        for arn in principals:
            if arn not in existing:
                wanted.setdefault(arn, []).append(role)
    return tuple(
        _finding("provider_missing", {"arn": arn, "url": provider_url_of(arn), "roles": sorted(roles)})
        for arn, roles in sorted(wanted.items())
    )


def deleted_providers(
    providers: Sequence[ProviderRecord], baselines: Iterable[ProviderBaseline]
) -> tuple[DriftFinding, ...]:
    """provider_deleted for every baseline whose provider is gone."""
    urls = {p.url for p in providers}
    return tuple(_finding("provider_deleted", {"url": b.url, "arn": b.arn}) for b in baselines if b.url not in urls)


def worst(findings: Iterable[DriftFinding]) -> Severity:
    """The highest severity among findings (info when there are none)."""
    return max((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__, default=Severity.INFO)


def thumbprint_command(arn: str | None, finding: DriftFinding) -> str | None:
    """The AWS CLI command that adds the presented thumbprint to the provider, keeping the ones it has.

    None when the finding is not about a missing thumbprint, the provider has no ARN, or its list is full (then
    a thumbprint must be chosen to go, which is a person's decision)."""
    presented = finding.evidence.get("presented") or finding.evidence.get("thumbprint")
    if arn is None or finding.code not in {"thumbprint_mismatch", "thumbprint_host_uncovered"} or not presented:
        return None
    configured = [str(t) for t in finding.evidence.get("configured") or ()]
    wanted = [*configured, str(presented)] if presented not in configured else configured
    if len(wanted) > MAX_THUMBPRINTS:
        return None
    return (
        "aws iam update-open-id-connect-provider-thumbprint "
        f"--open-id-connect-provider-arn {arn} --thumbprint-list {' '.join(wanted)}"
    )


def provider_report(
    url: str,
    arn: str | None,
    hosts: Sequence[HostFacts],
    findings: Sequence[DriftFinding],
) -> dict[str, Any]:
    """One entry of the drift contract's `providers` list."""
    return {
        "url": url,
        "arn": arn,
        "hosts": [h.to_json() for h in hosts],
        "findings": [f.to_json() for f in findings],
    }


__all__ = [
    "DEFAULT_SLOW_SECONDS",
    "STS_PATIENCE_SECONDS",
    "SUPPORTED_ALGORITHMS",
    "DriftFinding",
    "ProviderBaseline",
    "aws_uses_thumbprint",
    "baseline_from",
    "check_drift",
    "deleted_providers",
    "federated_principals",
    "missing_providers",
    "provider_report",
    "thumbprint_command",
    "trusting_roles",
    "worst",
]
