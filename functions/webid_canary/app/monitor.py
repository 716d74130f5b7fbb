"""The monitor's use case: load the state, run a cycle, report what changed, publish the cycle's metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from webid_canary.app.cycle import Cycle
from webid_canary.app.ports import AwsError, MetricsPort, StatePort
from webid_canary.app.reporting import Outcome, Reporter
from webid_canary.core.drift import ProviderBaseline
from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord, Subject, state_key

log = logging.getLogger("webid-canary.monitor")

# What the report keeps of the time a cycle has: a fifth, at most 10 s. Checks stop that much before the deadline,
# so that state, notices and metrics are out by it, not after it.
REPORT_SHARE: Final = 0.2
REPORT_RESERVE_MAX: Final = timedelta(seconds=10)


@dataclass(frozen=True)
class CycleResult:
    cycle: CycleReport
    outcome: Outcome

    def summary(self) -> dict[str, Any]:
        return {
            **self.cycle.summary(),
            "notifications": len(self.outcome.deliveries),
            "notifications_failed": len(self.outcome.failed),
            "state_conflicts": len(self.outcome.conflicts),
            "state_errors": len(self.outcome.state_errors),
        }


def checks_deadline(deadline: datetime, now: datetime) -> datetime:
    """When checking stops so that state, notices and metrics are out by `deadline`: REPORT_SHARE of the time
    left is kept for the report, at most REPORT_RESERVE_MAX (the one-account cycle's and every shard's rule)."""
    left = max(deadline - now, timedelta(0))
    return deadline - min(REPORT_RESERVE_MAX, left * REPORT_SHARE)


def baselines_of(records: Mapping[str, StateRecord]) -> dict[str, ProviderBaseline]:
    """The providers' baselines kept in the State table, by provider URL; a broken one is dropped, and logged."""
    prefix = state_key(Subject.PROVIDER, "")
    found: dict[str, ProviderBaseline] = {}
    for key, record in records.items():
        if not key.startswith(prefix) or record.baseline is None:
            continue
        try:
            found[key.removeprefix(prefix)] = ProviderBaseline.from_json(record.baseline)
        except (ValueError, AttributeError) as exc:
            log.warning("stored baseline unreadable; starting a new one", extra={"key": key, "reason": str(exc)})
    return found


class Monitor:
    """One cycle end to end: check everything, then report what changed."""

    def __init__(
        self,
        cycle: Cycle,
        reporter: Reporter,
        state: StatePort,
        *,
        metrics: MetricsPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cycle = cycle
        self.reporter = reporter
        self.state = state
        self.metrics = metrics
        self.clock = clock

    def checks_deadline(self, deadline: datetime | None) -> datetime | None:
        """When checking must stop for the report to be out by `deadline` (REPORT_SHARE of the time left)."""
        return None if deadline is None else checks_deadline(deadline, self.clock())

    def run(self, *, now: datetime, deadline: datetime | None = None) -> CycleResult:
        """Check, then report. Without the State table the cycle still runs and its metrics still go out (the
        alarms stay sighted); only the notices wait, since changes cannot be told without the previous state."""
        try:
            previous: dict[str, StateRecord] | None = self.state.load_all()
        except AwsError as exc:
            log.error("State table unreadable; checking without notices this cycle", extra={"error": str(exc)})
            previous = None
        targets = state_key(Subject.TARGET, "")
        known = [key.removeprefix(targets) for key in previous or {} if key.startswith(targets)]
        report = self.cycle.run(
            now, self.checks_deadline(deadline), baselines=baselines_of(previous or {}), known_targets=known
        )
        if previous is None:
            outcome = Outcome(state_errors=["*"])
        else:
            outcome = self.reporter.report(report, now=now, previous=previous)
        if self.metrics is not None:
            headroom = None if deadline is None else (deadline - self.clock()).total_seconds()
            self.metrics.publish_cycle(report, deadline_headroom_seconds=headroom)
        return CycleResult(report, outcome)
