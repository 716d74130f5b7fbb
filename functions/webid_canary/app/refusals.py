"""Real refusals: explain CloudTrail's AssumeRoleWithWebIdentity records against the roles as they stand.

One use case for `webid-canary trail` (a file or LookupEvents) and for the refusal handler (EventBridge): read the
records, look up each role's trust policy and provider once, explain each record from what it logs, and group the
verdicts so that a client's retries read as one refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from webid_canary.app.ports import AwsError, IamPort, ProviderRecord
from webid_canary.core.context import builtin_family
from webid_canary.core.explain import explain
from webid_canary.core.model import InputError
from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT
from webid_canary.core.trail import Skip, TrailBatch, TrailFinding, TrailRequest, case_of, group
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
