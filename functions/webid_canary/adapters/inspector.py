"""The inspector port: issuers inspected with the monitor's settings (private addresses refused unless allowed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from webid_canary.adapters.issuer import IssuerUrlError, inspect_issuer
from webid_canary.adapters.net import monotonic_deadline
from webid_canary.core.inspection import Failure, IssuerInspection, failed_inspection


class IssuerInspector:
    """Inspects one issuer URL; a URL that may not be fetched is a failed discovery, as STS would see it."""

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

    def inspect(self, issuer_url: str, *, deadline: datetime | None = None) -> IssuerInspection:
        now = self.clock()
        try:
            return inspect_issuer(
                issuer_url,
                allow_private=self.allow_private,
                ca_file=self.ca_file,
                timeout=self.timeout,
                now=now,
                deadline=None if deadline is None else monotonic_deadline(deadline),
            )
        except IssuerUrlError as exc:
            return failed_inspection(issuer_url, now, Failure.REFUSED, exc.reason)
