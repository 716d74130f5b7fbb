"""Real refusals: explain CloudTrail's AssumeRoleWithWebIdentity records against the roles as they stand.

One use case for `webid-canary trail` (a file or LookupEvents) and for the refusal handler (EventBridge): read the
records, look up each role's trust policy and provider once, explain each record from what it logs, and group the
verdicts so that a client's retries read as one refusal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from webid_canary.app.ports import (
    AwsError,
    EventsPort,
    IamPort,
    NotifierPort,
    ProviderRecord,
    PublishError,
    StatePort,
)
from webid_canary.app.reporting import channels_for, send_outbox
from webid_canary.core.context import builtin_family
from webid_canary.core.explain import explain
from webid_canary.core.model import InputError
from webid_canary.core.notification import for_refusal
from webid_canary.core.state import (
    StateRecord,
    Status,
    Subject,
    bookkeeping_record,
    expected_version,
    next_version,
    state_key,
)
from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT
from webid_canary.core.trail import Skip, TrailBatch, TrailFinding, TrailRequest, case_of, group, read_records
from webid_canary.core.verdict import Verdict


class TrailPort(Protocol):
    """CloudTrail's event history: the CloudTrailEvent JSON of each AssumeRoleWithWebIdentity event in a window."""

    def lookup(self, *, start: datetime, end: datetime, role_arn: str | None = None) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class RoleFacts:
    """What the explanation needs of a role: its trust policy as it stands and the provider its records name."""

    trust_policy: str | Mapping[str, object]
    max_session_duration: int = ROLE_MAX_SESSION_DEFAULT
    exists: bool = True


@dataclass(frozen=True, slots=True)
class TrailReport:
    """The grouped verdicts and the records that could not be used."""

    findings: tuple[TrailFinding, ...]
    skipped: tuple[Skip, ...]
    read: int

    @property
    def refusals(self) -> tuple[TrailFinding, ...]:
        return tuple(f for f in self.findings if f.refused)


_EMPTY_POLICY = '{"Version": "2012-10-17", "Statement": []}'


class Facts(Protocol):
    def role(self, role_arn: str) -> RoleFacts: ...
    def provider(self, request: TrailRequest) -> ProviderRecord | None: ...


@dataclass(frozen=True, slots=True)
class GivenFacts:
    """Offline: one trust policy and one provider, given as files, for every record."""

    trust_policy: str | Mapping[str, object]
    provider_record: ProviderRecord | None

    def role(self, role_arn: str) -> RoleFacts:
        return RoleFacts(self.trust_policy)

    def provider(self, request: TrailRequest) -> ProviderRecord | None:
        return self.provider_record


class IamFacts:
    """From IAM: each role and provider read once (a batch names the same few many times)."""

    def __init__(self, iam: IamPort, *, trust_policy: str | Mapping[str, object] | None = None) -> None:
        self._iam = iam
        self._trust_policy = trust_policy
        self._roles: dict[str, RoleFacts] = {}
        self._providers: dict[str, ProviderRecord | None] = {}

    def role(self, role_arn: str) -> RoleFacts:
        if self._trust_policy is not None:
            return RoleFacts(self._trust_policy)
        if role_arn not in self._roles:
            record = self._iam.get_role(role_arn)
            self._roles[role_arn] = (
                RoleFacts(_EMPTY_POLICY, exists=False)
                if record is None
                else RoleFacts(record.trust_policy_document, record.max_session_duration)
            )
        return self._roles[role_arn]

    def provider(self, request: TrailRequest) -> ProviderRecord | None:
        if builtin_family(request.provider_url) is not None:
            return None
        arn = request.provider
        if not arn.startswith("arn:"):
            partition = request.role_arn.split(":")[1] or "aws"
            arn = f"arn:{partition}:iam::{request.account}:oidc-provider/{request.provider_url}"
        if arn not in self._providers:
            self._providers[arn] = self._iam.get_provider(arn)
        return self._providers[arn]


def explain_request(request: TrailRequest, facts: Facts) -> Verdict:
    """One record's verdict; InputError for a trust policy or role that cannot be used, AwsError from IAM."""
    role = facts.role(request.role_arn)
    case = case_of(
        request,
        trust_policy=role.trust_policy,
        provider=facts.provider(request),
        role_max_session_duration=role.max_session_duration,
        role_exists=role.exists,
    )
    return explain(case)


def explain_batch(batch: TrailBatch, facts: Facts, *, refusals_only: bool = False) -> TrailReport:
    """Every record of the batch explained and grouped; a record whose role cannot be read is skipped."""
    explained: list[tuple[TrailRequest, Verdict]] = []
    skipped = list(batch.skipped)
    for request in batch.requests:
        if refusals_only and not request.refused:
            continue
        try:
            explained.append((request, explain_request(request, facts)))
        except InputError as exc:
            skipped.append(Skip(f"{exc.field}: {exc.reason}", request.event_id))
        except AwsError as exc:
            skipped.append(Skip(f"aws: {exc}", request.event_id))
    return TrailReport(group(explained), tuple(skipped), len(batch.requests) + len(batch.skipped))


