"""The stack's settings, parsed once from CDK context into a frozen, checked value."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.orchestration import DEFAULT_MAP_CONCURRENCY
from webid_canary.core.model import InputError
from webid_canary.core.pricing import rate_seconds

DEFAULT_SCHEDULE = "rate(5 minutes)"
DEFAULT_REMINDER_HOURS = 24
DEFAULT_EVENT_BUS = "default"
MAX_PERIOD_SECONDS = 12 * 3600

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TARGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$")
_EVENT_BUS = re.compile(r"[A-Za-z0-9._/-]{1,256}")
# A Region code such as us-east-1, eu-central-2 or us-gov-west-1.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_TOPIC_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
# Organizations ids, as the API documents them (OrganizationalUnit.Id, Root.Id, Organization.Id, Account.Id):
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_OrganizationalUnit.html
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Root.html
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html
_ORG_UNIT = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32}")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT_ID = re.compile(r"\d{12}")
MAX_MAP_CONCURRENCY = 1000


class ConfigError(Exception):
    """A context value is missing or malformed; the message names the context key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"context '{key}': {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Schedule:
    """An EventBridge rate expression and the interval it stands for."""

    expression: str
    period_seconds: int


@dataclass(frozen=True)
class OrganizationConfig:
    """Organization mode: where the reader role goes and how wide the cycle fans out."""

    # OUs or roots whose accounts (present and future) get the reader role through the StackSet.
    org_units: tuple[str, ...]
    map_concurrency: int = DEFAULT_MAP_CONCURRENCY
    # Accounts whose fleet metrics also carry an Account dimension (each value is a billed metric).
    account_metrics: tuple[str, ...] = ()
    # When known, the shard role may assume reader roles only in this organization's accounts.
    organization_id: str | None = None
    # The stack is deployed from a delegated administrator of StackSets rather than the management account.
    delegated_admin: bool = False


@dataclass(frozen=True)
class CanaryConfig:
    """Everything the stack is built from."""

    schedule: Schedule
    alarm_email: str | None
    reminder_hours: int
    enable_cognito_probes: bool
    alarmed_targets: tuple[str, ...]
    # Topics that targets name in `topic_arn`: the function may publish only to these and its own.
    notification_topics: tuple[str, ...] = ()
    event_bus: str = DEFAULT_EVENT_BUS
    security_hub: bool = False
    # Regions whose refused calls are forwarded to the stack's Region (infra/forwarding.py); none by default.
    trail_regions: tuple[str, ...] = ()
    # None: the one-account stack. Set with `-c organization=true`.
    organization: OrganizationConfig | None = None


def parse_schedule(expression: str) -> Schedule:
    """Accept EventBridge rate expressions; alarm periods and costs are derived from the interval."""
    try:
        period = rate_seconds(expression)
    except InputError as exc:
        raise ConfigError("schedule", exc.reason) from exc
    if period > MAX_PERIOD_SECONDS:
        raise ConfigError(
            "schedule", "at most 'rate(12 hours)': the heartbeat alarm watches two intervals within a day"
        )
    return Schedule(expression.strip(), period)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type(value).__name__}")
    return value


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(key, f"expected true or false, got {value!r}")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a whole number of hours, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, f"expected a whole number of hours, got {value!r}") from exc
    if isinstance(value, float) and value != number:
        raise ConfigError(key, f"expected a whole number of hours, got {value!r}")
    if number < 1:
        raise ConfigError(key, f"must be at least 1, got {number}")
    return number


def _email(key: str, value: Any) -> str | None:
    text = _text(key, value).strip()
    if not text:
        return None
    if not _EMAIL.match(text):
        raise ConfigError(key, f"{text!r} is not an e-mail address")
    return text


