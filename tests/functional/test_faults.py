"""Real cycles on the local AWS through injected faults: what a person would notice of them.

The fleet, the AWS fault hook, the report killer and the secret scanner are webid_canary/local/faults.py's, the
same the fault benchmark (bench/faults.py) drives through many more faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from webid_canary.app.cycle import NOT_IN_TIME
from webid_canary.core.limits import DYNAMODB_ITEM_BYTES
from webid_canary.core.state import Subject, state_key
from webid_canary.local.aws import LocalAws
from webid_canary.local.faults import (
    HEALTHY,
    HUGE,
    FaultFleet,
    LogCapture,
    Notice,
    item_bytes,
    server_error,
    throttled,
)
from webid_canary.local.pki import Pki

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


@pytest.fixture
def fleet(aws: LocalAws, local_pki: Pki) -> Iterator[FaultFleet]:
    built = FaultFleet(aws, local_pki, cycle_seconds=20.0, concurrency=4)
    yield built
    built.close()


def pages(notices: list[Notice]) -> list[Notice]:
    return [n for n in notices if n.is_page]


def test_faults_on_every_step_never_page_falsely_nor_lose_the_real_break(fleet: FaultFleet) -> None:
    with LogCapture(sdk_debug=True) as log:
        # Given a fleet checked once while healthy
        first = fleet.run_cycle(NOW)
        assert first.summary["ok"] == first.summary["targets"]
        # When a target breaks while the Targets table, the role reads, SNS and STS are throttled or failing,
        # and the process dies right after the break's first State write (its notice is in the outbox)
        fleet.break_target("break-sub")
        fleet.faults.arm(
            throttled("dynamodb", "Scan", table=fleet.targets_table),
            server_error("sns", "Publish"),
            throttled("sts", "AssumeRoleWithWebIdentity"),
        )
        faulted = fleet.run_cycle(NOW + STEP)
        fleet.faults.disarm()
        fleet.faults.arm(server_error("iam", "ListRoles"), throttled("secretsmanager", "GetSecretValue"))
        fleet.killer.arm(state_key(Subject.TARGET, "break-sub"), 2)
        killed = fleet.run_cycle(NOW + 2 * STEP)
        fleet.faults.disarm()
        fleet.killer.disarm()
        # Then later cycles, without faults, deliver the break's notice
        after = [fleet.run_cycle(NOW + (3 + n) * STEP) for n in range(2)]

    assert faulted.summary, "a throttled Targets table must not stop the cycle"
    assert {faulted.statuses[t] for t in HEALTHY} == {"error"}
    assert "Targets table could not be read" in faulted.errors["steady-predicted"]
    assert fleet.metrics.cycles[1][0].targets, "the faulted cycle's metrics went out"
    assert killed.killed and fleet.killer.kills == 1
    assert after[-1].statuses["break-sub"] == "failing"
    delivered = [n for run in fleet.runs for n in run.notices]
    assert not [n for n in pages(delivered) if n.subject in HEALTHY]
    breaks = [n for n in pages(delivered) if n.subject == "break-sub"]
    assert breaks, "the real break was never notified"
    assert {n.root_cause for n in breaks} == {"trust_condition_mismatch"}
    assert len({n.transition_id for n in breaks}) == 1, "copies of one notice carry one transition id"
    assert not [n for n in delivered if n.malformed], "every notice delivered is whole JSON with its transition id"
    hits = fleet.scanner.findings(log.text()) + [
        f for r in fleet.runs for e in r.envelopes for f in fleet.scanner.findings(e)
    ]
    assert log.lines and not hits


def test_a_stalled_issuer_and_token_endpoint_are_cut_at_the_deadline_and_the_report_still_runs(
    aws: LocalAws, local_pki: Pki
) -> None:
    fleet = FaultFleet(aws, local_pki, cycle_seconds=3.0, concurrency=4)
    try:
        slow_provider = fleet.slow.provider_url
        fleet.run_cycle(NOW)
        fleet.slow.set_mode(delay=30.0)
        stalled = fleet.run_cycle(NOW + STEP)
    finally:
        fleet.slow.reset_mode()
        fleet.close()
    assert not stalled.killed and stalled.summary
    assert {stalled.statuses["slow-predicted"], stalled.statuses["slow-client"]} == {"error"}
    assert NOT_IN_TIME in stalled.errors["slow-predicted"]
    assert stalled.statuses["steady-predicted"] in ("ok", "error"), "late is never failing"
    assert len(fleet.metrics.cycles) == 2
    assert stalled.statuses[slow_provider] == "error", "its provider is not checked, not drifting"
    assert not pages(stalled.notices), "late is not broken: no failing, open or drift page"


def test_a_result_too_large_for_one_item_is_stored_within_dynamodbs_limit(aws: LocalAws, local_pki: Pki) -> None:
    fleet = FaultFleet(aws, local_pki, cycle_seconds=60.0, huge_must_deny=1300, concurrency=4)
    try:
        run = fleet.run_cycle(NOW)
    finally:
        fleet.close()
    assert run.statuses[HUGE] == "open"
    assert [n.event for n in run.notices if n.subject == HUGE] == ["open"], "its notice, shortened, went out"
    assert not fleet.sizes.oversized
    stored = {item["pk"]["S"]: item for item in fleet.state_items()}
    huge = stored[state_key(Subject.TARGET, HUGE)]
    assert item_bytes(huge) <= DYNAMODB_ITEM_BYTES
    assert "trimmed" in json.dumps(huge), "the result was shortened to fit, not dropped"
