"""One catalogue of every code the product can report: root causes, hints, lint rules, drift findings.

Checks return codes and evidence; titles, severities and remedies live here, as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    ROOT_CAUSE = "root_cause"
    HINT = "hint"
    LINT = "lint"
    DRIFT = "drift"
    MONITOR = "monitor"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


SEVERITY_ORDER: Mapping[Severity, int] = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


@dataclass(frozen=True, slots=True)
class Entry:
    code: str
    kind: Kind
    title: str
    severity: Severity
    remedy: str
    explanation: str = ""


def _index(*groups: tuple[Entry, ...]) -> dict[tuple[Kind, str], Entry]:
    index: dict[tuple[Kind, str], Entry] = {}
    for group in groups:
        for entry in group:
            key = (entry.kind, entry.code)
            if key in index:
                raise ValueError(f"catalogue: duplicate {entry.kind} code {entry.code!r}")
            index[key] = entry
    return index


def _load() -> dict[tuple[Kind, str], Entry]:
    from . import drift, explain, lint, monitor

    return _index(explain.ENTRIES, lint.ENTRIES, drift.ENTRIES, monitor.ENTRIES)


CATALOGUE: Mapping[tuple[Kind, str], Entry] = _load()


def entry(kind: Kind, code: str) -> Entry:
    """The catalogue entry for a code; a KeyError here is a bug (a code without an entry)."""
    return CATALOGUE[(kind, code)]


def lookup(code: str) -> Entry:
    """The entry of any root cause a result can carry: the engine's, the monitor's, or drift's."""
    for kind in (Kind.ROOT_CAUSE, Kind.MONITOR, Kind.DRIFT):
        found = CATALOGUE.get((kind, code))
        if found is not None:
            return found
    raise KeyError(f"no catalogue entry for {code!r}")


def codes(kind: Kind) -> frozenset[str]:
    return frozenset(code for k, code in CATALOGUE if k is kind)