def _items(key: str, value: Any, what: str) -> list[Any]:
    """A JSON list from cdk.json, or a comma-separated string from `-c key=a,b` on the command line."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return value
    raise ConfigError(key, f"expected a list of {what} or a comma-separated string")


def _targets(key: str, value: Any) -> tuple[str, ...]:
    items = _items(key, value, "target ids")
    for item in items:
        if not isinstance(item, str) or not _TARGET_ID.match(item):
            raise ConfigError(key, f"{item!r} is not a target id")
    if len(set(items)) != len(items):
        raise ConfigError(key, "lists a target id twice")
    return tuple(items)


def _topics(key: str, value: Any) -> tuple[str, ...]:
    items = _items(key, value, "SNS topic ARNs")
    for item in items:
        if not isinstance(item, str) or not _TOPIC_ARN.fullmatch(item):
            raise ConfigError(key, f"{item!r} is not an SNS topic ARN")
    return tuple(dict.fromkeys(items))


def _event_bus(key: str, value: Any) -> str:
    """An EventBridge bus name: 1 to 256 of [A-Za-z0-9._-/] (PutEvents' EventBusName takes a name or an ARN;
    the stack takes the name): https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateEventBus.html"""
    if not isinstance(value, str) or not _EVENT_BUS.fullmatch(value):
        raise ConfigError(key, f"{value!r} is not an event bus name (letters, digits and ._-/, up to 256)")
    return value


def parse_region(key: str, value: Any) -> str:
    """A Region code (us-east-1), or a ConfigError naming the key."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise ConfigError(key, f"{value!r} is not a Region code such as 'us-east-1'")
    return value


def _regions(key: str, value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(parse_region(key, item) for item in _items(key, value, "Region codes")))


def _whole_number(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(key, f"expected a whole number from {low} to {high}, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, f"expected a whole number from {low} to {high}, got {value!r}") from exc
    if not low <= number <= high:
        raise ConfigError(key, f"must be from {low} to {high}, got {number}")
    return number


def _matching(key: str, value: Any, what: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    items = _items(key, value, what)
    for item in items:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise ConfigError(key, f"{item!r} is not {what}")
    return tuple(dict.fromkeys(items))


def _organization(value: Callable[[str, Any], Any]) -> OrganizationConfig | None:
    """The organization keys; read only with `organization=true` (the one-account stack ignores them)."""
    if not _bool("organization", value("organization", False)):
        return None
    org_units = _matching(
        "org_units", value("org_units", []), "an OU id (ou-xxxx-yyyyyyyy) or a root id (r-xxxx)", _ORG_UNIT
    )
    if not org_units:
        raise ConfigError("org_units", "required with organization=true: the OU or root ids to deploy the reader to")
    organization_id = _text("organization_id", value("organization_id", "")).strip()
    if organization_id and not _ORG_ID.fullmatch(organization_id):
        raise ConfigError("organization_id", f"{organization_id!r} is not an organization id (o-xxxxxxxxxx)")
    return OrganizationConfig(
        org_units=org_units,
        map_concurrency=_whole_number(
            "map_concurrency", value("map_concurrency", DEFAULT_MAP_CONCURRENCY), 1, MAX_MAP_CONCURRENCY
        ),
        account_metrics=_matching(
            "account_metrics", value("account_metrics", []), "a 12-digit account id", _ACCOUNT_ID
        ),
        organization_id=organization_id or None,
        delegated_admin=_bool("delegated_admin", value("delegated_admin", False)),
    )


def from_context(get: Callable[[str], Any] | Mapping[str, Any]) -> CanaryConfig:
    """Build the config from CDK context (a node's try_get_context, or a plain mapping in tests)."""
    lookup: Callable[[str], Any] = get.get if isinstance(get, Mapping) else get

    def value(key: str, default: Any) -> Any:
        found = lookup(key)
        return default if found is None else found

    return CanaryConfig(
        schedule=parse_schedule(_text("schedule", value("schedule", DEFAULT_SCHEDULE))),
        alarm_email=_email("alarm_email", value("alarm_email", "")),
        reminder_hours=_positive_int("reminder_hours", value("reminder_hours", DEFAULT_REMINDER_HOURS)),
        enable_cognito_probes=_bool("enable_cognito_probes", value("enable_cognito_probes", False)),
        alarmed_targets=_targets("alarmed_targets", value("alarmed_targets", [])),
        notification_topics=_topics("notification_topics", value("notification_topics", [])),
        event_bus=_event_bus("event_bus", value("event_bus", DEFAULT_EVENT_BUS)),
        security_hub=_bool("security_hub", value("security_hub", False)),
        trail_regions=_regions("trail_regions", value("trail_regions", [])),
        organization=_organization(value),
    )
