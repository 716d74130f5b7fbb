"""Frozen types shared across the core, the adapters and the shells."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT


def json_kind(value: object) -> str:
    """How a value reads to someone who wrote JSON or YAML: 'a string', 'a number', 'an object', 'null'..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    return type(value).__name__


class InputError(ValueError):
    """Input that cannot be used at all: names the field and the reason."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Token:
    """A raw JWT. Its repr and str never show the value: tokens must not reach logs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Token(<redacted {len(self.value)} chars>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """An IAM OIDC provider as IAM stores it: URL without scheme, client IDs, thumbprints."""

    url: str
    client_ids: tuple[str, ...] = ()
    thumbprints: tuple[str, ...] = ()
    arn: str | None = None


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """An IAM role as the engine needs it: the trust policy text as IAM stores it, and the maximum session."""

    arn: str
    name: str
    trust_policy_document: str
    max_session_duration: int = ROLE_MAX_SESSION_DEFAULT


@dataclass(frozen=True, slots=True)
class IdpFacts:
    """What is known about the live identity provider. None means: not checked."""

    presented_thumbprints: tuple[str, ...] | None = None
    trusted_root_ca: bool | None = None
    jwks_reachable: bool | None = None
    jwks_kids: tuple[str, ...] | None = None
    # Set only where the token's signature was really verified against the live JWKS.
    signature_valid: bool | None = None


@dataclass(frozen=True, slots=True)
class CognitoFlow:
    """How a Cognito identity pool token reaches STS: `basic` (classic: the app calls STS) or `enhanced`
    (Cognito calls STS), and the account that owns the identity pool. None means: not known."""

    flow: str | None = None
    identity_pool_account: str | None = None


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """What is known about the caller of STS (network, client, region). None means: not given, so unknown.

    `source_ip` is one address: a condition is evaluated for that address. `called_via` lists the services in
    the order they called, as aws:CalledVia holds them.
    """

    source_ip: str | None = None
    source_vpc: str | None = None
    source_vpce: str | None = None
    vpc_source_ip: str | None = None
    user_agent: str | None = None
    secure_transport: bool | None = None
    requested_region: str | None = None
    called_via: tuple[str, ...] | None = None
