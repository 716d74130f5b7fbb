"""The Lambda handler as Lambda calls it, against the local AWS: metrics, notices, state, and no secrets in logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.doubles import FakeLambdaContext, scheduled_event
from webid_canary import names, wiring
from webid_canary.adapters.targets_table import TargetsTable
from webid_canary.core.targets import parse_target
from webid_canary.local.alarms import parse_emf
from webid_canary.local.aws import LocalAws
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder, Topic, oidc_trust_policy
from webid_canary.settings import load_settings

AUDIENCE = "sts.amazonaws.com"
SA = "system:serviceaccount:billing:invoice-worker"
SECRET_ID = "webid-canary/live-token"
ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")


class Fleet:
    """A provider, two roles, two targets (one predicted, one live), the tables and a readable topic."""

    def __init__(self, aws: LocalAws, seed: Seeder, issuer: LocalIssuer) -> None:
        self.aws, self.seed, self.issuer = aws, seed, issuer
        self.targets_table, self.state_table = seed.tables()
        self.topic: Topic = seed.topic()
        self.provider_arn = seed.provider(issuer, client_ids=[AUDIENCE])
        self.role_arn = seed.role("invoice-worker", self.trust(SA))
        self.token = issuer.mint({"sub": SA, "aud": AUDIENCE}, expires_in=86400)
        seed.secret(SECRET_ID, self.token)
        items: list[dict[str, Any]] = [
            {
                "target_id": "invoice-worker",
                "role_arn": self.role_arn,
                "issuer": issuer.url,
                "claims": {"sub": SA, "aud": AUDIENCE},
                "alarm": True,
                "severity": "critical",
            },
            {
                "target_id": "invoice-worker-live",
                "role_arn": self.role_arn,
                "issuer": issuer.url,
                "token_source": {"type": "secret", "secret_id": SECRET_ID},
            },
        ]
        TargetsTable(aws.client("dynamodb"), self.targets_table).put_all([parse_target(i) for i in items])

    def trust(self, sub: str) -> dict[str, Any]:
        return oidc_trust_policy(self.provider_arn, self.issuer.provider_url, sub=sub, aud=AUDIENCE)

    def set_sub(self, sub: str) -> None:
        self.aws.client("iam").update_assume_role_policy(
            RoleName="invoice-worker", PolicyDocument=json.dumps(self.trust(sub))
        )

    def environment(self) -> dict[str, str]:
        return {
            names.ENV_TARGETS_TABLE: self.targets_table,
            names.ENV_STATE_TABLE: self.state_table,
            names.ENV_TOPIC_ARN: self.topic.topic_arn,
            names.ENV_ALLOW_PRIVATE_ISSUERS: "true",
            names.ENV_CA_FILE: self.issuer.ca_file,
            names.ENV_REMINDER_HOURS: "6",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
        }

    def messages(self) -> list[dict[str, Any]]:
        return self.seed.messages(self.topic, max_messages=50)


@pytest.fixture
def fleet(aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    built = Fleet(aws, seed, local_issuer)
    for key, value in built.environment().items():
        monkeypatch.setenv(key, value)
    wiring.monitor.cache_clear()
    yield built
    wiring.monitor.cache_clear()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the product logs, through the Powertools JSON formatter, at DEBUG."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaPowertoolsFormatter())
    product = logging.getLogger(names.SERVICE_NAME)
    product.addHandler(handler)
    yield stream
    product.removeHandler(handler)


def invoke(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    from webid_canary import handler

    summary = handler.lambda_handler(scheduled_event(), FakeLambdaContext())
    return summary, capsys.readouterr().out


def test_a_cycle_emits_the_fleet_metrics_and_the_alarmed_targets_series(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    summary, out = invoke(capsys)
    assert summary["targets"] == 2
    assert summary["ok"] == 2, summary
    points = parse_emf(out.splitlines())
    fleet_points = {p.name: p.value for p in points if p.dimensions == {"service": names.SERVICE_NAME}}
    assert fleet_points[names.METRIC_TARGETS_PROBED] == 2
    assert fleet_points[names.METRIC_TARGETS_FAILING] == 0
    assert fleet_points[names.METRIC_TARGETS_OPEN] == 0
    assert fleet_points[names.METRIC_CYCLE_COMPLETED] == 1
    assert names.METRIC_CYCLE_DURATION in fleet_points
    per_target = [p for p in points if p.name == names.METRIC_TARGET_FAILING]
    assert [(p.dimensions, p.value) for p in per_target] == [
        ({"service": names.SERVICE_NAME, names.DIMENSION_TARGET: "invoice-worker"}, 0.0)
    ]
    assert all(p.namespace == names.METRIC_NAMESPACE for p in points)


def test_one_notice_when_it_breaks_one_when_it_mends(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    invoke(capsys)
    assert fleet.messages() == []
    fleet.set_sub("system:serviceaccount:billing:someone-else")
    summary, out = invoke(capsys)
    assert summary["failing"] == 2
    (envelope,) = [m for m in fleet.messages() if m["MessageAttributes"]["target_id"]["Value"] == "invoice-worker"]
    body = json.loads(envelope["Message"])
    assert body["schema"] == "webid-canary/notification/v1"
    assert (body["event"], body["root_cause"]) == ("failing", "trust_condition_mismatch")
    assert body["verdict"]["condition_key"] == f"{fleet.issuer.provider_url}:sub"
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes.pop("transition_id") == body["transition_id"]
    assert attributes == {
        "event": "failing",
        "severity": "critical",
        "target_id": "invoice-worker",
        "root_cause": "trust_condition_mismatch",
    }
    assert len(envelope["Subject"]) < 100
    assert "system:serviceaccount:billing:someone-else" in body["text"]
    assert [p.value for p in parse_emf(out.splitlines()) if p.name == names.METRIC_TARGET_FAILING] == [1.0]

    invoke(capsys)
    assert fleet.messages() == []
    fleet.set_sub(SA)
    invoke(capsys)
    events = sorted(
        (m["MessageAttributes"]["target_id"]["Value"], json.loads(m["Message"])["event"]) for m in fleet.messages()
    )
    assert events == [("invoice-worker", "recovered"), ("invoice-worker-live", "recovered")]


def test_nothing_secret_reaches_the_logs(fleet: Fleet, capsys: pytest.CaptureFixture[str], logs: io.StringIO) -> None:
    invoke(capsys)
    fleet.set_sub("system:serviceaccount:billing:someone-else")
    _, out = invoke(capsys)
    written = logs.getvalue() + out
    assert written, "nothing was logged at all: the scan would prove nothing"
    signature = fleet.token.rsplit(".", 1)[1]
    assert fleet.token not in written
    assert signature not in written
    assert not ACCESS_KEY.search(written)
    assert "SecretAccessKey" not in written
    assert "SessionToken" not in written


@pytest.mark.usefixtures("fleet")
def test_the_lambdas_log_handler_redacts_and_the_sdk_stays_quiet() -> None:
    from webid_canary import handler
    from webid_canary.redaction import RedactionFilter

    assert any(isinstance(f, RedactionFilter) for f in handler.logger.registered_handler.filters)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)  # what ApplicationLogLevel=DEBUG does
    try:
        assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("botocore.parsers").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)


def test_each_targets_work_is_logged_with_its_target_id(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], logs: io.StringIO
) -> None:
    fleet.set_sub("system:serviceaccount:billing:someone-else")
    invoke(capsys)
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    checked = {line["target_id"]: line for line in lines if line.get("message") == "target checked"}
    assert set(checked) == {"invoice-worker", "invoice-worker-live"}
    assert checked["invoice-worker"]["level"] == "WARNING"
    assert checked["invoice-worker"]["root_cause"] == "trust_condition_mismatch"
    assert checked["invoice-worker"]["sub"] == SA


def test_reminders_and_a_lost_publish_through_the_real_adapters(fleet: Fleet) -> None:
    monitor = wiring.build_monitor(load_settings())
    start = datetime.now(UTC)
    fleet.set_sub("system:serviceaccount:billing:someone-else")

    monitor.run(now=start)
    assert len(fleet.messages()) == 2
    monitor.run(now=start + timedelta(hours=1))
    assert fleet.messages() == []
    monitor.run(now=start + timedelta(hours=6, minutes=1))
    assert sorted(json.loads(m["Message"])["event"] for m in fleet.messages()) == ["reminder", "reminder"]

    sns = fleet.aws.client("sns")
    sns.delete_topic(TopicArn=fleet.topic.topic_arn)
    fleet.set_sub(SA)
    result = monitor.run(now=start + timedelta(hours=7))
    assert len(result.outcome.failed) == 2
    fleet.topic = fleet.seed.topic()
    result = monitor.run(now=start + timedelta(hours=7, minutes=5))
    assert result.outcome.failed == []
    assert sorted(json.loads(m["Message"])["event"] for m in fleet.messages()) == ["recovered", "recovered"]
    monitor.run(now=start + timedelta(hours=7, minutes=10))
    assert fleet.messages() == []


def test_every_aws_client_of_the_monitor_carries_the_time_budget() -> None:
    from botocore.config import Config

    session = wiring.budgeted()
    client = session.client("dynamodb", region_name="us-east-1")
    unsigned = session.client("sts", region_name="us-east-1", config=Config(signature_version="unsigned"))
    for made in (client, unsigned):
        assert made.meta.config.connect_timeout == wiring.AWS_CONNECT_SECONDS
        assert made.meta.config.read_timeout == wiring.AWS_READ_SECONDS
        assert made.meta.config.retries["total_max_attempts"] == wiring.AWS_ATTEMPTS
    assert unsigned.meta.config.signature_version == "unsigned"
