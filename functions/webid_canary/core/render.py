"""Human text, in one place: verdicts, lint findings, the e-mail text of notices and the probe's one-line detail.

Plain text only (the CLI adds colour around it); the e-mail text ships with the Lambda, so this stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from webid_canary.core.catalogue import Kind, entry
from webid_canary.core.conditions import parse_operator
from webid_canary.core.context import caller_fact_of
from webid_canary.core.lint import LintFinding
from webid_canary.core.report import ProviderResult, TargetResult
from webid_canary.core.state import Event, StateRecord, Status
from webid_canary.core.trail import TrailFinding
from webid_canary.core.verdict import Verdict

HEADLINE: Final[Mapping[Event, str]] = {
    Event.FAILING: "FAILING",
    Event.OPEN: "OPEN TO THE WRONG WORKLOAD",
    Event.ERROR: "CANNOT BE CHECKED",
    Event.DRIFT: "DRIFT",
    Event.CHANGED: "NEW REASON",
    Event.REMINDER: "STILL BROKEN",
    Event.RECOVERED: "RECOVERED",
    Event.REFUSED: "REFUSED BY STS",
}


def _values(values: Iterable[str]) -> str:
    shown = [repr(v) for v in values]
    return ", ".join(shown) if shown else "(absent)"


def _negated(operator: str) -> bool:
    try:
        return parse_operator(operator).negated
    except ValueError:
        return False


def verdict_lines(verdict: Verdict, *, trace: bool = False) -> list[str]:
    """A short account of one verdict: outcome, cause, failing key with values, why, fix, hints."""
    if verdict.allowed and verdict.unchecked:
        checks = ", ".join(verdict.unchecked)
        lines = [f"ALLOW  if what was not checked holds: {checks} not checked", f"why    {verdict.explanation}"]
    elif verdict.allowed:
        lines = [f"ALLOW  {verdict.explanation}"]
    elif verdict.indeterminate:
        facts = "the caller's facts" if all(caller_fact_of(k) for k in verdict.unknown_keys) else "the values of"
        lines = [f"UNKNOWN  cannot tell without {facts}: {', '.join(verdict.unknown_keys)}"]
        lines.append(f"why    {verdict.explanation}")
    else:
        title = entry(Kind.ROOT_CAUSE, verdict.root_cause).title
        lines = [f"DENY   {verdict.error_code}: {verdict.message}", f"cause  {verdict.root_cause}: {title}"]
        if verdict.condition_key is not None:
            negated = verdict.condition_operator is not None and _negated(verdict.condition_operator)
            lines += [
                f"key    {verdict.condition_key} ({verdict.condition_operator})",
                f"  {'must not match' if negated else 'expected'} {_values(verdict.expected)}",
                f"  actual   {_values(verdict.actual)}"
                + (f" (the token's {verdict.actual_from})" if verdict.actual_from else ""),
            ]
        lines.append(f"why    {verdict.explanation}")
    lines.append(f"fix    {verdict.remedy}")
    for hint in verdict.hints:
        lines.append(f"hint   {hint}: {entry(Kind.HINT, hint).title}")
    if trace:
        lines.append("trace")
        lines += [f"  {step}" for step in verdict.trace]
    return lines


def render_verdict(verdict: Verdict, *, trace: bool = False) -> str:
    """The verdict as plain text."""
    return "\n".join(verdict_lines(verdict, trace=trace))


def _evidence(evidence: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value}" for key, value in evidence.items())


def finding_lines(findings: Iterable[LintFinding]) -> list[str]:
    """One block per lint finding: severity, code and title, evidence, remedy."""
    lines: list[str] = []
    for finding in findings:
        rule = entry(Kind.LINT, finding.code)
        lines += [
            f"{finding.severity.upper():8} {finding.code}: {rule.title}",
            f"         {_evidence(finding.evidence)}",
            f"         fix: {rule.remedy}",
        ]
    return lines or ["no findings"]


def render_findings(findings: Iterable[LintFinding]) -> str:
    """Lint findings as plain text."""
    return "\n".join(finding_lines(findings))


# ----- notices (e-mail text) and the probe's detail column


def iso(moment: datetime) -> str:
    """An instant as people and JSON read it: ISO-8601 with Z."""
    return moment.isoformat().replace("+00:00", "Z")


def _listed(values: object) -> str:
    if isinstance(values, list | tuple):
        return ", ".join(repr(v) for v in values) if values else "(absent)"
    return repr(values)


def target_text(event: Event, result: TargetResult, record: StateRecord) -> str:
    """What a person reads in ten seconds: what broke, the failing key with both values, the fix."""
    verdict = result.verdict
    lines = [f"{HEADLINE[event]}: target {result.target_id} (role {result.role_arn})"]
    if event is Event.RECOVERED:
        lines.append(f"The role can be assumed again as registered. Problem began {iso(record.since)}.")
        return "\n".join(lines)
    lines.append(f"Since {iso(record.since)}; issuer {result.issuer}.")
    if result.error:
        lines.append(f"Could not check: {result.error}")
    if verdict is not None and verdict.indeterminate:
        lines.append(f"Cannot tell without the caller's facts: {', '.join(verdict.unknown_keys)}")
        lines.append(f"Why: {verdict.explanation}")
    elif verdict is not None and not verdict.allowed:
        lines.append(f"STS answers: {verdict.error_code}: {verdict.message}")
        lines.append(f"Why: {verdict.explanation}")
        if verdict.condition_key:
            negated = verdict.condition_operator is not None and _negated(verdict.condition_operator)
            operator = f" ({verdict.condition_operator})" if verdict.condition_operator else ""
            lines.append(f"Failing key: {verdict.condition_key}{operator}")
            lines.append(f"  {'must not match' if negated else 'expected'}: {_listed(verdict.expected)}")
            source = f" (the token's {verdict.actual_from})" if verdict.actual_from else ""
            lines.append(f"  actual:   {_listed(verdict.actual)}{source}")
        if verdict.hints:
            lines.append(f"Hints: {', '.join(verdict.hints)}")
        lines.append(f"Fix: {verdict.remedy}")
    if result.live is not None and not result.live.agrees:
        lines.append(
            f"Live STS answered {'allow' if result.live.allowed else result.live.error_code}, "
            f"which the prediction did not expect."
        )
    for probe in result.open_to:
        lines.append(f"Trust policy also accepts {probe.label}: sub {probe.sub!r}. Pin the sub condition.")
    return "\n".join(lines)


def provider_text(event: Event, result: ProviderResult, record: StateRecord) -> str:
    """The provider's notice text: each serious finding with its evidence and the fix."""
    lines = [f"{HEADLINE[event]}: OIDC provider {result.url}"]
    if event is Event.RECOVERED:
        lines.append(f"The provider matches its issuer again. Drift began {iso(record.since)}.")
        return "\n".join(lines)
    lines.append(f"Since {iso(record.since)}.")
    for finding in result.serious:
        evidence = ", ".join(f"{k}={v}" for k, v in sorted(finding.evidence.items()))
        lines.append(f"- {finding.code} ({finding.severity.value}): {evidence}")
        lines.append(f"  fix: {finding.entry.remedy}")
    return "\n".join(lines)


