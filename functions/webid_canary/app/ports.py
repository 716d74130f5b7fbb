"""Every port the application needs, and the small values and errors that cross them, in one place.

Adapters implement these (adapters/), tests fake them (tests/functional/); the application layer sees nothing
else of the world. Core types (Target, RoleRecord, ProviderRecord, IssuerInspection, Token, StateRecord) cross
as they are; they are re-exported here so that a port's whole contract reads from one module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from webid_canary.core.inspection import IssuerInspection
from webid_canary.core.model import ProviderRecord, RoleRecord, Token
from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord
from webid_canary.core.targets import Target, TargetError, TokenSource

__all__ = [
    "AccountIamPort",
    "AwsAccessError",
    "AwsError",
    "AwsMissingError",
    "AwsThrottledError",
    "AwsUnavailableError",
    "BusEvent",
    "EventsPort",
    "FindingsPort",
    "FleetCounts",
    "FleetMetricsPort",
    "IamPort",
    "InspectorPort",
    "IssuerInspection",
    "Message",
    "MetricsPort",
    "NotifierPort",
    "OrganizationPort",
    "PlanStoreError",
    "PlanStorePort",
    "ProberPort",
    "ProviderRecord",
    "PublishError",
    "RoleRecord",
    "StatePort",
    "StateStoreError",
    "StsAnswer",
    "TargetsPort",
    "Token",
    "TokenPort",
]

# ----- values


@dataclass(frozen=True, slots=True)
class StsAnswer:
    """What STS said to a live probe. Credentials are never kept: only whether they worked, and as whom."""

    allowed: bool
    error_code: str | None = None
    message: str | None = None
    assumed_role_arn: str | None = None
    caller_arn: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Message:
    """One notice as SNS takes it: a subject, the JSON body, the e-mail text, and filterable attributes."""

    subject: str
    default: str
    email: str
    attributes: Mapping[str, str]
    # AWS Chatbot's custom notification (JSON), for chat subscribers (SNS's https protocol); empty for none.
    chat: str = ""


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One event for EventBridge: its detail type, the notice's JSON as detail, the AWS resources it is about."""

    detail_type: str
    detail: str
    resources: tuple[str, ...] = ()


# ----- errors (one hierarchy for every AWS-backed port)


class AwsError(RuntimeError):
    """An AWS call failed for a reason other than "not found"; names the operation and AWS's error code."""

    def __init__(self, operation: str, code: str, message: str = "") -> None:
        super().__init__(f"{operation}: {code}: {message}" if message else f"{operation}: {code}")
        self.operation = operation
        self.code = code
        self.message = message

    def as_kind[E: AwsError](self, kind: type[E]) -> E:
        """The same failure as another kind of error (e.g. a throttled publish as a PublishError)."""
        return kind(self.operation, self.code, self.message)


class AwsAccessError(AwsError):
    """The credentials in use may not make this call (or there are none)."""


class AwsThrottledError(AwsError):
    """AWS throttled the call even after retries."""


class AwsUnavailableError(AwsError):
    """AWS could not be reached or failed on its side."""


class AwsMissingError(AwsError):
    """The resource the call needs (a table, a topic) does not exist where it was asked for."""


class PublishError(AwsError):
    """A notice was not accepted (after retries): the state that announced it must not advance."""


class StateStoreError(AwsError):
    """The State table could not be read or written."""


# ----- ports


class TargetsPort(Protocol):
    def scan(self) -> Iterable[tuple[str, Target | TargetError]]: ...


class IamPort(Protocol):
    def list_roles(self) -> Iterator[RoleRecord]: ...
    def get_role(self, name_or_arn: str) -> RoleRecord | None: ...
    def list_provider_arns(self) -> list[str]: ...
    def get_provider(self, arn: str) -> ProviderRecord | None: ...


class InspectorPort(Protocol):
    """Inspects one issuer; stops by `deadline` (the cycle's) with what it saw, failures included as data."""

    def inspect(self, issuer_url: str, *, deadline: datetime | None = None) -> IssuerInspection: ...


class TokenPort(Protocol):
    def fetch(self, source: TokenSource) -> Token: ...


class ProberPort(Protocol):
    def probe(self, role_arn: str, token: Token, *, session_name: str, duration_seconds: int) -> StsAnswer: ...


class StatePort(Protocol):
    def load_all(self) -> dict[str, StateRecord]: ...
    def load(self, keys: Iterable[str]) -> dict[str, StateRecord]: ...
    def put(self, record: StateRecord, *, expected_version: int | None) -> bool: ...


class NotifierPort(Protocol):
    def publish(self, topic_arn: str, message: Message) -> str: ...


class EventsPort(Protocol):
    """Puts events on the bus; raises PublishError when EventBridge did not take them all."""

    def put(self, events: list[BusEvent]) -> None: ...


class FindingsPort(Protocol):
    """Imports ASFF findings into Security Hub (for `product_arn`); raises PublishError when any was refused."""

    @property
    def product_arn(self) -> str: ...

    def import_findings(self, findings: list[dict[str, Any]]) -> None: ...


class MetricsPort(Protocol):
    def publish_cycle(self, report: CycleReport, *, deadline_headroom_seconds: float | None) -> None: ...


# ----- organization mode (app/organization.py)


class PlanStoreError(AwsError):
    """The plan store (S3) could not be read or written, or a document in it is not what a step wrote."""


class PlanStorePort(Protocol):
    """JSON documents of a cycle's plan, by key (S3 in AWS)."""

    def get_json(self, key: str) -> Any | None:
        """The document, or None when there is none at `key`."""
        ...

    def put_json(self, key: str, document: Any) -> None: ...


class OrganizationPort(Protocol):
    """What AWS Organizations tells: the active accounts, and the RCPs on an account's path.

    Both raise AwsAccessError when the caller may not ask (not the management account or a delegated
    administrator) and AwsMissingError when there is no organization."""

    def list_active_accounts(self) -> list[str]: ...

    def resource_control_policies(
        self, account_ids: Sequence[str], *, deadline: datetime | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """By account: DescribePolicy's answers (`{"Policy": {"PolicySummary", "Content"}}`) of the RCPs attached
        to the account, its OUs and the root; accounts not reached by `deadline` are left out."""
        ...


class AccountIamPort(Protocol):
    """The IAM port of one account of the organization (its reader role, or the monitor's own credentials);
    raises AwsError when the account cannot be read (the role is missing or refuses)."""

    def iam_for(self, account_id: str) -> IamPort: ...


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """An organization cycle's fleet figures, published once by the report step."""

    targets: int
    failing: int
    in_error: int
    open: int
    drifting: int
    duration_seconds: float
    shards_failed: int
    completed: bool
    # Per account (only the accounts asked for): {account: {status: count}}.
    by_account: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class FleetMetricsPort(Protocol):
    def publish_fleet(self, counts: FleetCounts) -> None: ...
    def publish_alarmed_targets(self, report: CycleReport) -> None: ...
