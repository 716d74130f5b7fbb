"""Notifications: a JSON body for machines, a ten-second text for people, attributes for filter policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webid_canary.core.report import ProviderResult, TargetResult
from webid_canary.core.state import Event, StateRecord, Subject

SCHEMA = "webid-canary/notification/v1"
SUBJECT_LIMIT = 99

_HEADLINE: Mapping[Event, str] = {
    Event.FAILING: "FAILING",
    Event.OPEN: "OPEN TO THE WRONG WORKLOAD",
    Event.ERROR: "CANNOT BE CHECKED",
    Event.DRIFT: "DRIFT",
    Event.CHANGED: "NEW REASON",
    Event.REMINDER: "STILL BROKEN",
    Event.RECOVERED: "RECOVERED",
}


@dataclass(frozen=True, slots=True)
class Notification:
    subject: str
    body: Mapping[str, Any]
    text: str
    attributes: Mapping[str, str]

    def body_json(self) -> str:
        return json.dumps(self.body, sort_keys=True, default=str)


def for_target(
    event: Event, result: TargetResult, record: StateRecord, *, now: datetime, resolved: str | None = None
) -> Notification:
    """`resolved` is the root cause a recovery clears, so filter policies on `root_cause` see both ends."""
    verdict = result.verdict or {}
    root_cause = (resolved if event is Event.RECOVERED else result.root_cause) or "none"
    severity = "info" if event is Event.RECOVERED else result.severity
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "event": event.value,
        "subject": Subject.TARGET.value,
        "severity": severity,
        "target_id": result.target_id,
        "owner": result.owner,
        "role_arn": result.role_arn,
        "issuer": result.issuer,
        "status": result.status.value,
        "root_cause": root_cause,
        "since": _iso(record.since),
        "at": _iso(now),
        "verdict": dict(verdict) if verdict else None,
        "open_to": [n.to_json() for n in result.open_to],
        "live": result.live.to_json() if result.live else None,
        "error": result.error,
    }
    subject = _subject(f"[webid-canary] {_HEADLINE[event]}: {result.target_id} ({root_cause})")
    body["text"] = target_text(event, result, record)
    return Notification(subject, body, body["text"], _attributes(event, severity, body))


def for_provider(
    event: Event, result: ProviderResult, record: StateRecord, *, now: datetime, resolved: str | None = None
) -> Notification:
    serious = result.serious
    severity = "info" if event is Event.RECOVERED else _max_severity(serious)
    codes = sorted({str(f.get("code")) for f in serious}) or ([resolved] if resolved else [])
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "event": event.value,
        "subject": Subject.PROVIDER.value,
        "severity": severity,
        "provider_url": result.url,
        "provider_arn": result.arn,
        "issuer": f"https://{result.url}",
        "status": result.status.value,
        "root_cause": codes[0] if codes else "none",
        "since": _iso(record.since),
        "at": _iso(now),
        "findings": [dict(f) for f in result.findings],
    }
    subject = _subject(f"[webid-canary] {_HEADLINE[event]}: provider {result.url} ({', '.join(codes) or 'clear'})")
    body["text"] = provider_text(event, result, record)
    return Notification(subject, body, body["text"], _attributes(event, severity, body))


def target_text(event: Event, result: TargetResult, record: StateRecord) -> str:
    """What a person reads in ten seconds: what broke, the failing key with both values, the fix."""
    verdict = result.verdict or {}
    lines = [f"{_HEADLINE[event]}: target {result.target_id} (role {result.role_arn})"]
    if event is Event.RECOVERED:
        lines.append(f"The role can be assumed again as registered. Problem began {_iso(record.since)}.")
        return "\n".join(lines)
    lines.append(f"Since {_iso(record.since)}; issuer {result.issuer}.")
    if result.error:
        lines.append(f"Could not check: {result.error}")
    if verdict and verdict.get("outcome") == "deny":
        lines.append(f"STS answers: {verdict.get('error_code')}: {verdict.get('message')}")
        lines.append(f"Why: {verdict.get('explanation')}")
        if verdict.get("condition_key"):
            lines.append(f"Failing key: {verdict['condition_key']}")
            lines.append(f"  expected: {_values(verdict.get('expected'))}")
            lines.append(f"  actual:   {_values(verdict.get('actual'))}")
        if verdict.get("hints"):
            lines.append(f"Hints: {', '.join(verdict['hints'])}")
        lines.append(f"Fix: {verdict.get('remedy')}")
    if result.live is not None and not result.live.agrees:
        lines.append(
            f"Live STS answered {'allow' if result.live.allowed else result.live.error_code}, "
            f"which the prediction did not expect."
        )
    for probe in result.open_to:
        lines.append(f"Trust policy also accepts {probe.label}: sub {probe.sub!r}. Pin the sub condition.")
    return "\n".join(lines)


def provider_text(event: Event, result: ProviderResult, record: StateRecord) -> str:
    lines = [f"{_HEADLINE[event]}: OIDC provider {result.url}"]
    if event is Event.RECOVERED:
        lines.append(f"The provider matches its issuer again. Drift began {_iso(record.since)}.")
        return "\n".join(lines)
    lines.append(f"Since {_iso(record.since)}.")
    for finding in result.serious:
        evidence = ", ".join(f"{k}={v}" for k, v in sorted(dict(finding.get("evidence") or {}).items()))
        lines.append(f"- {finding.get('code')} ({finding.get('severity')}): {evidence}")
    return "\n".join(lines)


def _attributes(event: Event, severity: str, body: Mapping[str, Any]) -> dict[str, str]:
    return {
        "event": event.value,
        "severity": severity,
        "target_id": str(body.get("target_id") or body.get("provider_url") or ""),
        "root_cause": str(body.get("root_cause") or "none"),
    }


def _max_severity(findings: tuple[Mapping[str, Any], ...]) -> str:
    order = ["critical", "high", "medium", "low", "info"]
    found = {str(f.get("severity")) for f in findings}
    return next((s for s in order if s in found), "info")


def _subject(text: str) -> str:
    """SNS subjects are ASCII, one line, under 100 characters."""
    text = text.encode("ascii", "replace").decode().replace("\n", " ")
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def _values(values: object) -> str:
    if isinstance(values, list | tuple):
        return ", ".join(repr(v) for v in values) if values else "(absent)"
    return repr(values)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
