"""The composition root: builds adapters and the application from settings, nothing else.

boto3 clients and adapters are created once per process, on first use, never at import.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from webid_canary.app.cycle import Cycle, Reader
from webid_canary.app.drift import DriftRules
from webid_canary.app.monitor import Monitor
from webid_canary.app.organization import (
    IssuerStep,
    Lease,
    PlanLimits,
    Planner,
    ReportStep,
    ShardRules,
    ShardStep,
)
from webid_canary.app.refusals import IamFacts, RefusalAlerts
from webid_canary.app.reporting import Reporter
from webid_canary.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from botocore.config import Config

    from webid_canary.app.ports import FleetMetricsPort, MetricsPort, StatePort

# Every AWS call's budget: connect within 3 s, an answer within 10 s, at most 3 attempts in all (botocore's
# standard retry mode backs off between them): about 40 s at worst, and the cycle's deadline bounds it sooner.
AWS_CONNECT_SECONDS = 3
AWS_READ_SECONDS = 10
AWS_ATTEMPTS = 3


def aws_config() -> Config:
    """The botocore settings every client of the monitor uses."""
    from botocore.config import Config

    return Config(
        connect_timeout=AWS_CONNECT_SECONDS,
        read_timeout=AWS_READ_SECONDS,
        retries={"mode": "standard", "total_max_attempts": AWS_ATTEMPTS},
    )


class BudgetedSession:
    """A boto3 session whose clients all carry the monitor's time budget (merged with any config asked for)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def client(self, service: str, **kwargs: Any) -> Any:
        config = aws_config()
        asked = kwargs.pop("config", None)
        return self._session.client(service, config=config.merge(asked) if asked is not None else config, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def budgeted(session: Any = None) -> BudgetedSession:
    """The session (the default one when none is given) with the monitor's time budget on every client."""
    import boto3

    if isinstance(session, BudgetedSession):
        return session
    return BudgetedSession(session or boto3.session.Session())


def build_cycle(settings: Settings, session: Any = None, *, drift: DriftRules | None = None) -> Cycle:
    """The cycle with the production adapters: boto3 from the standard credential chain (AWS_ENDPOINT_URL honoured)."""

    from webid_canary.adapters.inspector import IssuerInspector
    from webid_canary.adapters.issuer import check_ca_file
    from webid_canary.adapters.sts import StsProber
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.adapters.token_sources import TokenFetcher

    if settings.ca_file:
        check_ca_file(settings.ca_file)  # a bad CA file fails the start, loudly, not every issuer quietly
    session = budgeted(session)
    reader = Reader(
        build_iam(session),
        IssuerInspector(allow_private=settings.allow_private_issuers, ca_file=settings.ca_file),
        concurrency=settings.concurrency,
    )
    return Cycle(
        TargetsTable(session.client("dynamodb"), settings.targets_table),
        reader,
        tokens=TokenFetcher(session, ca_file=settings.ca_file, allow_private=settings.allow_private_issuers),
        prober=StsProber(session.client),
        drift=drift or DriftRules(expiry_days=settings.cert_expiry_days),
        concurrency=settings.concurrency,
    )


def build_reader(
    *,
    allow_private: bool = False,
    ca_file: str | None = None,
    timeout: float = 5.0,
    concurrency: int = 16,
    session: Any = None,
) -> Reader:
    """The shared reads (IAM and issuers) for a shell that runs the drift pass by itself."""
    from webid_canary.adapters.inspector import IssuerInspector

    inspector = IssuerInspector(allow_private=allow_private, ca_file=ca_file, timeout=timeout)
    return Reader(build_iam(session), inspector, concurrency=concurrency)


def build_iam(session: Any = None) -> Any:
    """The IAM port (IamReader) for a boto3 session."""

    from webid_canary.adapters.iam import IamReader

    return IamReader(budgeted(session).client("iam"))


def build_reporter(settings: Settings, session: Any, state: StatePort) -> Reporter:
    """The Reporter over the State table, SNS and (when set) EventBridge and Security Hub."""
    from webid_canary.adapters.events import EventBridgePublisher
    from webid_canary.adapters.notifier import SnsNotifier
    from webid_canary.adapters.security_hub import SecurityHubImporter

    session = budgeted(session)
    return Reporter(
        state,
        SnsNotifier(session.client("sns")),
        default_topic=settings.topic_arn,
        reminder_after=timedelta(hours=settings.reminder_hours),
        flap_window=timedelta(minutes=settings.flap_minutes),
        events=EventBridgePublisher(session.client("events"), settings.event_bus) if settings.event_bus else None,
        findings=SecurityHubImporter(session.client("securityhub"), settings.security_hub_product_arn)
        if settings.security_hub_product_arn
        else None,
        concurrency=settings.concurrency,
    )


def build_monitor(settings: Settings, session: Any = None, *, metrics: MetricsPort | None = None) -> Monitor:
    """The cycle, the State table and SNS, wired for the Lambda (and the local environment)."""

    from webid_canary.adapters.state_table import StateTable

    session = budgeted(session)
    state = StateTable(session.client("dynamodb"), settings.state_table)
    return Monitor(build_cycle(settings, session), build_reporter(settings, session, state), state, metrics=metrics)


@functools.cache
def monitor(metrics: MetricsPort | None = None) -> Monitor:
    """The process's monitor, built on first use from the environment (settings read once)."""
    return build_monitor(load_settings(), metrics=metrics)


def build_refusals(settings: Settings, session: Any = None) -> RefusalAlerts:
    """The refusal alerts (EventBridge -> explain -> SNS and the event bus), over the same State table, topic and
    bus as the monitor."""

    from webid_canary.adapters.events import EventBridgePublisher
    from webid_canary.adapters.notifier import SnsNotifier
    from webid_canary.adapters.state_table import StateTable

    session = budgeted(session)
    state = StateTable(session.client("dynamodb"), settings.state_table)
    return RefusalAlerts(
        IamFacts(build_iam(session)),
        state,
        SnsNotifier(session.client("sns")),
        settings.topic_arn,
        events=EventBridgePublisher(session.client("events"), settings.event_bus) if settings.event_bus else None,
    )


@functools.cache
def refusals() -> RefusalAlerts:
    """The process's refusal alerts, built on first use from the environment."""
    return build_refusals(load_settings())


# ----- organization mode: one builder per step of the state machine (infra/orchestration.py)


class OrganizationParts:
    """What the four steps share in one process: settings, the session, the State table, the plan store."""

    def __init__(self, settings: Settings, session: Any = None) -> None:
        from webid_canary.adapters.plan_store import S3PlanStore
        from webid_canary.adapters.state_table import StateTable

        if settings.plan_bucket is None:
            from webid_canary import names

            raise SettingsError(f"{names.ENV_PLAN_BUCKET}: not set (organization mode needs the plan bucket)")
        self.settings = settings
        self.session = budgeted(session)
        self.state = StateTable(self.session.client("dynamodb"), settings.state_table)
        self.store = S3PlanStore(self.session.client("s3"), settings.plan_bucket)
        self.lease = Lease(self.state, ttl=timedelta(seconds=settings.lease_seconds))

    def inspector(self) -> Any:
        from webid_canary.adapters.inspector import IssuerInspector

        return IssuerInspector(allow_private=self.settings.allow_private_issuers, ca_file=self.settings.ca_file)

    def planner(self) -> Planner:
        from webid_canary.adapters.organizations import OrganizationReader
        from webid_canary.adapters.targets_table import TargetsTable

        settings = self.settings
        assert settings.plan_bucket is not None
        return Planner(
            TargetsTable(self.session.client("dynamodb"), settings.targets_table),
            self.store,
            self.lease,
            bucket=settings.plan_bucket,
            limits=PlanLimits(settings.shard_max_targets, settings.shard_max_accounts),
            organization=OrganizationReader(self.session.client("organizations")),
        )

    def issuer_step(self) -> IssuerStep:
        return IssuerStep(self.inspector(), self.store)

    def shard_step(self, cycle_id: str, own_account: str | None, metrics: FleetMetricsPort | None) -> ShardStep:
        from webid_canary.adapters.organizations import ReaderRoles
        from webid_canary.adapters.sts import StsProber
        from webid_canary.adapters.token_sources import TokenFetcher

        settings = self.settings
        roles = ReaderRoles(
            self.session.client,
            role_name=settings.reader_role_name,
            cycle_id=cycle_id,
            own_account=own_account,
            rate_per_second=settings.iam_rate_per_second,
        )
        return ShardStep(
            self.store,
            self.state,
            build_reporter(settings, self.session, self.state),
            roles,
            self.inspector(),
            rules=ShardRules(DriftRules(expiry_days=settings.cert_expiry_days), settings.concurrency),
            tokens=TokenFetcher(self.session, ca_file=settings.ca_file, allow_private=settings.allow_private_issuers),
            prober=StsProber(self.session.client),
            metrics=metrics,
        )

    def report_step(self, metrics: FleetMetricsPort | None) -> ReportStep:
        return ReportStep(
            self.store,
            self.state,
            build_reporter(self.settings, self.session, self.state),
            self.lease,
            metrics=metrics,
            account_metrics=self.settings.account_metrics,
        )


@functools.cache
def organization() -> OrganizationParts:
    """The process's organization-mode parts, built on first use from the environment (settings read once)."""
    return OrganizationParts(load_settings())
