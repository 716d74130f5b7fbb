"""The fleet at a glance, as a person reads it: built from a cycle report's JSON or from the State table's records.

Both carry the same target and provider results (the State table keeps each subject's last one); the State
table adds since when each subject is in its status. Time comes in: certificate days are counted from `now`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .catalogue import CATALOGUE, SEVERITY_ORDER, Kind, Severity
from .model import InputError, json_kind
from .state import StateRecord, Status, Subject

FIELD = "probe"
# Worst first, as the cycle's own summary ranks them.
STATUS_ORDER: Mapping[Status, int] = {
    Status.ERROR: 0,
    Status.FAILING: 1,
    Status.OPEN: 2,
    Status.DRIFT: 3,
    Status.OK: 4,
}
RECENT_CHANGES = 20


@dataclass(frozen=True, slots=True)
class TargetRow:
    target_id: str
    status: Status
    root_cause: str | None
    severity: str
    owner: str | None
    role_arn: str | None
    issuer: str | None
    failing_key: str | None
    expected: tuple[str, ...]
    actual: tuple[str, ...]
    detail: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class ProviderRow:
    url: str
    status: Status
    drift: tuple[str, ...]
    certificate_host: str | None
    certificate_days_left: int | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Change:
    """A subject's last transition: into which status, since when, and when it was last notified."""

    subject: Subject
    subject_id: str
    status: Status
    since: datetime
    last_notified: datetime | None


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class FleetView:
    as_of: datetime
    source: str
    targets: tuple[TargetRow, ...]
    providers: tuple[ProviderRow, ...]
    changes: tuple[Change, ...]
    by_status: tuple[Count, ...]
    by_root_cause: tuple[Count, ...]
    notes: tuple[str, ...] = ()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _texts(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InputError(FIELD, f"{where}: expected an object, found {json_kind(value)}")
    return value


def _status(value: object, where: str) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InputError(FIELD, f"{where}.status: expected one of {allowed}, found {value!r}") from None


def _instant(value: object, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(FIELD, f"{where}: expected an ISO-8601 instant, found {value!r}") from None
    if moment.tzinfo is None:
        raise InputError(FIELD, f"{where}: the instant has no time zone: {value!r}")
    return moment


# Drift codes whose evidence says why the issuer could not be fetched (refused, timed out, TLS, HTTP status).
UNREACHABLE_CODES = frozenset({"discovery_unreachable", "jwks_unreachable"})
KEYS_UNREACHABLE = "provider_keys_unreachable"


def issuer_reasons(providers: Iterable[Mapping[str, object]]) -> dict[str, str]:
    """Provider URL (as IAM writes it) -> why its issuer could not be fetched, from its drift findings."""
    reasons: dict[str, str] = {}
    for provider in providers:
        findings = provider.get("findings")
        for finding in findings if isinstance(findings, list) else ():
            evidence = finding.get("evidence") if isinstance(finding, Mapping) else None
            if finding.get("code") in UNREACHABLE_CODES and isinstance(evidence, Mapping) and evidence.get("error"):
                reasons.setdefault(str(provider.get("url")), str(evidence["error"]))
    return reasons


def _detail(result: Mapping[str, object], verdict: Mapping[str, object], issuer_reason: str | None = None) -> str:
    if result.get("error"):
        return str(result["error"])
    if issuer_reason and (result.get("root_cause") or verdict.get("root_cause")) == KEYS_UNREACHABLE:
        return f"the issuer could not be fetched: {issuer_reason}"
    open_to = result.get("open_to")
    if isinstance(open_to, list) and open_to:
        subs = [str(n.get("sub")) for n in open_to if isinstance(n, Mapping)]
        return "accepts " + ", ".join(subs)
    return str(verdict.get("explanation") or "") if verdict.get("outcome") == "deny" else ""


def target_row(
    result: Mapping[str, object], where: str, since: datetime | None = None, issuer_reason: str | None = None
) -> TargetRow:
    """One target's result (TargetResult.to_json()) as a row; `issuer_reason` says why its issuer was not fetched."""
    target_id = result.get("target_id")
    if not isinstance(target_id, str) or not target_id:
        raise InputError(FIELD, f"{where}.target_id: expected a string")
    verdict = result.get("verdict")
    verdict = verdict if isinstance(verdict, Mapping) else {}
    return TargetRow(
        target_id=target_id,
        status=_status(result.get("status"), where),
        root_cause=_text(result.get("root_cause")),
        severity=str(result.get("severity") or "high"),
        owner=_text(result.get("owner")),
        role_arn=_text(result.get("role_arn")),
        issuer=_text(result.get("issuer")),
        failing_key=_text(verdict.get("condition_key")),
        expected=_texts(verdict.get("expected")),
        actual=_texts(verdict.get("actual")),
        detail=_detail(result, verdict, issuer_reason),
        since=since,
    )


def _certificate(hosts: object, now: datetime, where: str) -> tuple[str | None, int | None]:
    """The host whose certificate expires first, and the whole days left until it does."""
    soonest: tuple[datetime, str] | None = None
    for index, host in enumerate(hosts if isinstance(hosts, list) else ()):
        if isinstance(host, Mapping) and host.get("not_after"):
            expiry = _instant(host["not_after"], f"{where}.hosts[{index}].not_after")
            if soonest is None or expiry < soonest[0]:
                soonest = (expiry, str(host.get("host")))
    if soonest is None:
        return None, None
    return soonest[1], (soonest[0] - now).days


def provider_row(result: Mapping[str, object], where: str, now: datetime, since: datetime | None = None) -> ProviderRow:
    """One provider's result (ProviderResult.to_json()) as a row."""
    url = result.get("url")
    if not isinstance(url, str):
        raise InputError(FIELD, f"{where}.url: expected a string")
    findings = result.get("findings")
    drift = sorted(
        {
            str(f.get("code"))
            for f in (findings if isinstance(findings, list) else ())
            if isinstance(f, Mapping) and f.get("severity") != "info"
        }
    )
    host, days = _certificate(result.get("hosts"), now, where)
    return ProviderRow(url, _status(result.get("status"), where), tuple(drift), host, days, since)


def _title(kind: Kind, code: str) -> str:
    known = CATALOGUE.get((kind, code))
    if known is not None:
        return known.title
    return {"trust_open": "The trust policy accepts a workload it must refuse", "check_error": "The check failed"}.get(
        code, code
    )


def severity_rank(severity: str) -> int:
    """SEVERITY_ORDER for a severity written as text; -1 for one that is not a severity."""
    try:
        return SEVERITY_ORDER[Severity(severity)]
    except ValueError:
        return -1


def fleet_view(
    targets: Iterable[TargetRow],
    providers: Iterable[ProviderRow],
    *,
    as_of: datetime,
    source: str,
    changes: Sequence[Change] = (),
    notes: Sequence[str] = (),
) -> FleetView:
    """Rows worst first, counts by status and by root cause, the latest changes first."""
    rows = sorted(targets, key=lambda t: (STATUS_ORDER[t.status], -severity_rank(t.severity), t.target_id))
    provider_rows = sorted(providers, key=lambda p: (STATUS_ORDER[p.status], p.url))
    statuses = Counter(t.status for t in rows)
    causes = Counter(t.root_cause for t in rows if t.root_cause)
    return FleetView(
        as_of=as_of,
        source=source,
        targets=tuple(rows),
        providers=tuple(provider_rows),
        changes=tuple(sorted(changes, key=lambda c: c.since, reverse=True)[:RECENT_CHANGES]),
        by_status=tuple(
            Count(s.value, s.value, statuses[s])
            for s in sorted(Status, key=STATUS_ORDER.__getitem__)
            if statuses[s] or s is Status.OK
        ),
        by_root_cause=tuple(
            Count(code, _title(Kind.ROOT_CAUSE, code), n) for code, n in sorted(causes.items(), key=lambda c: -c[1])
        ),
        notes=tuple(notes),
    )


def from_cycle(document: object, *, source: str) -> FleetView:
    """The view of one cycle report (CycleReport.to_json(), as `probe --json` prints it), as of its end."""
    cycle = _object(document, "report")
    as_of = _instant(cycle.get("finished"), "finished")
    targets, providers = cycle.get("targets"), cycle.get("providers")
    if not isinstance(targets, list) or not isinstance(providers, list):
        raise InputError(FIELD, "expected a cycle report with targets and providers (webid-canary probe --json)")
    written = cycle.get("notes")
    notes = [str(n) for n in written] if isinstance(written, list) else []
    skipped = cycle.get("skipped")
    if isinstance(skipped, list) and skipped:
        notes.append(f"deadline reached: {len(skipped)} targets not checked")
    reasons = issuer_reasons(p for p in providers if isinstance(p, Mapping))

    def row(result: Mapping[str, object], where: str) -> TargetRow:
        issuer = str(result.get("issuer") or "").removeprefix("https://")
        return target_row(result, where, issuer_reason=reasons.get(issuer))

    return fleet_view(
        (row(_object(t, f"targets[{i}]"), f"targets[{i}]") for i, t in enumerate(targets)),
        (provider_row(_object(p, f"providers[{i}]"), f"providers[{i}]", as_of) for i, p in enumerate(providers)),
        as_of=as_of,
        source=source,
        notes=notes,
    )


def from_state(records: Iterable[StateRecord], *, now: datetime, source: str) -> FleetView:
    """The view of the State table: each subject's last result, since when it is in its status."""
    targets: list[TargetRow] = []
    providers: list[ProviderRow] = []
    changes: list[Change] = []
    for record in records:
        kind, _, subject_id = record.key.partition("#")
        try:
            if kind == Subject.TARGET.value:
                targets.append(target_row(record.last_result, "last_result", record.since))
            elif kind == Subject.PROVIDER.value:
                providers.append(provider_row(record.last_result, "last_result", now, record.since))
            else:
                continue
        except InputError as exc:
            raise InputError("state_table", f"{record.key}: {exc.reason}") from exc
        changes.append(Change(Subject(kind), subject_id, record.status, record.since, record.last_notified))
    return fleet_view(targets, providers, as_of=now, source=source, changes=changes)