# A refusal (role, sub, root cause) is announced once per window; at most this many are announced an hour.
REFUSAL_WINDOW = timedelta(hours=1)
MAX_REFUSAL_NOTICES_PER_HOUR = 20
_RATE_KEY = state_key(Subject.REFUSAL, "_rate")


@dataclass(frozen=True, slots=True)
class RefusalSummary:
    """What one EventBridge delivery came to: refusals explained, notices sent, repeats held back."""

    refusals: int
    notified: int
    suppressed: int
    skipped: tuple[str, ...]

    def summary(self) -> dict[str, object]:
        return {
            "refusals": self.refusals,
            "notified": self.notified,
            "suppressed": self.suppressed,
            "skipped": list(self.skipped),
        }


def refusal_key(finding: TrailFinding) -> str:
    """The State table key of one distinct refusal: its role, sub and root cause."""
    first = finding.first
    digest = hashlib.sha256(f"{first.role_arn}\n{first.sub}\n{finding.verdict.root_cause}".encode()).hexdigest()
    return state_key(Subject.REFUSAL, digest[:32])


class RefusalAlerts:
    """Explain each refused call EventBridge delivers and announce it once per window, on the same channels and
    through the same outbox as every other notice (SNS and the event bus): the notice is stored with the item
    before it is sent, so a delivery retried after a channel refused it sends it on that channel rather than
    holding it back as a repeat. Only the items a delivery needs are read from the State table, by key."""

    def __init__(
        self,
        facts: Facts,
        state: StatePort,
        notifier: NotifierPort | None,
        topic_arn: str | None,
        *,
        events: EventsPort | None = None,
        window: timedelta = REFUSAL_WINDOW,
        max_per_hour: int = MAX_REFUSAL_NOTICES_PER_HOUR,
    ) -> None:
        self._facts = facts
        self._state = state
        self._notifier = notifier
        self._topic = topic_arn
        self._events = events
        self._window = window
        self._max_per_hour = max_per_hour

    def handle(self, event: object, *, now: datetime) -> RefusalSummary:
        """Raises PublishError, after every refusal of the delivery was handled, when a channel refused a notice:
        the failed invocation is retried by EventBridge and sends what is still in the outbox."""
        report = explain_batch(read_records(event), self._facts, refusals_only=True)
        skipped = tuple(skip.reason for skip in report.skipped)
        if not report.refusals:
            return RefusalSummary(0, 0, 0, skipped)
        previous = self._state.load([*(refusal_key(f) for f in report.refusals), _RATE_KEY])
        notified = suppressed = 0
        failures: list[PublishError] = []
        for finding in report.refusals:
            if self._announce(finding, previous, now, failures):
                notified += 1
            else:
                suppressed += 1
        if failures:
            raise failures[0]
        return RefusalSummary(len(report.refusals), notified, suppressed, skipped)

    def _announce(
        self, finding: TrailFinding, previous: Mapping[str, StateRecord], now: datetime, failures: list[PublishError]
    ) -> bool:
        key = refusal_key(finding)
        before = previous.get(key)
        pending = before.outbox if before is not None else ()
        recent = before is not None and before.last_notified is not None and now - before.last_notified < self._window
        if not pending and (recent or not self._take_rate(previous, now)):
            return False
        channels = channels_for(self._topic, self._notifier, self._events, None)
        if pending:
            # A notice stored before a channel took it (older items name neither topic nor channels).
            outbox = tuple({"topic": self._topic or "", **entry} for entry in pending)
        elif channels:
            tid = f"{key}@{now.isoformat()}"
            note = for_refusal(finding, now=now).with_id(tid)
            outbox = ({"transition_id": tid, "topic": self._topic or "", "channels": channels, **note.to_outbox()},)
        else:
            outbox = ()
        record = StateRecord(
            key=key,
            status=Status.FAILING,
            since=before.since if before is not None else now,
            fingerprint=finding.verdict.root_cause,
            last_notified=now,
            last_result={
                "role_arn": finding.first.role_arn,
                "sub": finding.first.sub,
                "root_cause": finding.verdict.root_cause,
            },
            version=next_version(before),
            outbox=outbox,
        )
        if not self._state.put(record, expected_version=expected_version(before)):
            return False  # another delivery of the same refusal won
        if not outbox:
            return True
        left = send_outbox(
            list(outbox),
            notifier=self._notifier,
            events=self._events,
            findings=None,
            refused=lambda _channel, _entry, error: failures.append(error),
        )
        cleared = replace(record, version=record.version + 1, outbox=tuple(left))
        self._state.put(cleared, expected_version=record.version)
        return True

    def _take_rate(self, previous: Mapping[str, StateRecord], now: datetime) -> bool:
        """One notice from this hour's allowance; False when it is spent (the refusal is still counted)."""
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        before = previous.get(_RATE_KEY)
        count = int(str(before.last_result.get("count", 0))) if before and before.last_result.get("hour") == hour else 0
        if count >= self._max_per_hour:
            return False
        record = bookkeeping_record(_RATE_KEY, {"hour": hour, "count": count + 1}, now, before)
        if not self._state.put(record, expected_version=expected_version(before)):
            return False
        if isinstance(previous, dict):
            previous[_RATE_KEY] = record
        return True
