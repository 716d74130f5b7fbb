"""The answer to one request: what STS says, why, and what to change. Built from codes and evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from .catalogue import Entry, Kind, entry
from .catalogue.explain import STS_ANSWERS

ALLOW = "allow"
DENY = "deny"

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Finding:
    """A failed check: its root cause code, the evidence behind it, and for conditions the key and values."""

    code: str
    evidence: Mapping[str, object] = field(default=_EMPTY)
    condition_key: str | None = None
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()


class _Evidence(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, evidence: Mapping[str, object]) -> str:
    """A catalogue template filled with evidence; an unknown field shows as `?`, never raises."""
    return _fill(template, _Evidence(evidence))


def _fill(template: str, evidence: _Evidence) -> str:
    if "{" not in template:
        return template
    try:
        return template.format_map(evidence)
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


@dataclass(frozen=True, slots=True)
class Verdict:
    """The prediction for one AssumeRoleWithWebIdentity request (the explain contract's JSON, as a type)."""

    outcome: str
    error_code: str | None
    message: str
    root_cause: str
    condition_key: str | None = None
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    explanation: str = ""
    remedy: str = ""
    trace: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW

    def to_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "error_code": self.error_code,
            "message": self.message,
            "root_cause": self.root_cause,
            "condition_key": self.condition_key,
            "expected": list(self.expected),
            "actual": list(self.actual),
            "hints": list(self.hints),
            "explanation": self.explanation,
            "remedy": self.remedy,
            "trace": list(self.trace),
        }


@cache
def _cause(code: str) -> tuple[Entry, str | None, str]:
    """A root cause's catalogue entry with STS's error code and message template, looked up once per code."""
    return (entry(Kind.ROOT_CAUSE, code), *STS_ANSWERS[code])


@cache
def _hint_remedy(code: str) -> str:
    return entry(Kind.HINT, code).remedy


def make_verdict(finding: Finding, hints: tuple[str, ...], trace: tuple[str, ...]) -> Verdict:
    """Turn a finding into a verdict using the catalogue's texts and STS's error code and message."""
    cause, error_code, message = _cause(finding.code)
    evidence = _Evidence(finding.evidence)
    remedies = [_fill(_hint_remedy(hint), evidence) for hint in hints]
    if finding.code != "none" or not hints:
        remedies.insert(0, _fill(cause.remedy, evidence))
    return Verdict(
        outcome=ALLOW if finding.code == "none" else DENY,
        error_code=error_code,
        message=_fill(message, evidence),
        root_cause=finding.code,
        condition_key=finding.condition_key,
        expected=finding.expected,
        actual=finding.actual,
        hints=hints,
        explanation=_fill(cause.explanation, evidence),
        remedy=" ".join(remedies),
        trace=trace,
    )
