"""State transitions: one notice when a problem starts, reminders while it lasts, one when it clears."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from webid_canary.core import limits
from webid_canary.core.state import Event, Observation, StateRecord, Status, Subject, advance, fingerprint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REMIND = timedelta(hours=24)


def observe(status: Status, reason: str | None = None) -> Observation:
    return Observation(Subject.TARGET, "payments-api", status, fingerprint(reason) if reason else None, {"r": reason})


def run(statuses: list[tuple[int, Status, str | None]]) -> list[Event | None]:
    record: StateRecord | None = None
    events: list[Event | None] = []
    for minutes, status, reason in statuses:
        step = advance(record, observe(status, reason), now=T0 + timedelta(minutes=minutes), reminder_after=REMIND)
        record = step.record
        events.append(step.event)
    return events


def test_healthy_target_never_notifies() -> None:
    assert run([(0, Status.OK, None), (5, Status.OK, None), (10, Status.OK, None)]) == [None, None, None]


def test_failure_notifies_once_then_recovery_once() -> None:
    events = run(
        [
            (0, Status.OK, None),
            (5, Status.FAILING, "sub"),
            (10, Status.FAILING, "sub"),
            (15, Status.FAILING, "sub"),
            (20, Status.OK, None),
            (25, Status.OK, None),
        ]
    )
    assert events == [None, Event.FAILING, None, None, Event.RECOVERED, None]


def test_a_changed_reason_notifies_again() -> None:
    events = run([(0, Status.FAILING, "sub"), (5, Status.FAILING, "aud"), (10, Status.OPEN, "aud")])
    assert events == [Event.FAILING, Event.CHANGED, Event.CHANGED]


def test_reminder_after_the_interval_and_not_before() -> None:
    day = 24 * 60
    events = run(
        [
            (0, Status.FAILING, "sub"),
            (day - 5, Status.FAILING, "sub"),
            (day, Status.FAILING, "sub"),
            (day + 5, Status.FAILING, "sub"),
            (2 * day, Status.FAILING, "sub"),
        ]
    )
    assert events == [Event.FAILING, None, Event.REMINDER, None, Event.REMINDER]


def test_since_is_when_the_problem_began() -> None:
    first = advance(None, observe(Status.FAILING, "sub"), now=T0, reminder_after=REMIND)
    later = advance(first.record, observe(Status.FAILING, "aud"), now=T0 + timedelta(hours=1), reminder_after=REMIND)
    assert later.record.since == T0
    healed = advance(later.record, observe(Status.OK), now=T0 + timedelta(hours=2), reminder_after=REMIND)
    assert healed.record.since == T0 + timedelta(hours=2)


@pytest.mark.parametrize("status", [Status.FAILING, Status.OPEN, Status.ERROR, Status.DRIFT])
def test_each_problem_status_has_its_event(status: Status) -> None:
    assert advance(None, observe(status, "x"), now=T0, reminder_after=REMIND).event == Event(status.value)


def test_record_round_trips_through_a_table_item() -> None:
    step = advance(None, observe(Status.FAILING, "sub"), now=T0, reminder_after=REMIND, baseline={"kids": ["a"]})
    assert StateRecord.from_item(step.record.to_item()) == step.record
    assert step.record.version == 1
    assert advance(step.record, observe(Status.OK), now=T0, reminder_after=REMIND).record.version == 2


def test_a_state_key_stays_within_dynamodbs_key_limit_for_any_id() -> None:
    from webid_canary.core.state import Subject, state_key

    assert state_key(Subject.TARGET, "payments-api") == "target#payments-api"
    long_key = state_key(Subject.TARGET, "x" * 5000)
    assert long_key.startswith("target#sha256:") and len(long_key.encode()) < 2048
    assert long_key == state_key(Subject.TARGET, "x" * 5000)
    assert long_key != state_key(Subject.TARGET, "x" * 5001)


FLAP = timedelta(minutes=30)


def run_damped(statuses: list[tuple[int, Status, str | None]]) -> list[Event | None]:
    record: StateRecord | None = None
    events: list[Event | None] = []
    for minutes, status, reason in statuses:
        now = T0 + timedelta(minutes=minutes)
        step = advance(record, observe(status, reason), now=now, reminder_after=REMIND, flap_window=FLAP)
        record = StateRecord.from_item(step.record.to_item())  # as the table keeps it between cycles
        events.append(step.event)
    return events


def test_a_problem_that_flaps_every_cycle_is_announced_once_and_cleared_once() -> None:
    flapping = [(5 * i, Status.DRIFT if i % 2 == 0 else Status.OK, "chain" if i % 2 == 0 else None) for i in range(10)]
    events = run_damped(flapping)
    assert events[:2] == [Event.DRIFT, Event.RECOVERED]
    assert events[2:] == [None] * 8


def test_a_returning_problem_that_lasts_the_window_is_announced() -> None:
    events = run_damped(
        [(0, Status.FAILING, "sub"), (5, Status.OK, None), (10, Status.FAILING, "sub")]
        + [(15 + 5 * i, Status.FAILING, "sub") for i in range(6)]
    )
    assert events[:3] == [Event.FAILING, Event.RECOVERED, None]
    assert events.count(Event.FAILING) == 2
    assert events.index(Event.FAILING, 1) == 8  # 30 minutes after it came back, at minute 40


def test_another_problem_after_a_recovery_is_announced_at_once() -> None:
    events = run_damped([(0, Status.FAILING, "sub"), (5, Status.OK, None), (10, Status.FAILING, "aud")])
    assert events == [Event.FAILING, Event.RECOVERED, Event.FAILING]


def test_the_same_problem_after_the_window_is_announced_at_once() -> None:
    events = run_damped([(0, Status.FAILING, "sub"), (5, Status.OK, None), (40, Status.FAILING, "sub")])
    assert events == [Event.FAILING, Event.RECOVERED, Event.FAILING]


def test_a_notice_waiting_in_an_oversized_record_stays_a_valid_notice() -> None:
    open_to = [{"sub": f"system:serviceaccount:payments:intruder-{n:05d}-{'x' * 240}"} for n in range(1500)]
    body = {
        "schema": "webid-canary/notification/v1",
        "event": "open",
        "target_id": "huge",
        "transition_id": "abc123",
        "open_to": open_to,
        "text": "open " * 5000,
    }
    notice = {
        "transition_id": "abc123",
        "topic": "arn:aws:sns:us-east-1:123456789012:t",
        "subject": "[webid-canary] OPEN: huge",
        "default": json.dumps(body),
        "email": "open " * 20000,
        "attributes": {"event": "open", "transition_id": "abc123"},
    }
    step = advance(None, observe(Status.OPEN, "huge"), now=T0, reminder_after=REMIND)
    record = replace(step.record, last_result={"root_cause": "trust_open", "open_to": open_to}, outbox=(notice,))

    item = record.to_item()

    assert limits.json_size(item) <= limits.DYNAMODB_ITEM_BYTES
    (kept,) = StateRecord.from_item(item).outbox
    sent = json.loads(kept["default"])
    assert (sent["schema"], sent["event"], sent["target_id"], sent["transition_id"]) == (
        "webid-canary/notification/v1",
        "open",
        "huge",
        "abc123",
    )
    assert sent.get("trimmed") is True
    assert kept["attributes"] == notice["attributes"]
