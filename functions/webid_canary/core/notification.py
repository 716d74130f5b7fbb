"""Notifications: a JSON body for machines, a ten-second text for people, attributes for filter policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from webid_canary.core import limits
from webid_canary.core.render import HEADLINE, iso, provider_text, refusal_text, target_text
from webid_canary.core.report import ProviderResult, TargetResult
from webid_canary.core.state import Event, StateRecord, Subject
from webid_canary.core.trail import TrailFinding

SCHEMA: Final = "webid-canary/notification/v1"
# SNS: "Subject ... must be ASCII text that begins with a letter, number, or punctuation mark; must not include
# line breaks or control characters; and must be less than 100 characters long."
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
SUBJECT_LIMIT: Final = 99


@dataclass(frozen=True, slots=True)
class Notification:
    subject: str
    body: Mapping[str, Any]
    text: str
    attributes: Mapping[str, str]

    def body_json(self) -> str:
        return json.dumps(self.body, sort_keys=True, default=str)

    def with_id(self, transition_id: str) -> Notification:
        """The notice marked with its transition's id, the same on every copy sent, to deduplicate on."""
        return Notification(
            self.subject,
            {**self.body, "transition_id": transition_id},
            self.text,
            {**self.attributes, "transition_id": transition_id},
        )

    def to_outbox(self) -> dict[str, Any]:
        """The message as SNS takes it (subject, JSON body, e-mail text, attributes), within SNS's size limit."""
        body = dict(self.body)
        text = self.text
        if limits.json_size(body) + len(text.encode()) > limits.NOTICE_BUDGET:
            text = text[: limits.NOTICE_BUDGET // 8] + "\n... (shortened; the JSON body has the rest)"
            body = limits.fit({**body, "text": text}, limits.NOTICE_BUDGET // 2)
        return {
            "subject": self.subject,
            "default": json.dumps(body, sort_keys=True, default=str),
            "email": text,
            "attributes": dict(self.attributes),
            "chat": json.dumps(self.chat(), sort_keys=True),
            "detail_type": self.detail_type(),
            "resources": self.resources(),
        }

    def detail_type(self) -> str:
        """EventBridge's detail-type: the subject and the event, e.g. `Target Failing`, `Provider Drift`; a real
        workload's refusal (subject `refusal`) is `Workload Refused`."""
        if self.body.get("subject") == Subject.REFUSAL.value:
            return f"Workload {str(self.body.get('event', '')).title()}"
        return f"{str(self.body.get('subject', 'target')).title()} {str(self.body.get('event', '')).title()}"

    def resources(self) -> list[str]:
        """The AWS resources (ARNs) the notice is about, for EventBridge's `resources`."""
        arns = (self.body.get("role_arn"), self.body.get("provider_arn"))
        return [str(arn) for arn in arns if isinstance(arn, str) and arn.startswith("arn:")]

    def chat(self) -> dict[str, Any]:
        """AWS Chatbot's custom notification: title, the failing key and values, the fix and what to run next.
        https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html ("version" must be 1.0 and
        "source" custom; textType client-markdown is the only one supported)."""
        body = self.body
        verdict = body.get("verdict") or {}
        lines: list[str] = []
        if verdict.get("condition_key"):
            lines.append(f"*Failing key* `{verdict['condition_key']}`")
            lines.append(f"*Expected* `{', '.join(map(str, verdict.get('expected') or [])) or '(absent)'}`")
            lines.append(f"*Actual* `{', '.join(map(str, verdict.get('actual') or [])) or '(absent)'}`")
        for finding in body.get("findings") or []:
            if finding.get("severity") != "info":
                lines.append(f"*{finding.get('code')}* ({finding.get('severity')})")
        if body.get("error"):
            lines.append(f"*Could not check* {body['error']}")
        steps = [str(verdict["remedy"])] if verdict.get("remedy") else []
        subject_id = str(body.get("target_id") or body.get("provider_url") or "")
        if body.get("target_id"):
            steps.append(f"`webid-canary probe {subject_id}` shows the full verdict")
        else:
            steps.append(f"`webid-canary drift --issuer https://{subject_id}` shows every finding")
        resources = [str(r) for r in (body.get("role_arn"), body.get("provider_arn"), body.get("issuer")) if r]
        return {
            "version": "1.0",
            "source": "custom",
            "id": str(body.get("transition_id") or ""),
            "content": {
                "textType": "client-markdown",
                "title": self.subject.removeprefix("[webid-canary] "),
                "description": "\n".join(lines) or self.text.splitlines()[0],
                "nextSteps": steps,
                "keywords": [str(body.get("event")), str(body.get("severity")), str(body.get("root_cause"))],
            },
            "metadata": {
                "threadId": f"webid-canary-{body.get('subject')}-{subject_id}"[:128],
                "summary": self.subject,
                "eventType": str(body.get("event")),
                "relatedResources": resources,
                "additionalContext": {
                    "target_id": subject_id,
                    "root_cause": str(body.get("root_cause")),
                    "severity": str(body.get("severity")),
                    "transition_id": str(body.get("transition_id") or ""),
                },
            },
        }


def for_target(
    event: Event, result: TargetResult, record: StateRecord, *, now: datetime, resolved: str | None = None
) -> Notification:
    """`resolved` is the root cause a recovery clears, so filter policies on `root_cause` see both ends."""
    root_cause = (resolved if event is Event.RECOVERED else result.root_cause) or "none"
    severity = "info" if event is Event.RECOVERED else str(result.severity)
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
        "since": iso(record.since),
        "at": iso(now),
        "verdict": result.verdict.to_json() if result.verdict is not None else None,
        "open_to": [n.to_json() for n in result.open_to],
        "live": result.live.to_json() if result.live else None,
        "error": result.error,
    }
    subject = _subject(f"[webid-canary] {HEADLINE[event]}: {result.target_id} ({root_cause})")
    body["text"] = target_text(event, result, record)
    return Notification(subject, body, body["text"], _attributes(event, severity, body))


def for_provider(
    event: Event, result: ProviderResult, record: StateRecord, *, now: datetime, resolved: str | None = None
) -> Notification:
    severity = "info" if event is Event.RECOVERED else result.severity.value
    codes = sorted({f.code for f in result.serious}) or ([resolved] if resolved else [])
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
        "since": iso(record.since),
        "at": iso(now),
        "findings": [f.to_json() for f in result.findings],
    }
    subject = _subject(f"[webid-canary] {HEADLINE[event]}: provider {result.url} ({', '.join(codes) or 'clear'})")
    body["text"] = provider_text(event, result, record)
    return Notification(subject, body, body["text"], _attributes(event, severity, body))


