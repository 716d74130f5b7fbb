"""Findings as OCSF Detection Findings (class 2004, category Findings), built and validated by py-ocsf-models.

One finding per (target or provider, root cause), identified as Security Hub identifies it (core/asff.py's
`finding_id`), so a reader that holds both formats sees one problem once. The findings come from the results a
cycle reports (CycleReport.to_json(), a `probe --json` file, the State table's last results, the drift pass),
the same JSON the fleet report reads. Detection Finding: https://schema.ocsf.io/1.5.0/classes/detection_finding
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from py_ocsf_models import OCSF_VERSION
from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.account import Account, TypeID
from py_ocsf_models.objects.cloud import Cloud
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.remediation import Remediation
from py_ocsf_models.objects.resource_details import ResourceDetails

from webid_canary import __version__, names
from webid_canary.core.asff import BROKEN, OPEN, finding_id
from webid_canary.core.catalogue import Entry, lookup
from webid_canary.core.fleet import FIELD, provider_row, target_row
from webid_canary.core.model import InputError
from webid_canary.core.report import TRUST_OPEN
from webid_canary.core.state import StateRecord, Status, Subject

# The catalogue's severities on OCSF's scale (severity_id); anything else is Unknown.
SEVERITY: Final[Mapping[str, SeverityID]] = {
    "critical": SeverityID.Critical,
    "high": SeverityID.High,
    "medium": SeverityID.Medium,
    "low": SeverityID.Low,
    "info": SeverityID.Informational,
}
ROLE_TYPE: Final = "AwsIamRole"
PROVIDER_TYPE: Final = "AwsIamOidcProvider"
CLOUD_PROVIDER: Final = "AWS"
PROFILES: Final = ("cloud",)


@dataclass(frozen=True, slots=True)
class Problem:
    """One subject's problem as a finding states it: open (New) or cleared (Resolved)."""

    subject: Subject
    subject_id: str
    root_cause: str
    severity: str
    resolved: bool
    status: Status
    title: str
    description: str
    remedy: str
    role_arn: str | None = None
    provider_arn: str | None = None
    issuer: str | None = None
    owner: str | None = None
    since: datetime | None = None

    @property
    def uid(self) -> str:
        return finding_id(self.subject.value, self.subject_id, self.root_cause)


def _entry(code: str, where: str) -> Entry:
    try:
        return lookup(code)
    except KeyError:
        raise InputError(FIELD, f"{where}.root_cause: {code!r} is not a code webid-canary reports") from None