def target_detail(target: TargetResult) -> str:
    """One line for a probe table row: the error, who the trust is open to, the failing key, or why STS refused."""
    verdict = target.verdict
    if target.error:
        return target.error
    if target.status is Status.OPEN and target.open_to:
        return "accepts " + "; ".join(f"{n.label} ({n.sub})" for n in target.open_to)
    if verdict is not None and verdict.condition_key:
        return f"{verdict.condition_key}: expected {list(verdict.expected)}, got {list(verdict.actual)}"
    if target.live is not None and not target.live.agrees:
        return f"live STS said {target.live.error_code or 'allow'}; the prediction differs"
    return verdict.explanation if verdict is not None and not verdict.allowed else ""


def refusal_text(finding: TrailFinding) -> str:
    """The e-mail text of a refusal a real workload met: who, how often, and the verdict."""
    event = finding.event()
    sources = ", ".join(str(ip) for ip in event["source_ips"]) or "?"  # type: ignore[attr-defined]
    lines = [
        f"{HEADLINE[Event.REFUSED]}: role {event['role_arn']}",
        f"sub {event['sub']}, aud {event['aud']}, from {sources}: {event['error_code']} x{event['count']} "
        f"between {event['first_time']} and {event['last_time']} (CloudTrail).",
        *verdict_lines(finding.verdict),
    ]
    return "\n".join(lines)
