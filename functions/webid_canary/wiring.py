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
from webid_canary.app.refusals import IamFacts, RefusalAlerts
from webid_canary.app.reporting import Reporter
from webid_canary.settings import Settings, load_settings

if TYPE_CHECKING:
    from botocore.config import Config

    from webid_canary.app.ports import MetricsPort

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


def build_monitor(settings: Settings, session: Any = None, *, metrics: MetricsPort | None = None) -> Monitor:
    """The cycle, the State table and SNS, wired for the Lambda (and the local environment)."""

    from webid_canary.adapters.events import EventBridgePublisher
    from webid_canary.adapters.notifier import SnsNotifier
    from webid_canary.adapters.security_hub import SecurityHubImporter
    from webid_canary.adapters.state_table import StateTable

    session = budgeted(session)
    state = StateTable(session.client("dynamodb"), settings.state_table)
    reporter = Reporter(
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
    return Monitor(build_cycle(settings, session), reporter, state, metrics=metrics)


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
