"""Reporting across cycles: one notice per change, reminders, recovery, and no notice lost to an SNS outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from webid_canary.app.ports import Message, PublishError
from webid_canary.app.reporting import Reporter
from webid_canary.core.catalogue import Severity
from webid_canary.core.drift import DriftFinding
from webid_canary.core.report import CycleReport, ProviderResult, TargetResult
from webid_canary.core.state import StateRecord, Status
from webid_canary.core.verdict import Verdict

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:webid-canary"

DENY_SUB = {
    "outcome": "deny",
    "error_code": "AccessDenied",
    "message": "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    "root_cause": "trust_condition_mismatch",
    "condition_key": "oidc.example.com:sub",
    "expected": ["system:serviceaccount:billing:invoice-worker"],
    "actual": ["system:serviceaccount:billing:other"],
    "hints": [],
    "explanation": "The sub condition does not match.",
    "remedy": "Set oidc.example.com:sub to the service account.",
    "trace": [],
}
DENY_AUD = {**DENY_SUB, "condition_key": "oidc.example.com:aud", "expected": ["sts.amazonaws.com"], "actual": ["x"]}
ALLOW = {**DENY_SUB, "outcome": "allow", "error_code": None, "root_cause": "none", "condition_key": None}


class MemoryState:
    def __init__(self) -> None:
        self.items: dict[str, StateRecord] = {}

    def load_all(self) -> dict[str, StateRecord]:
        return dict(self.items)

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        current = self.items.get(record.key)
        if (current.version if current else None) != expected_version:
            return False
        self.items[record.key] = record
        return True


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.down = False

    def publish(self, topic_arn: str, message: Message) -> str:
        if self.down:
            raise PublishError("Publish", "ServiceUnavailable", "SNS unavailable")
        self.messages.append(message)
        return f"m-{len(self.messages)}"

    def events(self) -> list[tuple[str, str]]:
        return [(m.attributes["event"], m.attributes["root_cause"]) for m in self.messages]


def cycle(verdict: dict[str, object], *, drift: bool = False) -> CycleReport:
    status = Status.OK if verdict["outcome"] == "allow" else Status.FAILING
    target = TargetResult(
        "invoice-worker",
        status,
        role_arn="arn:aws:iam::123456789012:role/invoice-worker",
        issuer="https://oidc.example.com",
        severity="critical",
        verdict=Verdict(**{k: tuple(v) if isinstance(v, list) else v for k, v in verdict.items()}),  # type: ignore[arg-type]
    )
    findings = (DriftFinding("thumbprint_mismatch", Severity.CRITICAL, {"host": "oidc.example.com"}),)
    provider = ProviderResult(
        "oidc.example.com", None, Status.DRIFT if drift else Status.OK, findings=findings if drift else ()
    )
    return CycleReport(T0, T0, (target,), (provider,))


def reporter(state: MemoryState, inbox: Inbox) -> Reporter:
    return Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6))


def test_a_story_of_cycles_notifies_exactly_on_changes() -> None:
    state, inbox = MemoryState(), Inbox()
    story = [ALLOW, ALLOW, DENY_SUB, DENY_SUB, DENY_AUD, DENY_AUD, ALLOW, ALLOW]
    for minutes, verdict in enumerate(story):
        reporter(state, inbox).report(cycle(verdict), now=T0 + timedelta(minutes=5 * minutes))
    assert inbox.events() == [
        ("failing", "trust_condition_mismatch"),
        ("changed", "trust_condition_mismatch"),
        ("recovered", "trust_condition_mismatch"),
    ]


def test_reminders_come_at_the_configured_interval() -> None:
    state, inbox = MemoryState(), Inbox()
    for hours in [0, 1, 5, 6, 7, 12, 13]:
        reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(hours=hours))
    assert [e for e, _ in inbox.events()] == ["failing", "reminder", "reminder"]


def test_a_failed_publish_is_sent_on_the_next_cycle() -> None:
    state, inbox = MemoryState(), Inbox()
    reporter(state, inbox).report(cycle(ALLOW), now=T0)
    inbox.down = True
    outcome = reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=5))
    assert [d.error is not None for d in outcome.deliveries] == [True]
    inbox.down = False
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=10))
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=15))
    assert inbox.events() == [("failing", "trust_condition_mismatch")]


def test_the_message_carries_schema_attributes_and_a_text_for_people() -> None:
    state, inbox = MemoryState(), Inbox()
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0)
    message = inbox.messages[0]
    body = json.loads(message.default)
    assert body["schema"] == "webid-canary/notification/v1"
    assert body["event"] == "failing"
    assert body["target_id"] == "invoice-worker"
    assert body["verdict"]["condition_key"] == "oidc.example.com:sub"
    assert message.attributes == {
        "event": "failing",
        "severity": "critical",
        "target_id": "invoice-worker",
        "root_cause": "trust_condition_mismatch",
    }
    assert len(message.subject) < 100
    assert "oidc.example.com:sub" in message.email
    assert "system:serviceaccount:billing:invoice-worker" in message.email
    assert "system:serviceaccount:billing:other" in message.email
    assert "Set oidc.example.com:sub" in message.email


def test_provider_drift_notifies_and_clears() -> None:
    state, inbox = MemoryState(), Inbox()
    for minutes, drift in enumerate([False, True, True, False]):
        reporter(state, inbox).report(cycle(ALLOW, drift=drift), now=T0 + timedelta(minutes=5 * minutes))
    assert inbox.events() == [("drift", "thumbprint_mismatch"), ("recovered", "thumbprint_mismatch")]


def test_an_overlapping_run_does_not_double_notify() -> None:
    state, inbox = MemoryState(), Inbox()
    reporter(state, inbox).report(cycle(ALLOW), now=T0)
    stale = state.load_all()
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=5))
    outcome = reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=5), previous=stale)
    assert outcome.conflicts == ["target#invoice-worker"]
    assert [e for e, _ in inbox.events()] == ["failing"]
