"""The fleet view: rows worst first, counts by status and root cause, certificate days, transitions from State."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.fleet import from_cycle, from_state
from webid_canary.core.model import InputError
from webid_canary.core.state import StateRecord, Status, Subject

PROBE = json.loads((Path(__file__).parents[1] / "data" / "report" / "probe.json").read_text())
NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def test_a_probe_report_is_summarised_by_status_and_root_cause() -> None:
    view = from_cycle(PROBE, source="probe file p.json")

    assert view.as_of == datetime.fromisoformat(PROBE["finished"])
    assert [(c.key, c.count) for c in view.by_status] == [("error", 1), ("failing", 3), ("open", 1), ("ok", 4)]
    first = view.by_root_cause[0]
    assert (first.key, first.count) == ("trust_condition_mismatch", 2)
    assert {c.key: c.title for c in view.by_root_cause}[
        "trust_condition_mismatch"
    ] == "A trust policy condition is false"


def test_targets_come_worst_first_with_the_failing_key_and_its_values() -> None:
    view = from_cycle(PROBE, source="p")

    assert [t.status for t in view.targets][:5] == [
        Status.ERROR,
        Status.FAILING,
        Status.FAILING,
        Status.FAILING,
        Status.OPEN,
    ]
    ok = [t.target_id for t in view.targets if t.status is Status.OK]
    assert ok == ["payments-api-prod", "gitlab-infra", "mobile-backend", "docs-publish"], "critical first, then by id"
    deploy = next(t for t in view.targets if t.target_id == "payments-deploy")
    assert deploy.failing_key == "token.actions.githubusercontent.com:sub"
    assert deploy.expected == ("repo:acme/payments:ref:refs/heads/main",)
    assert deploy.actual == ("repo:acme/payments:environment:production",)
    assert deploy.owner == "team-payments"
    opened = next(t for t in view.targets if t.status is Status.OPEN)
    assert opened.detail == "accepts repo:acme/website:ref:refs/heads/main"


def test_providers_show_drift_and_the_certificate_that_expires_first() -> None:
    view = from_cycle(PROBE, source="p")

    drifting = view.providers[0]
    assert (drifting.url, drifting.status) == ("auth.acme.example", Status.DRIFT)
    assert drifting.drift == ("certificate_expiring", "thumbprint_changed")
    assert (drifting.certificate_host, drifting.certificate_days_left) == ("auth.acme.example", 9)
    assert all(p.drift == () for p in view.providers[1:])


def _records() -> list[StateRecord]:
    records = []
    for offset, target in enumerate(PROBE["targets"]):
        since = NOW - timedelta(hours=offset)
        records.append(
            StateRecord(f"target#{target['target_id']}", Status(target["status"]), since, None, since, target)
        )
    for provider in PROBE["providers"]:
        records.append(
            StateRecord(
                f"provider#{provider['url']}", Status(provider["status"]), NOW - timedelta(days=3), None, None, provider
            )
        )
    records.append(StateRecord("lease#cycle", Status.OK, NOW, None, None, {}))
    return records


def test_the_state_table_adds_since_and_the_last_transitions_newest_first() -> None:
    view = from_state(_records(), now=NOW, source="State table s")

    assert view.as_of == NOW
    assert len(view.targets) == 9 and len(view.providers) == 4
    assert next(t for t in view.targets if t.target_id == "payments-api-prod").since == NOW
    assert [c.since for c in view.changes] == sorted((c.since for c in view.changes), reverse=True)
    assert (view.changes[0].subject, view.changes[0].subject_id) == (Subject.TARGET, "payments-api-prod")
    assert {c.subject for c in view.changes} == {Subject.TARGET, Subject.PROVIDER}
    # Days left count from now, not from when the result was recorded.
    assert view.providers[0].certificate_days_left == 8


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d["targets"][2].update(status="broken"), "probe: targets[2].status: expected one of ok, failing"),
        (lambda d: d["targets"][0].pop("target_id"), "probe: targets[0].target_id: expected a string"),
        (lambda d: d.update(finished="yesterday"), "probe: finished: expected an ISO-8601 instant"),
        (lambda d: d.pop("providers"), "probe: expected a cycle report with targets and providers"),
        (lambda d: d["providers"][1]["hosts"][0].update(not_after="2027-01-01T00:00:00"), "probe: providers[1].hosts[0].not_after: the instant has no time zone"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_cycle_report_is_refused_naming_the_field(change: Any, says: str) -> None:
    document = json.loads(json.dumps(PROBE))
    change(document)

    with pytest.raises(InputError) as raised:
        from_cycle(document, source="p")

    assert str(raised.value).startswith(says)


def test_a_state_record_that_is_not_a_result_is_refused_naming_the_record() -> None:
    records = [*_records(), StateRecord("target#broken", Status.OK, NOW, None, None, {"status": "ok"})]

    with pytest.raises(InputError) as raised:
        from_state(records, now=NOW, source="s")

    assert str(raised.value) == "state_table: target#broken: last_result.target_id: expected a string"
