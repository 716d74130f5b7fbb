"""The monitor's report step always runs: without the State table the cycle is still checked and measured."""

from __future__ import annotations

from datetime import timedelta

from tests.functional.test_cycle import NOW, PROVIDERS, ROLES, FakeIam, FakeInspector, Table, eks_target
from webid_canary.app.cycle import Cycle, Reader
from webid_canary.app.monitor import Monitor
from webid_canary.app.ports import StateStoreError
from webid_canary.app.reporting import Reporter
from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord


class UnreadableState:
    def load_all(self) -> dict[str, StateRecord]:
        raise StateStoreError("Scan state", "ProvisionedThroughputExceededException", "throttled")

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        raise AssertionError("nothing may be written without the previous state")


class Metrics:
    def __init__(self) -> None:
        self.cycles: list[tuple[CycleReport, float | None]] = []

    def publish_cycle(self, report: CycleReport, *, deadline_headroom_seconds: float | None) -> None:
        self.cycles.append((report, deadline_headroom_seconds))


def test_an_unreadable_state_table_still_checks_and_measures_the_cycle() -> None:
    state, metrics = UnreadableState(), Metrics()
    reader = Reader(FakeIam(ROLES, PROVIDERS), FakeInspector(), clock=lambda: NOW)  # type: ignore[arg-type]
    cycle = Cycle(Table([eks_target("worker", "invoice-worker", sa="other")]), reader, clock=lambda: NOW)
    reporter = Reporter(state, None, default_topic=None, reminder_after=timedelta(hours=24))
    monitor = Monitor(cycle, reporter, state, metrics=metrics, clock=lambda: NOW)
    result = monitor.run(now=NOW, deadline=NOW + timedelta(seconds=30))
    assert result.summary()["failing"] == 1
    assert result.summary()["state_errors"] == 1
    ((report, headroom),) = metrics.cycles
    assert report.count(report.targets[0].status) == 1
    assert headroom == 30.0


class RecordingCycle:
    def __init__(self) -> None:
        self.deadlines: list[object] = []

    def run(self, now: object, deadline: object = None, **_: object) -> CycleReport:
        self.deadlines.append(deadline)
        return CycleReport(started=NOW, finished=NOW, targets=(), providers=())


def test_checks_stop_early_enough_for_the_report_to_be_out_by_the_deadline() -> None:
    state, cycle = UnreadableState(), RecordingCycle()
    reporter = Reporter(state, None, default_topic=None, reminder_after=timedelta(hours=24))
    monitor = Monitor(cycle, reporter, state, metrics=Metrics(), clock=lambda: NOW)  # type: ignore[arg-type]
    monitor.run(now=NOW, deadline=NOW + timedelta(seconds=30))
    monitor.run(now=NOW, deadline=NOW + timedelta(minutes=10))
    monitor.run(now=NOW)
    assert cycle.deadlines == [NOW + timedelta(seconds=24), NOW + timedelta(minutes=10) - timedelta(seconds=10), None]