def for_refusal(finding: TrailFinding, *, now: datetime) -> Notification:
    """A refusal a real workload met (from CloudTrail), explained from what was logged."""
    verdict = finding.verdict
    event = finding.event()
    severity = "info" if verdict.allowed else "high" if verdict.outcome == "deny" else "medium"
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "event": Event.REFUSED.value,
        "subject": Subject.REFUSAL.value,
        "severity": severity,
        "role_arn": finding.first.role_arn,
        "issuer": f"https://{finding.first.provider_url}",
        "root_cause": verdict.root_cause,
        "at": iso(now),
        "verdict": verdict.to_json(),
        "trail_event": event,
    }
    role_name = finding.first.role_arn.rsplit("/", 1)[-1]
    subject = _subject(f"[webid-canary] {HEADLINE[Event.REFUSED]}: {role_name} ({verdict.root_cause})")
    body["text"] = refusal_text(finding)
    attributes = _attributes(Event.REFUSED, severity, body)
    attributes["target_id"] = finding.first.role_arn
    return Notification(subject, body, body["text"], attributes)


def _attributes(event: Event, severity: str, body: Mapping[str, Any]) -> dict[str, str]:
    return {
        "event": event.value,
        "severity": severity,
        "target_id": str(body.get("target_id") or body.get("provider_url") or ""),
        "root_cause": str(body.get("root_cause") or "none"),
    }


def _subject(text: str) -> str:
    """SNS subjects are ASCII, one line, under 100 characters."""
    text = text.encode("ascii", "replace").decode().replace("\n", " ")
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."
