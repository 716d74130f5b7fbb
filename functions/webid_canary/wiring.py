"""Builds the monitor from settings: boto3 clients and adapters, created once per process, never at import."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord, Subject, state_key
from webid_canary.reporting import Outcome, Reporter
from webid_canary.service import Ports, Service
from webid_canary.settings import Settings, load_settings


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
        }


class Monitor:
    """One cycle end to end: check everything, then report what changed."""

    def __init__(self, service: Service, reporter: Reporter, state: Any) -> None:
        self.service = service
        self.reporter = reporter
        self.state = state

    def run(self, *, now: datetime, deadline: datetime | None = None) -> CycleResult:
        previous: dict[str, StateRecord] = self.state.load_all()
        baselines = {
            key.removeprefix(state_key(Subject.PROVIDER, "")): record.baseline
            for key, record in previous.items()
            if record.baseline is not None
        }
        cycle = self.service.run_cycle(now, deadline, baselines=baselines)
        outcome = self.reporter.report(cycle, now=now, previous=previous)
        return CycleResult(cycle, outcome)


def build_ports(settings: Settings, session: Any = None) -> Ports:
    """The production adapters: boto3 from the standard credential chain (AWS_ENDPOINT_URL honoured)."""
    import boto3

    from webid_canary.adapters.iam import IamReader
    from webid_canary.adapters.issuer import check_ca_file
    from webid_canary.adapters.sts import StsProber
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.adapters.token_sources import TokenFetcher
    from webid_canary.drift_check import DriftChecker, IssuerInspector

    if settings.ca_file:
        check_ca_file(settings.ca_file)  # a bad CA file fails the start, loudly, not every issuer quietly
    session = session or boto3.session.Session()
    return Ports(
        targets=TargetsTable(session.client("dynamodb"), settings.targets_table),
        iam=IamReader(session.client("iam")),
        inspector=IssuerInspector(allow_private=settings.allow_private_issuers, ca_file=settings.ca_file),
        tokens=TokenFetcher(session, ca_file=settings.ca_file, allow_private=settings.allow_private_issuers),
        prober=StsProber(session.client),
        drift=DriftChecker(expiry_days=settings.cert_expiry_days),
    )


def build_monitor(settings: Settings, session: Any = None) -> Monitor:
    """Service, State table and SNS, wired for the Lambda (and the local environment)."""
    import boto3

    from webid_canary.adapters.notifier import SnsNotifier
    from webid_canary.adapters.state_table import StateTable

    session = session or boto3.session.Session()
    state = StateTable(session.client("dynamodb"), settings.state_table)
    service = Service(build_ports(settings, session), concurrency=settings.concurrency)
    reporter = Reporter(
        state,
        SnsNotifier(session.client("sns")),
        default_topic=settings.topic_arn,
        reminder_after=timedelta(hours=settings.reminder_hours),
        concurrency=settings.concurrency,
    )
    return Monitor(service, reporter, state)


@functools.cache
def monitor() -> Monitor:
    """The process's monitor, built on first use from the environment (settings read once)."""
    return build_monitor(load_settings())
