"""Status of each target and provider across cycles: what changed, and whether to tell anyone.

Pure: the previous record, this cycle's observation and `now` go in; the next record and at most one event
come out. The service writes the record (conditionally) and publishes the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from webid_canary.core import limits

# At most this many undelivered notices wait for one subject; older ones give way to newer.
MAX_OUTBOX: Final = 5


class Status(StrEnum):
    OK = "ok"
    FAILING = "failing"
    ERROR = "error"
    DRIFT = "drift"
    OPEN = "open"


class Event(StrEnum):
    FAILING = "failing"
    OPEN = "open"
    ERROR = "error"
    DRIFT = "drift"
    CHANGED = "changed"
    REMINDER = "reminder"
    RECOVERED = "recovered"
    # A refusal a real workload met, from CloudTrail (app/refusals.py), not from a cycle.
    REFUSED = "refused"


PROBLEM_EVENT: Mapping[Status, Event] = {
    Status.FAILING: Event.FAILING,
    Status.OPEN: Event.OPEN,
    Status.ERROR: Event.ERROR,
    Status.DRIFT: Event.DRIFT,
}


class Subject(StrEnum):
    TARGET = "target"
    PROVIDER = "provider"
    REFUSAL = "refusal"


# An id longer than this (a target id typed in the console, say) is keyed by its digest instead.
LONGEST_KEYED_ID: Final = 1024


def state_key(subject: Subject, subject_id: str) -> str:
    """The State table's partition key for a target or a provider (always within DynamoDB's key limit)."""
    if len(subject_id.encode()) > LONGEST_KEYED_ID:
        return f"{subject.value}#sha256:{hashlib.sha256(subject_id.encode()).hexdigest()}"
    return f"{subject.value}#{subject_id}"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one cycle saw of one subject. `fingerprint` identifies the problem, so a new reason notifies."""

    subject: Subject
    subject_id: str
    status: Status
    fingerprint: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One item of the State table."""

    key: str
    status: Status
    since: datetime
    fingerprint: str | None
    last_notified: datetime | None
    last_result: Mapping[str, Any]
    baseline: Mapping[str, Any] | None = None
    version: int = 0
    # Notices decided but not yet accepted by SNS (the outbox): sent, then cleared, by this run or the next.
    outbox: tuple[Mapping[str, Any], ...] = ()
    # The last problem that cleared, and when: the same problem back within the flap window is not announced.
    cleared: str | None = None
    cleared_at: datetime | None = None
    # True while the current problem is such a return, not announced (and so its clearing is not either).
    quiet: bool = False

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item, within the item size limit by construction: a result, baseline or outbox too large
        to keep whole is stored shortened and marked `trimmed`, never refused."""
        item: dict[str, Any] = {
            "pk": self.key,
            "status": self.status.value,
            "since": _iso(self.since),
            "version": self.version,
        }
        if self.fingerprint is not None:
            item["fingerprint"] = self.fingerprint
        if self.last_notified is not None:
            item["last_notified"] = _iso(self.last_notified)
        if self.cleared is not None and self.cleared_at is not None:
            item["cleared"] = self.cleared
            item["cleared_at"] = _iso(self.cleared_at)
        if self.quiet:
            item["quiet"] = 1
        parts: dict[str, Any] = {"last_result": dict(self.last_result)}
        if self.baseline is not None:
            parts["baseline"] = dict(self.baseline)
        if self.outbox:
            parts["outbox"] = [dict(m) for m in self.outbox[-MAX_OUTBOX:]]
        budget = limits.STATE_ITEM_BUDGET - limits.json_size(item)
        if limits.json_size(parts) > budget:
            # Each part gets its share; the result keeps what the next cycle reads (its root cause).
            share = budget // len(parts)
            parts["last_result"] = limits.fit(parts["last_result"], share)
            parts["last_result"].setdefault("root_cause", self.last_result.get("root_cause"))
            if "baseline" in parts:
                parts["baseline"] = limits.fit(parts["baseline"], share)
            if "outbox" in parts:
                parts["outbox"] = [_fit_notice(m, share // len(parts["outbox"])) for m in parts["outbox"]]
        for name, value in parts.items():
            item[name] = json.dumps(value, sort_keys=True, default=str)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StateRecord:
        return cls(
            key=str(item["pk"]),
            status=Status(str(item["status"])),
            since=datetime.fromisoformat(str(item["since"])),
            fingerprint=str(item["fingerprint"]) if item.get("fingerprint") else None,
            last_notified=datetime.fromisoformat(str(item["last_notified"])) if item.get("last_notified") else None,
            last_result=json.loads(str(item.get("last_result") or "{}")),
            baseline=_object(item.get("baseline")),
            version=int(item.get("version", 0)),
            outbox=tuple(m for m in json.loads(str(item.get("outbox") or "[]")) if isinstance(m, dict)),
            cleared=str(item["cleared"]) if item.get("cleared") else None,
            cleared_at=datetime.fromisoformat(str(item["cleared_at"])) if item.get("cleared_at") else None,
            quiet=bool(item.get("quiet")),
        )


def next_version(before: StateRecord | None) -> int:
    """The version of a record that replaces `before` (the record read; None when there was none)."""
    return 1 if before is None else before.version + 1


def expected_version(before: StateRecord | None) -> int | None:
    """What a write conditional on the record read expects: its version, or None (the item must not exist)."""
    return None if before is None else before.version


def bookkeeping_record(
    key: str, result: Mapping[str, Any], now: datetime, before: StateRecord | None, *, fingerprint: str | None = None
) -> StateRecord:
    """A record of the monitor's own bookkeeping (a lease, a cache, an index, a count) that replaces `before`."""
    return StateRecord(
        key=key,
        status=Status.OK,
        since=now,
        fingerprint=fingerprint,
        last_notified=None,
        last_result=result,
        version=next_version(before),
    )


@dataclass(frozen=True, slots=True)
class Transition:
    record: StateRecord
    event: Event | None
    previous: StateRecord | None


def advance(
    previous: StateRecord | None,
    observation: Observation,
    *,
    now: datetime,
    reminder_after: timedelta,
    baseline: Mapping[str, Any] | None = None,
    flap_window: timedelta = timedelta(0),
) -> Transition:
    """Next state and the event to publish, if any: a new problem, a changed reason, a reminder, a recovery.

    Damping: the same problem back within `flap_window` of its recovery (an issuer whose chain alternates per
    connection, say) is not announced again, nor is its next clearing; if it lasts the whole window, it is
    announced then. A window of zero turns damping off.
    """
    key = state_key(observation.subject, observation.subject_id)
    version = next_version(previous)
    kept_baseline = baseline if baseline is not None else (previous.baseline if previous else None)
    base = StateRecord(
        key=key,
        status=observation.status,
        since=now,
        fingerprint=observation.fingerprint,
        last_notified=None,
        last_result=observation.result,
        baseline=kept_baseline,
        version=version,
        cleared=previous.cleared if previous else None,
        cleared_at=previous.cleared_at if previous else None,
    )
    was_problem = previous is not None and previous.status is not Status.OK
    is_problem = observation.status is not Status.OK

    if not is_problem:
        if previous is not None and not was_problem:
            return Transition(replace(base, since=previous.since), None, previous)
        if previous is not None and previous.quiet:
            return Transition(replace(base, cleared_at=now), None, previous)
        if previous is None:
            return Transition(base, None, previous)
        cleared = replace(base, last_notified=now, cleared=previous.fingerprint, cleared_at=now)
        return Transition(cleared, Event.RECOVERED, previous)

    if previous is None or not was_problem:
        returning = (
            previous is not None
            and previous.cleared is not None
            and previous.cleared == observation.fingerprint
            and previous.cleared_at is not None
            and now - previous.cleared_at < flap_window
        )
        if returning:
            return Transition(replace(base, quiet=True), None, previous)
        return Transition(replace(base, last_notified=now), PROBLEM_EVENT[observation.status], previous)

    same = previous.status is observation.status and previous.fingerprint == observation.fingerprint
    if previous.quiet and (not same or now - previous.since >= flap_window):
        # A returning problem that lasted the window, or that turned into another: announced now.
        return Transition(
            replace(base, since=previous.since, last_notified=now), PROBLEM_EVENT[observation.status], previous
        )
    if previous.quiet:
        return Transition(replace(base, since=previous.since, quiet=True), None, previous)
    if not same:
        return Transition(replace(base, since=previous.since, last_notified=now), Event.CHANGED, previous)
    last = previous.last_notified or previous.since
    if now - last >= reminder_after:
        return Transition(replace(base, since=previous.since, last_notified=now), Event.REMINDER, previous)
    return Transition(replace(base, since=previous.since, last_notified=previous.last_notified), None, previous)


def _object(raw: object) -> dict[str, Any] | None:
    """A stored JSON object; a trimmed one (not usable as a baseline) reads as absent."""
    if not raw:
        return None
    value = json.loads(str(raw))
    return value if isinstance(value, dict) and not value.get(limits.TRIMMED) else None


def fingerprint(*parts: object) -> str:
    """A short stable digest of what makes a problem this problem (cause, key, values, findings)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# What a notice's reader needs whole: the schema, what happened to whom, and the id to deduplicate on.
NOTICE_KEYS: Final = ("schema", "event", "severity", "target_id", "provider_url", "root_cause", "transition_id")


def _fit_notice(entry: Mapping[str, Any], budget: int) -> dict[str, Any]:
    """An outbox entry within `budget`, still a notice: its JSON body shortened as JSON, its e-mail text as text."""
    fitted = dict(entry)
    if limits.json_size(fitted) <= budget:
        return fitted
    if isinstance(fitted.get("default"), str):
        fitted["default"] = limits.fit_json_text(fitted["default"], budget // 2, keep=NOTICE_KEYS)
    if isinstance(fitted.get("email"), str):
        fitted["email"] = limits.shorten(fitted["email"], budget // 4)
    return fitted


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
