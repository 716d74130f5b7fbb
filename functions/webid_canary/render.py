"""Plain-text rendering of verdicts and lint findings for a person (terminal and e-mail share it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from webid_canary.core.catalogue import Kind, entry
from webid_canary.core.conditions import parse_operator
from webid_canary.core.lint import LintFinding
from webid_canary.core.verdict import Verdict


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
    if verdict.allowed:
        lines = [f"ALLOW  {verdict.explanation}"]
    elif verdict.indeterminate:
        lines = [f"UNKNOWN  cannot tell without the caller's facts: {', '.join(verdict.unknown_keys)}"]
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
