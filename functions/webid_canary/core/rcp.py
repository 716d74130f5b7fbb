"""Resource control policies, parsed once from what AWS Organizations returns.

RCPs can only restrict: the AWS-managed RCPFullAWSAccess, attached everywhere by default and not removable,
allows everything, and a customer RCP's explicit Deny refuses the request
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html,
https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps_evaluation.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .model import InputError, json_kind
from .policy import Statement, parse_trust_policy

FIELD = "resource_control_policies"


@dataclass(frozen=True, slots=True)
class RcpStatement:
    """A statement of an RCP with the resources it names (`Resource`, or `NotResource` when negated)."""

    statement: Statement
    resources: tuple[str, ...]
    not_resources: bool


@dataclass(frozen=True, slots=True)
class ResourceControlPolicy:
    """One RCP: its name (or id) as Organizations shows it, and its statements."""

    name: str
    statements: tuple[RcpStatement, ...]


def _content(item: object, where: str) -> tuple[str | None, object]:
    """(name, document) of one item: a policy document, its JSON text, or DescribePolicy's answer."""
    if isinstance(item, Mapping) and isinstance(item.get("Policy"), Mapping):
        item = item["Policy"]
    if isinstance(item, Mapping) and "Content" in item:
        summary = item.get("PolicySummary")
        summary = summary if isinstance(summary, Mapping) else item
        name = summary.get("Name") or summary.get("Id")
        return (name if isinstance(name, str) else None), item["Content"]
    if isinstance(item, str | Mapping):
        return None, item
    raise InputError(where, f"expected a policy document or DescribePolicy's answer, found {json_kind(item)}")


def _resources(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        return tuple(str(value) for value in raw)
    return ()


def parse_rcps(items: object) -> tuple[ResourceControlPolicy, ...]:
    """The RCPs that apply to the role's account, in the order given; raises InputError naming the bad one."""
    if items is None:
        return ()
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InputError(FIELD, f"expected a list of policy documents, found {json_kind(items)}")
    policies: list[ResourceControlPolicy] = []
    for index, item in enumerate(items):
        where = f"{FIELD}[{index}]"
        name, content = _content(item, where)
        if not isinstance(content, str | Mapping):
            raise InputError(f"{where}.Content", f"expected a policy document, found {json_kind(content)}")
        try:
            policy = parse_trust_policy(content)
        except InputError as exc:
            raise InputError(where, exc.reason) from exc
        raw = policy.document.get("Statement")
        raw_list = raw if isinstance(raw, list) else [raw]
        statements = []
        for statement in policy.statements:
            raw_statement = raw_list[statement.index]
            not_resources = isinstance(raw_statement, Mapping) and "NotResource" in raw_statement
            resources = _resources(
                raw_statement.get("NotResource" if not_resources else "Resource", "*")
                if isinstance(raw_statement, Mapping)
                else "*"
            )
            statements.append(RcpStatement(statement, resources, not_resources))
        policies.append(ResourceControlPolicy(name or f"RCP {index + 1}", tuple(statements)))
    return tuple(policies)
