"""Read IAM roles and OIDC providers, turning IAM's answers into core types once, at the edge."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from webid_canary.adapters.aws import call
from webid_canary.app.ports import RoleRecord
from webid_canary.core.model import ProviderRecord
from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

# IAM answers NoSuchEntity for a role or provider that does not exist: an answer, not an error.
NOT_FOUND = ("NoSuchEntity", "NoSuchEntityException")
# ListRoles: "MaxItems ... Valid Range: Minimum value of 1. Maximum value of 1000." and it returns each role's
# AssumeRolePolicyDocument and MaxSessionDuration (not its tags, boundary or last use), so one call reads up to
# 1,000 roles' trust: https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html
LIST_ROLES_PAGE = 1000
# IAM's request rates are per account and cannot be raised ("You can't increase the AWS service rate limits"):
# https://repost.aws/knowledge-center/iam-sts-throttling-error ; organization mode paces each account's reads.
DEFAULT_RATE_PER_SECOND = 15.0


def role_name(name_or_arn: str) -> str:
    """The role name from a name or an ARN (`arn:aws:iam::1:role/path/name` -> `name`)."""
    if name_or_arn.startswith("arn:"):
        resource = name_or_arn.split(":", 5)[-1]
        return resource.rsplit("/", 1)[-1]
    return name_or_arn


def policy_text(document: object) -> str:
    """A policy document as JSON text: IAM sends it URL-encoded, some SDKs decode it into a dict."""
    if isinstance(document, str):
        text = document.strip()
        return unquote(text) if text.startswith("%") else text
    return json.dumps(document)


def provider_url(url: str) -> str:
    """The provider URL as IAM stores it: no scheme."""
    return url.removeprefix("https://")


def _call[T](operation: str, request: Callable[[], T]) -> T | None:
    return call(operation, request, absent=NOT_FOUND)


def _role(raw: Mapping[str, Any]) -> RoleRecord:
    return RoleRecord(
        arn=str(raw["Arn"]),
        name=str(raw["RoleName"]),
        trust_policy_document=policy_text(raw.get("AssumeRolePolicyDocument", "")),
        max_session_duration=int(raw.get("MaxSessionDuration") or ROLE_MAX_SESSION_DEFAULT),
    )


class RateLimit:
    """A token bucket: on average at most `per_second` calls a second, in bursts of at most `burst`; a caller
    over the rate waits its turn (the SDK's retries still handle what throttling gets through)."""

    def __init__(
        self,
        per_second: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self.burst = burst if burst is not None else max(1.0, per_second)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        """Take one call's token, waiting as long as the rate requires."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self.per_second if self._tokens < 0 else 0.0
            self.waited += wait
        if wait > 0:
            self._sleep(wait)


class IamReader:
    """Read-only access to the roles and OIDC providers of one account, through a boto3 IAM client; with a
    `limit`, every call waits for its turn in the account's rate."""

    def __init__(self, client: IAMClient, *, limit: RateLimit | None = None) -> None:
        self._client = client
        self._limit = limit
        self.calls = 0

    def _call[T](self, operation: str, request: Callable[[], T]) -> T | None:
        self.calls += 1
        if self._limit is not None:
            self._limit.acquire()
        return _call(operation, request)

    def get_role(self, name_or_arn: str) -> RoleRecord | None:
        """The role, or None when it does not exist."""
        name = role_name(name_or_arn)
        answer = self._call("GetRole", lambda: self._client.get_role(RoleName=name))
        return None if answer is None else _role(answer["Role"])

    def list_roles(self) -> Iterator[RoleRecord]:
        """Every role of the account, page by page."""
        pages = self._client.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": LIST_ROLES_PAGE})
        iterator = iter(pages)
        while True:
            page = self._call("ListRoles", lambda: next(iterator, None))
            if page is None:
                return
            for raw in page.get("Roles", []):
                yield _role(raw)

    def get_provider(self, arn: str) -> ProviderRecord | None:
        """The OIDC provider with this ARN, or None when it does not exist."""
        answer = self._call(
            "GetOpenIDConnectProvider",
            lambda: self._client.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
        )
        if answer is None:
            return None
        return ProviderRecord(
            url=provider_url(str(answer.get("Url", ""))),
            client_ids=tuple(answer.get("ClientIDList", [])),
            thumbprints=tuple(t.lower() for t in answer.get("ThumbprintList", [])),
            arn=arn,
        )

    def list_provider_arns(self) -> list[str]:
        """The ARNs of every OIDC provider of the account (one call; each ARN ends in the provider URL)."""
        answer = self._call("ListOpenIDConnectProviders", self._client.list_open_id_connect_providers)
        return [] if answer is None else [str(p["Arn"]) for p in answer.get("OpenIDConnectProviderList", [])]

    def list_providers(self) -> list[ProviderRecord]:
        """Every OIDC provider of the account, each read in full."""
        records = (self.get_provider(arn) for arn in self.list_provider_arns())
        return [record for record in records if record is not None]

    def find_provider(self, url: str, account_id: str | None = None) -> ProviderRecord | None:
        """The provider registered for exactly this URL (scheme optional; a trailing slash counts)."""
        wanted = provider_url(url)
        if account_id is not None:
            return self.get_provider(f"arn:aws:iam::{account_id}:oidc-provider/{wanted}")
        return next((record for record in self.list_providers() if record.url == wanted), None)
