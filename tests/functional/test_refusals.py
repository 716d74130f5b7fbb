"""The refusals use case over an in-memory IAM: roles and providers read once, failures kept per record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.doubles import KeyedState
from tests.functional.test_reporter import Bus, Inbox
from webid_canary.app.ports import AwsAccessError, ProviderRecord, PublishError, RoleRecord
from webid_canary.app.refusals import IamFacts, RefusalAlerts, explain_batch
from webid_canary.core.state import StateRecord, Status
from webid_canary.core.trail import read_records

DATA = Path(__file__).parents[1] / "unit" / "data" / "trail"
ROLE = "arn:aws:iam::111122223333:role/payments-reader"
PROVIDER = (
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
)


class _Iam:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def list_roles(self) -> Iterator[RoleRecord]:
        return iter(())

    def get_role(self, name_or_arn: str) -> RoleRecord | None:
        self.calls.append(name_or_arn)
        if self.fail:
            raise AwsAccessError("GetRole", "AccessDenied", "not allowed")
        if name_or_arn != ROLE:
            return None
        return RoleRecord(ROLE, "payments-reader", (DATA / "eks-trust.json").read_text())

    def list_provider_arns(self) -> list[str]:
        return [PROVIDER]

    def get_provider(self, arn: str) -> ProviderRecord | None:
        self.calls.append(arn)
        doc = json.loads((DATA / "eks-provider.json").read_text())
        return ProviderRecord(doc["url"], tuple(doc["client_ids"]), tuple(doc["thumbprints"]), arn)


def _records(count: int) -> list[dict[str, object]]:
    record = json.loads((DATA / "eks-refused.json").read_text())
    return [{**record, "eventID": f"e{i}", "eventTime": f"2026-11-29T08:1{i}:00Z"} for i in range(count)]


def test_retries_are_one_refusal_and_iam_is_read_once_per_role_and_provider() -> None:
    iam = _Iam()

    report = explain_batch(read_records(_records(3)), IamFacts(iam))

    (finding,) = report.refusals
    assert finding.verdict.root_cause == "trust_condition_mismatch"
    event = finding.event()
    assert (event["count"], event["first_time"], event["last_time"]) == (
        3,
        "2026-11-29T08:10:00Z",
        "2026-11-29T08:12:00Z",
    )
    assert iam.calls == [ROLE, PROVIDER]


def test_a_role_that_no_longer_exists_is_said_so() -> None:
    records = _records(1)
    records[0]["requestParameters"] = {"roleArn": "arn:aws:iam::111122223333:role/gone"}

    (finding,) = explain_batch(read_records(records), IamFacts(_Iam())).findings

    assert finding.verdict.root_cause == "role_not_found"


def test_iam_that_cannot_be_read_skips_the_record_with_the_reason() -> None:
    report = explain_batch(read_records(_records(1)), IamFacts(_Iam(fail=True)))

    assert report.findings == ()
    assert [s.reason for s in report.skipped] == ["aws: GetRole: AccessDenied: not allowed"]


# ----- the EventBridge path: explain each refused call and announce it once per window


def _eventbridge(record: dict[str, object]) -> dict[str, object]:
    return {"version": "0", "source": "aws.sts", "detail-type": "AWS API Call via CloudTrail", "detail": record}


def _alerts(state: KeyedState, inbox: Inbox, **kwargs: Any) -> RefusalAlerts:
    return RefusalAlerts(IamFacts(_Iam()), state, inbox, "arn:aws:sns:us-east-1:111122223333:alerts", **kwargs)


def test_a_refused_call_is_announced_once_per_window_with_the_verdict() -> None:
    state, inbox = KeyedState(), Inbox()
    alerts = _alerts(state, inbox)
    now = datetime(2026, 11, 29, 8, 16, tzinfo=UTC)
    retries = _records(3)

    first = alerts.handle(_eventbridge(retries[0]), now=now)
    again = alerts.handle(_eventbridge(retries[1]), now=now + timedelta(minutes=5))
    later = alerts.handle(_eventbridge(retries[2]), now=now + timedelta(hours=2))

    assert (first.refusals, first.notified, again.suppressed, later.notified) == (1, 1, 1, 1)
    assert inbox.events() == [("refused", "trust_condition_mismatch")] * 2
    body = json.loads(inbox.messages[0].default)
    assert body["schema"] == "webid-canary/notification/v1"
    assert body["verdict"]["actual"] == ["system:serviceaccount:payments:worker"]
    assert body["trail_event"]["sub"] == "system:serviceaccount:payments:worker"
    assert "REFUSED BY STS: role arn:aws:iam::111122223333:role/payments-reader" in inbox.messages[0].email


def test_a_failed_publish_is_sent_when_the_delivery_is_retried() -> None:
    state, inbox = KeyedState(), Inbox()
    alerts = _alerts(state, inbox)
    now = datetime(2026, 11, 29, 8, 16, tzinfo=UTC)
    inbox.down = True

    with pytest.raises(PublishError):
        alerts.handle(_eventbridge(_records(1)[0]), now=now)
    inbox.down = False
    retried = alerts.handle(_eventbridge(_records(1)[0]), now=now + timedelta(minutes=1))

    assert retried.notified == 1
    assert inbox.events() == [("refused", "trust_condition_mismatch")]


def test_notices_are_rate_limited_but_every_refusal_is_counted() -> None:
    state, inbox = KeyedState(), Inbox()
    alerts = _alerts(state, inbox, max_per_hour=2)
    now = datetime(2026, 11, 29, 8, 16, tzinfo=UTC)
    summaries = []
    for index in range(3):
        record = _records(1)[0]
        record["userIdentity"] = {**record["userIdentity"], "userName": f"system:serviceaccount:payments:w{index}"}  # type: ignore[dict-item]
        record["userIdentity"]["principalId"] = f"{PROVIDER}:sts.amazonaws.com:system:serviceaccount:payments:w{index}"  # type: ignore[index]
        summaries.append(alerts.handle(_eventbridge(record), now=now))

    assert [s.refusals for s in summaries] == [1, 1, 1]
    assert [s.notified for s in summaries] == [1, 1, 0]
    assert len(inbox.messages) == 2


def test_a_success_is_not_announced() -> None:
    state, inbox = KeyedState(), Inbox()
    success = json.loads((DATA / "github-allowed.json").read_text())

    summary = _alerts(state, inbox).handle(_eventbridge(success), now=datetime(2026, 11, 29, tzinfo=UTC))

    assert (summary.refusals, inbox.messages) == (0, [])


# ----- the refusal's notice on every channel, and the State table read by key


def test_a_refusal_goes_on_the_event_bus_with_the_same_json_as_sns() -> None:
    state, inbox, bus = KeyedState(), Inbox(), Bus()
    alerts = _alerts(state, inbox, events=bus)

    alerts.handle(_eventbridge(_records(1)[0]), now=datetime(2026, 11, 29, 8, 16, tzinfo=UTC))

    (event,) = bus.events
    assert event.detail_type == "Workload Refused"
    assert event.resources == (ROLE,)
    assert json.loads(event.detail) == json.loads(inbox.messages[0].default)
    assert json.loads(event.detail)["transition_id"] == inbox.messages[0].attributes["transition_id"]


def test_a_delivery_reads_only_its_refusals_and_the_hourly_allowance_by_key() -> None:
    state, inbox = KeyedState(), Inbox()
    for index in range(50):  # other refusals and the monitor's own items are never read by a delivery
        state.items[f"target#t{index}"] = StateRecord(
            f"target#t{index}", Status.OK, datetime(2026, 11, 29, tzinfo=UTC), None, None, {}, version=1
        )
    alerts = _alerts(state, inbox)

    alerts.handle(_eventbridge(_records(1)[0]), now=datetime(2026, 11, 29, 8, 16, tzinfo=UTC))

    (read,) = state.loads
    assert len(read) == 2
    assert all(key.startswith("refusal#") for key in read)


def test_a_bus_outage_is_retried_on_the_bus_only_and_sns_is_not_sent_twice() -> None:
    state, inbox, bus = KeyedState(), Inbox(), Bus()
    alerts = _alerts(state, inbox, events=bus)
    now = datetime(2026, 11, 29, 8, 16, tzinfo=UTC)
    bus.down = True

    with pytest.raises(PublishError):
        alerts.handle(_eventbridge(_records(1)[0]), now=now)
    (item,) = [r for k, r in state.items.items() if not k.endswith("_rate")]
    assert [entry["channels"] for entry in item.outbox] == [["events"]]
    bus.down = False
    retried = alerts.handle(_eventbridge(_records(1)[0]), now=now + timedelta(minutes=1))

    assert retried.notified == 1
    assert len(inbox.messages) == 1
    assert [e.detail_type for e in bus.events] == ["Workload Refused"]
    assert not state.items[item.key].outbox
