"""Reporting across cycles: one notice per change, reminders, recovery, and no notice lost to an SNS outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.doubles import MemoryState
from webid_canary.app.ports import BusEvent, Message, PublishError, StateStoreError
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
    assert {k: v for k, v in message.attributes.items() if k != "transition_id"} == {
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


class FlakyState(MemoryState):
    """A State table whose writes fail while `failing` counts down (throttled, or the process killed)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = 0
        self.writes = 0

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        self.writes += 1
        if self.failing:
            self.failing -= 1
            raise StateStoreError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        return super().put(record, expected_version=expected_version)


def test_a_notice_whose_delivery_was_not_recorded_is_sent_again_with_the_same_transition_id() -> None:
    state, inbox = FlakyState(), Inbox()
    reporter(state, inbox).report(cycle(ALLOW), now=T0)
    # The outbox write succeeds, SNS accepts, then the write that clears the outbox fails (or the run dies).
    original_put = state.put

    def put_then_die(record: StateRecord, *, expected_version: int | None) -> bool:
        if not record.outbox and expected_version is not None and state.items[record.key].outbox:
            raise StateStoreError("PutItem", "InternalServerError", "the run ended here")
        return original_put(record, expected_version=expected_version)

    state.put = put_then_die  # type: ignore[method-assign]
    outcome = reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=5))
    assert outcome.state_errors == ["target#invoice-worker"]
    state.put = original_put  # type: ignore[method-assign]
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=10))
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=15))
    failing = [m for m in inbox.messages if m.attributes["event"] == "failing"]
    assert len(failing) == 2  # at least once: sent, then sent again because its delivery was not recorded
    assert len({m.attributes["transition_id"] for m in failing}) == 1
    assert json.loads(failing[0].default)["transition_id"] == failing[0].attributes["transition_id"]


def test_a_throttled_state_write_never_stops_the_cycle_and_the_change_is_notified_later() -> None:
    state, inbox = FlakyState(), Inbox()
    reporter(state, inbox).report(cycle(ALLOW), now=T0)
    state.failing = 2  # both subjects' writes
    outcome = reporter(state, inbox).report(cycle(DENY_SUB, drift=True), now=T0 + timedelta(minutes=5))
    assert sorted(outcome.state_errors) == ["provider#oidc.example.com", "target#invoice-worker"]
    assert inbox.events() == []
    reporter(state, inbox).report(cycle(DENY_SUB, drift=True), now=T0 + timedelta(minutes=10))
    assert sorted(inbox.events()) == [("drift", "thumbprint_mismatch"), ("failing", "trust_condition_mismatch")]


def test_an_sns_outage_then_a_throttled_write_loses_nothing() -> None:
    state, inbox = FlakyState(), Inbox()
    reporter(state, inbox).report(cycle(ALLOW), now=T0)
    inbox.down = True
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=5))
    inbox.down = False
    state.failing = 1
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=10))
    reporter(state, inbox).report(cycle(DENY_SUB), now=T0 + timedelta(minutes=15))
    assert inbox.events() == [("failing", "trust_condition_mismatch")]
    assert not state.items["target#invoice-worker"].outbox


def test_a_huge_result_is_stored_trimmed_within_dynamodbs_item_limit() -> None:
    state, inbox = MemoryState(), Inbox()
    huge = {**DENY_SUB, "expected": [f"repo:acme/r{i}:ref:refs/heads/main" for i in range(40_000)]}
    reporter(state, inbox).report(cycle(huge), now=T0)
    record = state.items["target#invoice-worker"]
    item = record.to_item()
    assert len(json.dumps(item).encode()) < 400 * 1024
    assert StateRecord.from_item(item).last_result["root_cause"] == "trust_condition_mismatch"
    (message,) = inbox.messages
    assert len(message.default.encode()) + len(message.email.encode()) < 256 * 1024


