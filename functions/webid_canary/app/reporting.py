"""After a cycle: advance each subject's state, notify on changes only, and never lose a notification."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from webid_canary.app.ports import Message, NotifierPort, PublishError, StatePort
from webid_canary.core import notification
from webid_canary.core.report import CycleReport, ProviderResult, TargetResult
from webid_canary.core.state import Event, Observation, StateRecord, Status, Subject, Transition, advance, state_key

log = logging.getLogger("webid-canary.reporting")


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    subject: Subject
    subject_id: str
    topic_arn: str
    root_cause: str
    message_id: str | None
    error: str | None = None


@dataclass
class Outcome:
    deliveries: list[Delivery] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.error]


class Reporter:
    def __init__(
        self,
        state: StatePort,
        notifier: NotifierPort | None,
        *,
        default_topic: str | None,
        reminder_after: timedelta,
        on_delivery: Callable[[Delivery], None] | None = None,
        concurrency: int = 16,
    ) -> None:
        self.state = state
        self.notifier = notifier
        self.default_topic = default_topic
        self.reminder_after = reminder_after
        self.on_delivery = on_delivery
        self.concurrency = concurrency

    def report(self, cycle: CycleReport, *, now: datetime, previous: dict[str, StateRecord] | None = None) -> Outcome:
        """Write each changed state and publish its event. A failed publish puts the old state back."""
        previous = self.state.load_all() if previous is None else previous
        outcome = Outcome()
        # Each subject's record and notice are independent of the others': write and publish them side by side.
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="report") as pool:
            pending = [
                pool.submit(
                    self._apply,
                    Observation(Subject.TARGET, t.target_id, t.status, t.fingerprint(), t.to_json()),
                    previous,
                    now,
                    outcome,
                    target=t,
                )
                for t in cycle.targets
            ] + [
                pool.submit(
                    self._apply,
                    Observation(Subject.PROVIDER, p.url, p.status, p.fingerprint(), p.to_json()),
                    previous,
                    now,
                    outcome,
                    provider=p,
                )
                for p in cycle.providers
            ]
            for future in pending:
                future.result()
        return outcome

    def _apply(
        self,
        observation: Observation,
        previous: dict[str, StateRecord],
        now: datetime,
        outcome: Outcome,
        *,
        target: TargetResult | None = None,
        provider: ProviderResult | None = None,
    ) -> None:
        before = previous.get(state_key(observation.subject, observation.subject_id))
        baseline = provider.baseline.to_json() if provider is not None and provider.baseline is not None else None
        step = advance(before, observation, now=now, reminder_after=self.reminder_after, baseline=baseline)
        if not _changed(step):
            return
        if not self.state.put(step.record, expected_version=before.version if before else None):
            outcome.conflicts.append(step.record.key)
            log.warning("state changed under this run; leaving it to the other run", extra={"key": step.record.key})
            return
        if step.event is None:
            return
        resolved = str(before.last_result.get("root_cause") or "") or None if before else None
        if target is not None:
            note = notification.for_target(step.event, target, step.record, now=now, resolved=resolved)
            topic = target.topic_arn or self.default_topic
        else:
            assert provider is not None
            note = notification.for_provider(step.event, provider, step.record, now=now, resolved=resolved)
            topic = self.default_topic
        root_cause = note.attributes["root_cause"]
        if topic is None or self.notifier is None:
            delivery = Delivery(step.event, observation.subject, observation.subject_id, "", root_cause, None)
        else:
            message = Message(note.subject, note.body_json(), note.text, note.attributes)
            try:
                message_id = self.notifier.publish(topic, message)
                delivery = Delivery(
                    step.event, observation.subject, observation.subject_id, topic, root_cause, message_id
                )
            except PublishError as exc:
                log.error("notification not delivered; state held back", extra={"key": step.record.key})
                self._hold_back(step, before)
                delivery = Delivery(
                    step.event, observation.subject, observation.subject_id, topic, root_cause, None, str(exc)
                )
        outcome.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    def _hold_back(self, step: Transition, before: StateRecord | None) -> None:
        """Put the previous state back (at a newer version), so the next cycle sees the same change again."""
        if before is None:
            restored = StateRecord(
                key=step.record.key,
                status=Status.OK,
                since=step.record.since,
                fingerprint=None,
                last_notified=None,
                last_result={},
                version=step.record.version + 1,
            )
        else:
            restored = StateRecord(
                key=before.key,
                status=before.status,
                since=before.since,
                fingerprint=before.fingerprint,
                last_notified=before.last_notified,
                last_result=before.last_result,
                baseline=before.baseline,
                version=step.record.version + 1,
            )
        self.state.put(restored, expected_version=step.record.version)


def _changed(step: Transition) -> bool:
    before, after = step.previous, step.record
    if before is None or step.event is not None:
        return True
    return (
        before.status is not after.status
        or before.fingerprint != after.fingerprint
        or before.baseline != after.baseline
        or before.last_notified != after.last_notified
    )
