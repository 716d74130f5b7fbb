"""Security Hub findings in the AWS Security Finding Format (ASFF), one per (subject, root cause).

Required top-level attributes: https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html
A finding keeps its `Id` for as long as its problem lasts, so a later import updates it; the recovery imports
it once more as RESOLVED and ARCHIVED instead of leaving it open.
Pure: the notice's JSON body (core/notification.py) and the product ARN come in; ASFF dicts come out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from webid_canary.core.catalogue import lookup

SCHEMA_VERSION: Final = "2018-10-08"
# ASFF's Severity.Label values for the catalogue's severities.
LABELS: Final[Mapping[str, str]] = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
# Finding types from ASFF's taxonomy (namespace/category):
# https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html#Types
BROKEN: Final = "Software and Configuration Checks/AWS Security Best Practices"
OPEN: Final = "Effects/Data Exposure"
# Lengths Security Hub accepts: Title 256, Description 1024, Remediation.Recommendation.Text 512.
TITLE_CHARS, DESCRIPTION_CHARS, REMEDY_CHARS = 256, 1024, 512


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finding_id(subject: str, subject_id: str, root_cause: str) -> str:
    """The finding's stable identifier: the same problem of the same subject always updates one finding."""
    return f"webid-canary/{subject}/{subject_id}/{root_cause}"


def _account(body: Mapping[str, Any]) -> str:
    for arn in (body.get("role_arn"), body.get("provider_arn")):
        if isinstance(arn, str) and arn.count(":") >= 5 and arn.split(":")[4]:
            return arn.split(":")[4]
    return ""


def _resources(body: Mapping[str, Any], partition: str, region: str) -> list[dict[str, Any]]:
    if body.get("role_arn"):
        return [{"Type": "AwsIamRole", "Id": str(body["role_arn"]), "Partition": partition, "Region": region}]
    resource_id = str(body.get("provider_arn") or f"https://{body.get('provider_url')}")
    return [{"Type": "Other", "Id": resource_id, "Partition": partition, "Region": region}]


def findings_for(
    body: Mapping[str, Any], *, product_arn: str, since: str, resolved: str | None = None
) -> list[dict[str, Any]]:
    """The findings one notice imports: the problem it announces (active), or the one it clears (resolved);
    a notice whose reason changed also resolves the previous reason's finding."""
    parts = product_arn.split(":")
    partition, region, product_account = parts[1], parts[3], parts[4]
    subject = str(body.get("subject"))
    subject_id = str(body.get("target_id") or body.get("provider_url") or "")
    event = str(body.get("event"))
    found: list[dict[str, Any]] = []
    at = str(body.get("at"))

    def one(root_cause: str, active: bool) -> dict[str, Any]:
        entry = lookup(root_cause)
        verdict = body.get("verdict") or {}
        # The verdict's own words fit only the root cause it explains: an open trust's verdict is an allow,
        # whose remedy is "nothing to change"; the catalogue's entry speaks for the open trust then.
        if verdict.get("root_cause") != root_cause:
            verdict = {}
        description = str(verdict.get("explanation") or body.get("error") or entry.title)
        remedy = str(verdict.get("remedy") or entry.remedy)
        severity = str(body.get("severity")) if active else "info"
        return {
            "SchemaVersion": SCHEMA_VERSION,
            "Id": finding_id(subject, subject_id, root_cause),
            "ProductArn": product_arn,
            "GeneratorId": f"webid-canary/{root_cause}",
            "AwsAccountId": _account(body) or product_account,
            "Types": [OPEN if root_cause == "trust_open" else BROKEN],
            "CreatedAt": since,
            "UpdatedAt": at,
            "Severity": {"Label": LABELS.get(severity, "INFORMATIONAL")},
            "Title": _cut(f"{subject_id}: {entry.title}", TITLE_CHARS),
            "Description": _cut(description, DESCRIPTION_CHARS),
            "Remediation": {"Recommendation": {"Text": _cut(remedy, REMEDY_CHARS)}},
            "Resources": _resources(body, partition, region),
            "Workflow": {"Status": "NEW" if active else "RESOLVED"},
            "RecordState": "ACTIVE" if active else "ARCHIVED",
            "ProductFields": {
                "webid-canary/event": event,
                "webid-canary/transition_id": str(body.get("transition_id") or ""),
            },
        }

    root_cause = str(body.get("root_cause") or "none")
    if event == "recovered":
        if root_cause != "none":
            found.append(one(root_cause, active=False))
        return found
    found.append(one(root_cause, active=True))
    if resolved and resolved not in (root_cause, "none"):
        found.append(one(resolved, active=False))
    return found
