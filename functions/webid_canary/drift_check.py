"""Provider checks inside a cycle: inspect each issuer once, compare with IAM and the baseline, keep the baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from webid_canary.adapters.issuer import IssuerUrlError, inspect_issuer
from webid_canary.core.drift import ProviderBaseline, baseline_from, check_drift
from webid_canary.core.inspection import Failure, Fetch, IssuerInspection
from webid_canary.core.model import ProviderRecord
from webid_canary.core.report import ProviderResult
from webid_canary.core.state import Status


def _same(a: ProviderBaseline, b: ProviderBaseline) -> bool:
    return {**a.to_json(), "recorded_at": None} == {**b.to_json(), "recorded_at": None}


class IssuerInspector:
    """Inspects issuers with the monitor's settings (private addresses refused unless allowed)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        ca_file: str | None = None,
        timeout: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.allow_private = allow_private
        self.ca_file = ca_file
        self.timeout = timeout
        self.clock = clock

    def inspect(self, issuer_url: str) -> IssuerInspection:
        """What the issuer showed; a URL that may not be fetched is a failed discovery, as STS would see it."""
        now = self.clock()
        try:
            return inspect_issuer(
                issuer_url, allow_private=self.allow_private, ca_file=self.ca_file, timeout=self.timeout, now=now
            )
        except IssuerUrlError as exc:
            return failed_inspection(issuer_url, now, Failure.REFUSED, exc.reason)


def failed_inspection(issuer_url: str, now: datetime, failure: Failure, reason: str) -> IssuerInspection:
    """An inspection that got nowhere: drift reports it as discovery_unreachable, explain as keys unreachable."""
    discovery = Fetch(url=issuer_url.rstrip("/") + "/.well-known/openid-configuration", failure=failure, error=reason)
    return IssuerInspection(url=issuer_url, inspected_at=now, discovery=discovery)


class DriftChecker:
    """Drift of one provider. The baseline only moves on while nothing serious differs from it, so a drift
    lasts (and reminds) until the provider or the issuer is put right."""

    def __init__(self, *, expiry_days: int = 30) -> None:
        self.expiry_days = expiry_days

    def __call__(
        self,
        record: ProviderRecord,
        inspection: Any,
        baseline: Mapping[str, Any] | None,
        now: datetime,
    ) -> ProviderResult:
        seen = (
            inspection
            if isinstance(inspection, IssuerInspection)
            else failed_inspection(f"https://{record.url}", now, Failure.INVALID, "the issuer was not inspected")
        )
        previous = ProviderBaseline.from_json(baseline) if baseline else None
        findings = check_drift(record, seen, previous, now=now, expiry_days=self.expiry_days)
        serious = any(f.serious for f in findings)
        keep = previous is not None and serious
        following = previous if keep else baseline_from(record, seen, previous, now=now)
        if following is not None and previous is not None and _same(following, previous):
            following = previous  # unchanged: keep its date, so the State item is not rewritten every cycle
        return ProviderResult(
            url=record.url,
            arn=record.arn,
            status=Status.DRIFT if serious else Status.OK,
            hosts=tuple(h.to_json() for h in seen.hosts) if seen else (),
            findings=tuple(f.to_json() for f in findings),
            baseline=following.to_json() if following else None,
        )
