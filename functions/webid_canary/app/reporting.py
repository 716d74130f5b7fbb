"""After a cycle: advance each subject's state and notify on changes only, through an outbox so that no notice
is lost and none is marked sent before SNS accepted it.

For each subject whose state changes: (1) the new record is written with the notice in its outbox,
conditionally on the version this run read (an overlapping run that lost does not notify); (2) the outbox is
published; (3) the record is written again without what SNS accepted. A crash or a failure after (1) leaves the
notice in the outbox, and the next cycle sends it: delivery is at least once, and every copy of a notice carries
the same `transition_id` (message attribute and body field) to deduplicate on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from webid_canary.app.ports import (
    AwsError,
    BusEvent,
    EventsPort,
    FindingsPort,
    Message,
    NotifierPort,
    PublishError,
    StatePort,
)
from webid_canary.core import notification
from webid_canary.core.asff import findings_for
from webid_canary.core.report import CycleReport, ProviderResult, TargetResult
from webid_canary.core.state import (
    MAX_OUTBOX,
    Event,
    Observation,
    StateRecord,
    Subject,
    Transition,
    advance,
    fingerprint,
    state_key,
)

log = logging.getLogger("webid-canary.reporting")

# Where a notice goes: SNS (e-mail, chat, queues) and EventBridge (rules route it anywhere).
SNS = "sns"
EVENTS = "events"
SECURITY_HUB = "securityhub"


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    subject: Subject
    subject_id: str
    topic_arn: str
    root_cause: str
    message_id: str | None = None
    error: str | None = None
    transition_id: str = ""


@dataclass
class Outcome:
    deliveries: list[Delivery] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    # Subjects whose state could not be written this cycle (their notices stay in the outbox or are re-decided).
    state_errors: list[str] = field(default_factory=list)
    # Notices EventBridge took, and findings Security Hub took, this cycle.
    events_put: int = 0
    findings_imported: int = 0

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.error]


def _delivery(entry: Mapping[str, Any], observation: Observation) -> Delivery:
    attributes = entry["attributes"]
    event = Event(attributes.get("event", Event.CHANGED.value))
    root_cause = attributes.get("root_cause", "none")
    topic = entry.get("topic") or ""
    return Delivery(
        event, observation.subject, observation.subject_id, topic, root_cause, None, None, entry["transition_id"]
    )


def provider_subject(url: str, account: str | None = None) -> str:
    """A provider's subject id in the State table: its URL, qualified by its account in organization mode (two
    accounts' providers for one issuer are two subjects); the one-account mode's keys stay the bare URL."""
    return url if account is None else f"{account}/{url}"


def transition_id(key: str, before: StateRecord | None, event: Event, problem: str | None) -> str:
    """The same for every attempt at one transition: the subject, the version it left, the event, the problem."""
    return fingerprint(key, before.version if before else 0, event.value, problem)


def channels_for(
    topic: str | None, notifier: NotifierPort | None, events: EventsPort | None, findings: FindingsPort | None
) -> list[str]:
    """The channels a notice goes to: SNS when there is a topic to publish to, and each channel configured."""
    channels = [SNS] if topic is not None and notifier is not None else []
    channels += [EVENTS] if events is not None else []
    channels += [SECURITY_HUB] if findings is not None else []
    return channels


def send_outbox(
    outbox: list[Mapping[str, Any]],
    *,
    notifier: NotifierPort | None,
    events: EventsPort | None,
    findings: FindingsPort | None,
    sent: Callable[[str, Mapping[str, Any], str | None], None] | None = None,
    refused: Callable[[str, Mapping[str, Any], PublishError], None] | None = None,
) -> list[Mapping[str, Any]]:
    """Send the outbox in order on each channel (SNS, EventBridge, Security Hub) by itself: a channel stops at its
    first refusal, and the others go on. What is left: each notice with the channels that did not take it yet."""
    left = [{**entry, "channels": list(entry.get("channels", [SNS]))} for entry in outbox]
    for channel in (SNS, EVENTS, SECURITY_HUB):
        for entry in left:
            if channel not in entry["channels"]:
                continue
            try:
                message_id = _send(channel, entry, notifier, events, findings)
            except PublishError as exc:
                if refused is not None:
                    refused(channel, entry, exc)
                break
            entry["channels"].remove(channel)
            if sent is not None and message_id is not None:
                sent(channel, entry, message_id or None)
    return [entry for entry in left if entry["channels"]]


def _send(
    channel: str,
    entry: Mapping[str, Any],
    notifier: NotifierPort | None,
    events: EventsPort | None,
    findings: FindingsPort | None,
) -> str | None:
    """Send one notice on one channel: SNS's message id, "" for the other channels, None when the channel is gone
    (a notice stored when it was configured is then dropped from it)."""
    if channel == SNS and notifier is not None:
        message = Message(
            entry["subject"], entry["default"], entry["email"], entry["attributes"], entry.get("chat", "")
        )
        return notifier.publish(entry["topic"], message)
    if channel == EVENTS and events is not None:
        detail_type = entry.get("detail_type") or "Notice"
        events.put([BusEvent(detail_type, entry["default"], tuple(entry.get("resources", ())))])
        return ""
    if channel == SECURITY_HUB and findings is not None:
        findings.import_findings([dict(f) for f in entry.get("findings", [])])
        return ""
    return None


class Reporter:
    def __init__(
        self,
        state: StatePort,
        notifier: NotifierPort | None,
        *,
        default_topic: str | None,
        reminder_after: timedelta,
        flap_window: timedelta = timedelta(0),
        events: EventsPort | None = None,
        findings: FindingsPort | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
        concurrency: int = 16,
    ) -> None:
        self.state = state
        self.flap_window = flap_window
        self.events = events
        self.findings = findings
        self.notifier = notifier
        self.default_topic = default_topic
        self.reminder_after = reminder_after
        self.on_delivery = on_delivery
        self.concurrency = concurrency

    def report(
        self,
        cycle: CycleReport,
        *,
        now: datetime,
        previous: dict[str, StateRecord] | None = None,
        account: str | None = None,
    ) -> Outcome:
        """Advance every subject's state and deliver its notices; one subject's failure never stops the others.

        `account`: the account the cycle's providers belong to (organization mode), see `provider_subject`."""
        previous = self.state.load_all() if previous is None else previous
        outcome = Outcome()
        observations = [
            (Observation(Subject.TARGET, t.target_id, t.status, t.fingerprint(), t.to_state_json()), t)
            for t in cycle.targets
        ] + [
            (Observation(Subject.PROVIDER, provider_subject(p.url, account), p.status, p.fingerprint(), p.to_json()), p)
            for p in cycle.providers
        ]
        # Each subject's record and notice are independent of the others': write and publish them side by side.
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="report") as pool:
            pending = [pool.submit(self._apply_safely, o, r, previous, now, outcome) for o, r in observations]
            for future in pending:
                future.result()
        return outcome

    def _apply_safely(
        self,
        observation: Observation,
        result: TargetResult | ProviderResult,
        previous: Mapping[str, StateRecord],
        now: datetime,
        outcome: Outcome,
    ) -> None:
        key = state_key(observation.subject, observation.subject_id)
        try:
            self._apply(observation, result, previous.get(key), now, outcome)
        except AwsError as exc:
            outcome.state_errors.append(key)
            log.error("state not written; the next cycle decides again", extra={"key": key, "error": str(exc)})
        except Exception:
            outcome.state_errors.append(key)
            log.exception("reporting one subject failed", extra={"key": key})

    def _apply(
        self,
        observation: Observation,
        result: TargetResult | ProviderResult,
        before: StateRecord | None,
        now: datetime,
        outcome: Outcome,
    ) -> None:
        baseline = result.baseline.to_json() if isinstance(result, ProviderResult) and result.baseline else None
        step = advance(
            before,
            observation,
            now=now,
            reminder_after=self.reminder_after,
            baseline=baseline,
            flap_window=self.flap_window,
        )
        waiting = before.outbox if before is not None else ()
        if not _changed(step) and not waiting:
            return
        notices = self._notices(observation, step, result, before, now, outcome)
        outbox: list[Mapping[str, Any]] = [*waiting, *notices][-MAX_OUTBOX:]
        record = replace(step.record, outbox=tuple(outbox))
        if not self.state.put(record, expected_version=before.version if before else None):
            outcome.conflicts.append(record.key)
            log.warning("state changed under this run; leaving it to the other run", extra={"key": record.key})
            return
        if not outbox:
            return
        left = self._deliver(observation, outbox, outcome)
        if left != [dict(entry) for entry in outbox]:
            self.state.put(
                replace(record, outbox=tuple(left), version=record.version + 1), expected_version=record.version
            )

    def _notices(
        self,
        observation: Observation,
        step: Transition,
        result: TargetResult | ProviderResult,
        before: StateRecord | None,
        now: datetime,
        outcome: Outcome,
    ) -> list[dict[str, Any]]:
        if step.event is None:
            return []
        resolved = str(before.last_result.get("root_cause") or "") or None if before else None
        if isinstance(result, TargetResult):
            note = notification.for_target(step.event, result, step.record, now=now, resolved=resolved)
            topic = result.topic_arn or self.default_topic
        else:
            note = notification.for_provider(step.event, result, step.record, now=now, resolved=resolved)
            topic = self.default_topic
        channels = channels_for(topic, self.notifier, self.events, self.findings)
        if not channels:
            # Nowhere to send it: the state change alone is the record.
            cause = note.attributes["root_cause"]
            self._record(outcome, Delivery(step.event, observation.subject, observation.subject_id, "", cause))
            return []
        tid = transition_id(step.record.key, before, step.event, step.record.fingerprint)
        marked = note.with_id(tid)
        entry: dict[str, Any] = {"transition_id": tid, "topic": topic or "", "channels": channels, **marked.to_outbox()}
        if self.findings is not None:
            since = str(marked.body.get("since"))
            entry["findings"] = findings_for(
                marked.body, product_arn=self.findings.product_arn, since=since, resolved=resolved
            )
        return [entry]

    def _deliver(
        self, observation: Observation, outbox: list[Mapping[str, Any]], outcome: Outcome
    ) -> list[Mapping[str, Any]]:
        def sent(channel: str, entry: Mapping[str, Any], message_id: str | None) -> None:
            if channel == SNS:
                self._record(outcome, replace(_delivery(entry, observation), message_id=message_id))
            elif channel == EVENTS:
                outcome.events_put += 1
            else:
                outcome.findings_imported += len(entry.get("findings", []))

        def refused(channel: str, entry: Mapping[str, Any], error: PublishError) -> None:
            log.error(
                "notification not accepted; it stays in the outbox",
                extra={"transition_id": entry.get("transition_id"), "channel": channel, "error": str(error)},
            )
            if channel == SNS:
                self._record(outcome, replace(_delivery(entry, observation), error=str(error)))

        return send_outbox(
            outbox, notifier=self.notifier, events=self.events, findings=self.findings, sent=sent, refused=refused
        )

    def _record(self, outcome: Outcome, delivery: Delivery) -> None:
        outcome.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)


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