def _values(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "(none)"


def target_problem(result: Mapping[str, object], where: str, since: datetime | None = None) -> Problem | None:
    """The problem of one target's result (TargetResult.to_json()); None when it is ok."""
    row = target_row(result, where, since)
    if row.status is Status.OK or not row.root_cause:
        return None
    entry = _entry(row.root_cause, where)
    verdict = result.get("verdict")
    # The verdict's own remedy fits only the problem it explains (an open trust's verdict is an allow).
    explains = isinstance(verdict, Mapping) and verdict.get("root_cause") == row.root_cause
    remedy = verdict.get("remedy") if explains and isinstance(verdict, Mapping) else None
    parts = []
    if row.failing_key:
        parts.append(f"{row.failing_key}: expected {_values(row.expected)}; actual {_values(row.actual)}.")
    parts.append(row.detail or entry.title)
    return Problem(
        subject=Subject.TARGET,
        subject_id=row.target_id,
        root_cause=row.root_cause,
        severity=row.severity,
        resolved=False,
        status=row.status,
        title=entry.title,
        description=" ".join(parts),
        remedy=str(remedy or entry.remedy),
        role_arn=row.role_arn,
        provider_arn=_provider_arn(row.role_arn, row.issuer),
        issuer=row.issuer,
        owner=row.owner,
        since=since,
    )


def provider_problem(
    result: Mapping[str, object], where: str, now: datetime, since: datetime | None = None
) -> Problem | None:
    """The problem of one provider's result (ProviderResult.to_json()): its first serious finding, as the
    monitor names it, with every serious finding described; None when it is ok."""
    row = provider_row(result, where, now, since)
    if row.status is Status.OK or not row.drift:
        return None
    root_cause = str(result.get("root_cause") or row.drift[0])
    entry = _entry(root_cause, where)
    findings = result.get("findings")
    listed = findings if isinstance(findings, list) else []
    serious = [f for f in listed if isinstance(f, Mapping) and f.get("code") in row.drift]
    lines = []
    worst = "info"
    for finding in serious:
        code = str(finding.get("code"))
        severity = str(finding.get("severity"))
        worst = severity if _rank(severity) > _rank(worst) else worst
        evidence = finding.get("evidence")
        pairs = evidence.items() if isinstance(evidence, Mapping) else ()
        shown = ", ".join(f"{k}={v}" for k, v in pairs if v not in (None, "", []))
        lines.append(f"{code}: {_entry(code, where).title}" + (f" ({shown})" if shown else "") + ".")
    arn = result.get("arn")
    return Problem(
        subject=Subject.PROVIDER,
        subject_id=row.url,
        root_cause=root_cause,
        severity=worst,
        resolved=False,
        status=row.status,
        title=entry.title,
        description=" ".join(lines) or entry.title,
        remedy=entry.remedy,
        provider_arn=str(arn) if arn else None,
        issuer=f"https://{row.url}",
        since=since,
    )


def _rank(severity: str) -> int:
    return int(SEVERITY.get(severity, SeverityID.Unknown))


def cycle_problems(document: Mapping[str, object], now: datetime) -> list[Problem]:
    """The problems of a cycle report (CycleReport.to_json(), as `probe --json` prints it)."""
    targets, providers = document.get("targets"), document.get("providers")
    found = [target_problem(t, f"targets[{i}]") for i, t in enumerate(targets if isinstance(targets, list) else ())] + [
        provider_problem(p, f"providers[{i}]", now)
        for i, p in enumerate(providers if isinstance(providers, list) else ())
    ]
    return [p for p in found if p is not None]


def state_problems(records: Iterable[StateRecord], now: datetime) -> list[Problem]:
    """The problems the State table holds: each subject's last result, since when it is in its status."""
    found: list[Problem | None] = []
    for record in records:
        kind, _, _ = record.key.partition("#")
        try:
            if kind == Subject.TARGET.value:
                found.append(target_problem(record.last_result, "last_result", record.since))
            elif kind == Subject.PROVIDER.value:
                found.append(provider_problem(record.last_result, "last_result", now, record.since))
        except InputError as exc:
            raise InputError("state_table", f"{record.key}: {exc.reason}") from exc
    return [p for p in found if p is not None]


def resolved_since(previous: Iterable[Problem], current: Iterable[Problem]) -> list[Problem]:
    """The earlier problems that no longer hold (the subject recovered, or its reason changed), as Resolved:
    what the monitor's recovery does to a Security Hub finding."""
    open_now = {p.uid for p in current}
    return [replace(p, resolved=True, severity="info") for p in previous if p.uid not in open_now]


def _account_of(arn: str | None) -> tuple[str, str] | None:
    """(partition, account) of an ARN, when it names them."""
    parts = (arn or "").split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[1] and parts[4]:
        return parts[1], parts[4]
    return None


def _provider_arn(role_arn: str | None, issuer: str | None) -> str | None:
    """The IAM OIDC provider a role's web identity goes through: the role's own account, named by the issuer's
    host and path (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns)."""
    known = _account_of(role_arn)
    if known is None or not issuer:
        return None
    partition, account = known
    return f"arn:{partition}:iam::{account}:oidc-provider/{issuer.removeprefix('https://')}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _resources(problem: Problem, region: str | None) -> list[ResourceDetails]:
    resources = []
    for arn, kind in ((problem.role_arn, ROLE_TYPE), (problem.provider_arn, PROVIDER_TYPE)):
        if arn:
            known = _account_of(arn)
            resources.append(
                ResourceDetails(
                    uid=arn,
                    name=arn.split(":", 5)[-1].split("/", 1)[-1] if known else arn,
                    type=kind,
                    cloud_partition=known[0] if known else None,
                    region=region,
                )
            )
    if not resources and problem.issuer:
        # A provider trust policies name that IAM does not hold has no ARN: its issuer stands for it.
        resources.append(ResourceDetails(uid=problem.issuer, name=problem.subject_id, type=PROVIDER_TYPE))
    return resources


def _cloud(problem: Problem, region: str | None) -> Cloud:
    known = _account_of(problem.role_arn) or _account_of(problem.provider_arn)
    account = None
    if known is not None:
        account = Account(name=known[1], uid=known[1], type_id=TypeID.AWS_Account, type="AWS Account")
    return Cloud(provider=CLOUD_PROVIDER, account=account, region=region)


def detection_finding(problem: Problem, *, now: datetime, region: str | None = None) -> DetectionFinding:
    """One OCSF Detection Finding; py-ocsf-models checks every field's type as it is built."""
    activity = ActivityID.Close if problem.resolved else ActivityID.Create
    finding_type = DetectionFindingTypeID.Close if problem.resolved else DetectionFindingTypeID.Create
    status = StatusID.Resolved if problem.resolved else StatusID.New
    severity = SEVERITY.get(problem.severity, SeverityID.Unknown)
    first_seen = _ms(problem.since) if problem.since is not None else _ms(now)
    return DetectionFinding(
        activity_id=activity,
        activity_name=activity.name,
        type_uid=finding_type,
        type_name=f"Detection Finding: {activity.name}",
        time=_ms(now),
        severity_id=severity,
        severity=severity.name,
        status_id=status,
        status=status.name,
        status_code=problem.status.value,
        message=f"{problem.subject_id}: {problem.title}",
        finding_info=FindingInformation(
            uid=problem.uid,
            title=problem.title,
            desc=problem.description,
            types=[OPEN if problem.root_cause == TRUST_OPEN else BROKEN],
            created_time=first_seen,
            first_seen_time=first_seen,
            last_seen_time=_ms(now),
        ),
        remediation=Remediation(desc=problem.remedy),
        resources=_resources(problem, region),
        cloud=_cloud(problem, region),
        metadata=Metadata(
            event_code=problem.root_cause,
            product=Product(
                uid=names.SERVICE_NAME, name=names.SERVICE_NAME, vendor_name=names.SERVICE_NAME, version=__version__
            ),
            profiles=list(PROFILES),
            version=OCSF_VERSION,
        ),
        unmapped={
            key: value
            for key, value in (
                ("subject", problem.subject.value),
                ("subject_id", problem.subject_id),
                ("root_cause", problem.root_cause),
                ("owner", problem.owner),
                ("issuer", problem.issuer),
            )
            if value is not None
        },
    )


def detection_findings(
    problems: Iterable[Problem], *, now: datetime, region: str | None = None
) -> list[DetectionFinding]:
    return [detection_finding(p, now=now, region=region) for p in problems]


def current_region() -> str | None:
    """The region the CLI's AWS calls go to (--region, the environment, the profile), if one is set."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session().region_name
    except BotoCoreError:  # a profile that does not exist: the findings are written without a region
        return None


def to_json(findings: Sequence[DetectionFinding]) -> str:
    """The findings as one JSON array, the shape of Prowler's json-ocsf files; unset fields left out."""
    return json.dumps([f.model_dump(mode="json", exclude_none=True) for f in findings], indent=2)
