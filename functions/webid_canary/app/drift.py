"""The one drift pass: every provider of the account against its issuer, the roles that trust it and its baseline.

The monitor runs it in every cycle and `webid-canary drift` runs it on a laptop: the same reads (app/cycle.py's
Reader), the same findings, the same baseline rule. A baseline moves on only while nothing serious differs from
it, so a drift lasts (and reminds) until the provider or the issuer is put right, or until someone accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from webid_canary.core.drift import (
    DEFAULT_SLOW_SECONDS,
    DriftFinding,
    ProviderBaseline,
    baseline_from,
    check_drift,
    check_error,
    missing_providers,
    provider_url_of,
    trusting_roles,
)
from webid_canary.core.inspection import Failure, IssuerInspection, failed_inspection
from webid_canary.core.model import ProviderRecord
from webid_canary.core.report import ProviderResult
from webid_canary.core.state import Status

if TYPE_CHECKING:
    from webid_canary.app.cycle import AccountReads


@dataclass(frozen=True, slots=True)
class DriftRules:
    """The drift pass's settings: when a certificate's expiry is reported, when discovery + JWKS is slow, and
    whether to accept what is seen now as the new baseline even while it drifts."""

    expiry_days: int = 30
    slow_seconds: float = DEFAULT_SLOW_SECONDS
    accept: bool = False


def _status(findings: tuple[DriftFinding, ...]) -> Status:
    return Status.DRIFT if any(f.serious for f in findings) else Status.OK


def _same(a: ProviderBaseline, b: ProviderBaseline) -> bool:
    return {**a.to_json(), "recorded_at": None} == {**b.to_json(), "recorded_at": None}


def next_baseline(
    record: ProviderRecord | None,
    findings: tuple[DriftFinding, ...],
    inspection: IssuerInspection | None,
    previous: ProviderBaseline | None,
    now: datetime,
    *,
    accept: bool,
) -> ProviderBaseline | None:
    """Hold the previous baseline while serious drift lasts (unless accepted); otherwise what is seen now."""
    if previous is not None and _status(findings) is Status.DRIFT and not accept:
        return previous
    following = baseline_from(record, inspection, previous, now=now)
    if following is not None and previous is not None and _same(following, previous):
        return previous  # unchanged: keep its date, so the State item is not rewritten every cycle
    return following


def assess(
    reads: AccountReads,
    baselines: Mapping[str, ProviderBaseline],
    now: datetime,
    rules: DriftRules,
    *,
    issuers_without_provider: tuple[str, ...] = (),
) -> tuple[ProviderResult, ...]:
    """One result per provider URL: the account's providers, the ones gone since their baseline, the ones trust
    policies name but the account lacks, and any issuer asked for that has no provider."""
    trusts = reads.trusts()
    results: dict[str, ProviderResult] = {}
    for url, record in sorted(reads.providers.items()):
        issuer = f"https://{url}"
        if issuer not in reads.inspections and issuer in reads.failures:
            # Not inspected this cycle (the deadline came first, or the inspection broke): the provider was not
            # checked, which says nothing of the issuer; an issuer that answered with a failure is judged below.
            results[url] = ProviderResult(
                url=url,
                arn=record.arn,
                status=Status.ERROR,
                findings=(check_error(url, reads.failures[issuer]),),
                baseline=baselines.get(url),
            )
            continue
        inspection = reads.inspections.get(issuer) or failed_inspection(
            issuer, now, Failure.INVALID, reads.failures.get(issuer, "the issuer was not inspected")
        )
        previous = baselines.get(url)
        findings = check_drift(
            record,
            inspection,
            previous,
            now=now,
            expiry_days=rules.expiry_days,
            trusted_by_roles=None if trusts is None else bool(trusting_roles(record, trusts)),
            slow_seconds=rules.slow_seconds,
        )
        results[url] = ProviderResult(
            url=url,
            arn=record.arn,
            status=_status(findings),
            hosts=inspection.hosts,
            findings=findings,
            baseline=next_baseline(record, findings, inspection, previous, now, accept=rules.accept),
        )
    for url, reason in sorted(reads.provider_failures.items()):
        previous = baselines.get(url)
        results[url] = ProviderResult(
            url=url,
            arn=previous.arn if previous else None,
            status=Status.ERROR,
            findings=(check_error(url, reason),),
            baseline=previous,
        )
    if reads.providers_listed:
        for url, previous in sorted(baselines.items()):
            if url in results:
                continue
            (gone,) = check_drift(None, None, previous, now=now)
            results[url] = ProviderResult(
                url=url,
                arn=previous.arn,
                status=_status((gone,)),
                findings=(gone,),
                baseline=None if rules.accept else previous,
            )
        if trusts is not None:
            # A provider that was listed but could not be read exists: it is not missing, only not checked.
            existing = [*reads.providers.values()]
            existing += [ProviderRecord(provider_url_of(arn), arn=arn) for arn in reads.provider_arns]
            for missing in missing_providers(existing, trusts):
                url = provider_url_of(str(missing.evidence["arn"]))
                before = results.get(url)
                findings = (*before.findings, missing) if before is not None else (missing,)
                results[url] = ProviderResult(
                    url=url,
                    arn=str(missing.evidence["arn"]),
                    status=_status(findings),
                    findings=findings,
                    baseline=before.baseline if before is not None else None,
                )
    for issuer in issuers_without_provider:
        url = issuer.removeprefix("https://")
        if url in results:
            continue
        inspection = reads.inspections.get(issuer) or failed_inspection(
            issuer, now, Failure.INVALID, reads.failures.get(issuer, "the issuer was not inspected")
        )
        findings = check_drift(None, inspection, baselines.get(url), now=now, expiry_days=rules.expiry_days)
        results[url] = ProviderResult(
            url=url, arn=None, status=_status(findings), hosts=inspection.hosts, findings=findings
        )
    return tuple(results[url] for url in sorted(results))
