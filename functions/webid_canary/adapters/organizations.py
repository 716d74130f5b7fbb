"""AWS Organizations (the accounts and their resource control policies) and the reader role of each account.

Organizations answers only the management account or a delegated administrator; elsewhere it says AccessDenied
(AwsAccessError), and without an organization AWSOrganizationsNotInUseException (AwsMissingError).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from webid_canary.adapters.aws import call
from webid_canary.adapters.iam import IamReader, RateLimit
from webid_canary.app.ports import AwsError, AwsMissingError

ClientFactory = Callable[..., Any]

NOT_IN_USE: Final = "AWSOrganizationsNotInUseException"
# ListPoliciesForTarget lists the policies attached directly to a root, an OU or an account, of the type asked
# (Filter RESOURCE_CONTROL_POLICY); the ones that apply to an account are those of the account and of every
# parent up to the root: https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListPoliciesForTarget.html
RCP_FILTER: Final = "RESOURCE_CONTROL_POLICY"
# ListParents: "In the current release, a child can have only a single parent."
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListParents.html
ROOT: Final = "ROOT"
# ListAccounts returns every account; only ACTIVE ones can be read (SUSPENDED and PENDING_CLOSURE cannot):
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html
ACTIVE: Final = "ACTIVE"
# AssumeRole: "DurationSeconds ... Minimum value of 900", and RoleSessionName is 2 to 64 characters of
# [\w+=,.@-]: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
READER_SESSION_SECONDS: Final = 900
SESSION_NAME_MAX: Final = 64
SESSION_NAME_UNSAFE: Final = re.compile(r"[^\w+=,.@-]")


def _organizations[T](operation: str, request: Callable[[], T]) -> T | None:
    try:
        return call(operation, request)
    except AwsError as exc:
        if exc.code == NOT_IN_USE:
            raise exc.as_kind(AwsMissingError) from exc
        raise


def _api_name(operation: str) -> str:
    """`list_parents` -> `ListParents`, as AWS names the operation."""
    return "".join(word.capitalize() for word in operation.split("_"))


def _pages(client: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = iter(client.get_paginator(operation).paginate(**kwargs))
    found: list[dict[str, Any]] = []
    while True:
        page = _organizations(_api_name(operation), lambda: next(pages, None))
        if page is None:
            return found
        found.append(page)


class OrganizationReader:
    """The OrganizationPort over a boto3 Organizations client."""

    def __init__(self, client: Any, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self.clock = clock

    def list_active_accounts(self) -> list[str]:
        accounts = []
        for page in _pages(self._client, "list_accounts"):
            for account in page.get("Accounts", []):
                if str(account.get("Status", ACTIVE)) == ACTIVE:
                    accounts.append(str(account["Id"]))
        return sorted(accounts)

    def resource_control_policies(
        self, account_ids: Sequence[str], *, deadline: datetime | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Each account's RCPs (its own, its OUs', the root's), each path and policy read once per call."""
        parents: dict[str, tuple[str, str]] = {}
        attached: dict[str, list[str]] = {}
        described: dict[str, dict[str, Any]] = {}
        found: dict[str, list[dict[str, Any]]] = {}
        for account in account_ids:
            if deadline is not None and self.clock() >= deadline:
                break
            policies: list[dict[str, Any]] = []
            for node in self._path(account, parents):
                if node not in attached:
                    pages = _pages(self._client, "list_policies_for_target", TargetId=node, Filter=RCP_FILTER)
                    attached[node] = [str(p["Id"]) for page in pages for p in page.get("Policies", [])]
                for policy_id in attached[node]:
                    if policy_id not in described:
                        describe = functools.partial(self._client.describe_policy, PolicyId=policy_id)
                        answer = _organizations("DescribePolicy", describe) or {}
                        described[policy_id] = {"Policy": answer.get("Policy", {})}
                    policies.append(described[policy_id])
            found[account] = policies
        return found

    def _path(self, account: str, parents: dict[str, tuple[str, str]]) -> list[str]:
        """The account, then each parent up to and including the root."""
        path, node = [account], account
        while True:
            if node not in parents:
                pages = _pages(self._client, "list_parents", ChildId=node)
                first = next((p for page in pages for p in page.get("Parents", [])), None)
                if first is None:
                    return path
                parents[node] = (str(first["Id"]), str(first["Type"]))
            node, kind = parents[node]
            path.append(node)
            if kind == ROOT:
                return path


def session_name(cycle_id: str) -> str:
    """The reader role's session name for a cycle (STS's characters, at most 64 of them)."""
    return SESSION_NAME_UNSAFE.sub("-", f"webid-canary-{cycle_id}")[:SESSION_NAME_MAX]


class ReaderRoles:
    """The AccountIamPort: IAM of each account through its reader role (STS AssumeRole, 900 s), or with the
    monitor's own credentials in its own account; every account's IAM calls within its own rate."""

    def __init__(
        self,
        client: ClientFactory,
        *,
        role_name: str,
        cycle_id: str,
        own_account: str | None,
        rate_per_second: float,
    ) -> None:
        self._client = client
        self.role_name = role_name
        self.session_name = session_name(cycle_id)
        self.own_account = own_account
        self.rate_per_second = rate_per_second
        self._sts: Any = None
        self._lock = threading.Lock()

    def _new_client(self, service: str, **kwargs: Any) -> Any:
        # A boto3 session is not safe to make clients from in several threads at once (accounts run side by side).
        with self._lock:
            return self._client(service, **kwargs)

    def role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{self.role_name}"

    def iam_for(self, account_id: str) -> IamReader:
        limit = RateLimit(self.rate_per_second)
        if account_id == self.own_account:
            return IamReader(self._new_client("iam"), limit=limit)
        with self._lock:
            if self._sts is None:
                self._sts = self._client("sts")
        arn = self.role_arn(account_id)
        answer = call(
            f"AssumeRole {arn}",
            lambda: self._sts.assume_role(
                RoleArn=arn, RoleSessionName=self.session_name, DurationSeconds=READER_SESSION_SECONDS
            ),
        )
        assert answer is not None
        credentials = answer["Credentials"]
        client = self._new_client(
            "iam",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return IamReader(client, limit=limit)