# AWS Chatbot's custom notification event schema, as documented:
# https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
CHATBOT_SCHEMA = {
    "type": "object",
    "required": ["version", "source", "content"],
    "properties": {
        "version": {"const": "1.0"},
        "source": {"const": "custom"},
        "id": {"type": "string"},
        "content": {
            "type": "object",
            "required": ["description"],
            "properties": {
                "textType": {"const": "client-markdown"},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "nextSteps": {"type": "array", "items": {"type": "string"}},
                "keywords": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "metadata": {
            "type": "object",
            "properties": {
                "threadId": {"type": "string"},
                "summary": {"type": "string"},
                "eventType": {"type": "string"},
                "relatedResources": {"type": "array", "items": {"type": "string"}},
                "additionalContext": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def test_chat_subscribers_get_chatbots_custom_notification_with_the_failing_key_and_the_fix() -> None:
    import jsonschema

    state, inbox = MemoryState(), Inbox()
    reporter(state, inbox).report(cycle(DENY_SUB, drift=True), now=T0)
    for message in inbox.messages:
        chat = json.loads(message.chat)
        jsonschema.validate(chat, CHATBOT_SCHEMA)
        assert chat["id"] == message.attributes["transition_id"]
    target = next(json.loads(m.chat) for m in inbox.messages if m.attributes["target_id"] == "invoice-worker")
    assert target["content"]["title"].startswith("FAILING: invoice-worker")
    assert "`oidc.example.com:sub`" in target["content"]["description"]
    assert "system:serviceaccount:billing:other" in target["content"]["description"]
    assert target["content"]["nextSteps"][0] == "Set oidc.example.com:sub to the service account."
    assert target["metadata"]["threadId"] == "webid-canary-target-invoice-worker"
    provider = next(json.loads(m.chat) for m in inbox.messages if m.attributes["target_id"] == "oidc.example.com")
    assert "*thumbprint_mismatch* (critical)" in provider["content"]["description"]


class Bus:
    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self.down = False

    def put(self, events: list[BusEvent]) -> None:
        if self.down:
            raise PublishError("PutEvents to default", "InternalFailure", "bus unavailable")
        self.events.extend(events)


def test_every_notice_also_goes_on_the_event_bus_with_its_detail_type_and_the_same_json() -> None:
    state, inbox, bus = MemoryState(), Inbox(), Bus()
    story = [(ALLOW, False), (DENY_SUB, True), (ALLOW, False)]
    for minutes, (verdict, drift) in enumerate(story):
        with_bus = Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), events=bus)
        with_bus.report(cycle(verdict, drift=drift), now=T0 + timedelta(minutes=5 * minutes))
    assert sorted(e.detail_type for e in bus.events) == [
        "Provider Drift",
        "Provider Recovered",
        "Target Failing",
        "Target Recovered",
    ]
    details = [json.loads(e.detail) for e in bus.events]
    assert {d["schema"] for d in details} == {"webid-canary/notification/v1"}
    by_transition = {m.attributes["transition_id"]: json.loads(m.default) for m in inbox.messages}
    assert all(by_transition[d["transition_id"]] == d for d in details)
    failing = next(e for e in bus.events if e.detail_type == "Target Failing")
    assert failing.resources == ("arn:aws:iam::123456789012:role/invoice-worker",)


def test_a_bus_outage_keeps_only_the_event_in_the_outbox_and_sns_is_not_sent_twice() -> None:
    state, inbox, bus = MemoryState(), Inbox(), Bus()

    def report(verdict: dict[str, object], minutes: int) -> None:
        with_bus = Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), events=bus)
        with_bus.report(cycle(verdict), now=T0 + timedelta(minutes=minutes))

    report(ALLOW, 0)
    bus.down = True
    report(DENY_SUB, 5)
    assert [o["channels"] for o in state.items["target#invoice-worker"].outbox] == [["events"]]
    bus.down = False
    report(DENY_SUB, 10)
    assert inbox.events() == [("failing", "trust_condition_mismatch")]
    assert [e.detail_type for e in bus.events] == ["Target Failing"]
    assert not state.items["target#invoice-worker"].outbox


def test_a_bus_that_stays_down_never_holds_back_the_sns_notices() -> None:
    state, inbox, bus = MemoryState(), Inbox(), Bus()
    bus.down = True
    for minutes, verdict in enumerate([ALLOW, DENY_SUB, ALLOW, DENY_AUD]):
        with_bus = Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), events=bus)
        with_bus.report(cycle(verdict), now=T0 + timedelta(minutes=5 * minutes))
    assert [e for e, _ in inbox.events()] == ["failing", "recovered", "failing"]
    outbox = state.items["target#invoice-worker"].outbox
    assert [(o["attributes"]["event"], o["channels"]) for o in outbox] == [
        ("failing", ["events"]),
        ("recovered", ["events"]),
        ("failing", ["events"]),
    ]
    bus.down = False
    Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), events=bus).report(
        cycle(DENY_AUD), now=T0 + timedelta(minutes=20)
    )
    assert [e.detail_type for e in bus.events] == ["Target Failing", "Target Recovered", "Target Failing"]
    assert not state.items["target#invoice-worker"].outbox
