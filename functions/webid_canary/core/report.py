"""What a cycle found: one result per target and per provider, and the fleet counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webid_canary.core.catalogue import SEVERITY_ORDER, Severity
from webid_canary.core.drift import DriftFinding, ProviderBaseline
from webid_canary.core.inspection import HostFacts
from webid_canary.core.lint import LintFinding
from webid_canary.core.state import Status, fingerprint
from webid_canary.core.sts import ERROR_CODES
from webid_canary.core.verdict import Verdict

# Root causes of the monitor's own (beyond the explain engine's and drift's): catalogued in catalogue/monitor.py.
CHECK_ERROR = "check_error"
TRUST_OPEN = "trust_open"
STS_PREFIX = "sts_"
STS_UNEXPECTED = "sts_unexpected"


@dataclass(frozen=True, slots=True)
class NegativeProbe:
    """A claim set the role must refuse, and whether the trust policy would accept it."""

    label: str
    sub: str
    allowed: bool
    registered: bool
    crosses_boundary: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "sub": self.sub,
            "allowed": self.allowed,
            "registered": self.registered,
            "crosses_boundary": self.crosses_boundary,
        }


@dataclass(frozen=True, slots=True)
class LiveResult:
    """What STS answered to the live probe, and whether the prediction agreed."""

    allowed: bool
    error_code: str | None
    message: str | None
    caller_arn: str | None
    agrees: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "error_code": self.error_code,
            "message": self.message,
            "caller_arn": self.caller_arn,
            "agrees_with_prediction": self.agrees,
        }


@dataclass(frozen=True, slots=True)
class TargetResult:
    target_id: str
    status: Status
    role_arn: str | None = None
    issuer: str | None = None
    severity: str = Severity.HIGH
    owner: str | None = None
    alarm: bool = False
    topic_arn: str | None = None
    verdict: Verdict | None = None
    live: LiveResult | None = None
    negatives: tuple[NegativeProbe, ...] = ()
    lint: tuple[LintFinding, ...] = ()
    error: str | None = None

    @property
    def root_cause(self) -> str | None:
        if self.status is Status.ERROR:
            return CHECK_ERROR
        if self.status is Status.OPEN:
            return TRUST_OPEN
        if self.verdict is not None and self.verdict.root_cause != "none":
            return self.verdict.root_cause
        if self.live is not None and not self.live.allowed:
            code = self.live.error_code
            return f"{STS_PREFIX}{code}" if code in ERROR_CODES else STS_UNEXPECTED
        return None

    @property
    def open_to(self) -> tuple[NegativeProbe, ...]:
        return tuple(n for n in self.negatives if n.allowed and (n.registered or n.crosses_boundary))

    def fingerprint(self) -> str | None:
        """Identifies the current problem: the same problem keeps its fingerprint, a new reason changes it."""
        if self.status is Status.OK:
            return None
        verdict = self.verdict
        return fingerprint(
            self.status.value,
            self.root_cause,
            verdict.condition_key if verdict else None,
            list(verdict.expected) if verdict else None,
            list(verdict.actual) if verdict else None,
            sorted(n.sub for n in self.open_to),
            sorted(f.code for f in self.lint if f.severity is Severity.CRITICAL),
            self.live.error_code if self.live else None,
            self.error,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "status": self.status.value,
            "root_cause": self.root_cause,
            "role_arn": self.role_arn,
            "issuer": self.issuer,
            "severity": str(self.severity),
            "owner": self.owner,
            "verdict": self.verdict.to_json() if self.verdict is not None else None,
            "live": self.live.to_json() if self.live else None,
            "open_to": [n.to_json() for n in self.open_to],
            "negatives": [n.to_json() for n in self.negatives],
            "lint": [f.to_json() for f in self.lint],
            "error": self.error,
        }

    def to_state_json(self) -> dict[str, Any]:
        """What the State table keeps of the result: what the next cycle, the notices and the fleet report read
        (the verdict without its trace, who the trust is open to), not every probe."""
        kept = self.to_json()
        if kept["verdict"] is not None:
            kept["verdict"] = {k: v for k, v in kept["verdict"].items() if k != "trace"}
        del kept["negatives"]
        return kept


@dataclass(frozen=True, slots=True)
class ProviderResult:
    url: str
    arn: str | None
    status: Status
    hosts: tuple[HostFacts, ...] = ()
    findings: tuple[DriftFinding, ...] = ()
    baseline: ProviderBaseline | None = None

    @property
    def serious(self) -> tuple[DriftFinding, ...]:
        return tuple(f for f in self.findings if f.serious)

    @property
    def severity(self) -> Severity:
        """The highest severity among the serious findings (info when there are none)."""
        return max((f.severity for f in self.serious), key=SEVERITY_ORDER.__getitem__, default=Severity.INFO)

    def fingerprint(self) -> str | None:
        if self.status is Status.OK:
            return None
        return fingerprint(sorted(f.code for f in self.serious))

    @property
    def root_cause(self) -> str | None:
        codes = sorted({f.code for f in self.serious})
        return codes[0] if codes and self.status is not Status.OK else None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "arn": self.arn,
            "status": self.status.value,
            "root_cause": self.root_cause,
            "hosts": [h.to_json() for h in self.hosts],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class CycleReport:
    started: datetime
    finished: datetime
    targets: tuple[TargetResult, ...]
    providers: tuple[ProviderResult, ...]
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def count(self, status: Status) -> int:
        return sum(1 for t in self.targets if t.status is status)

    @property
    def duration_seconds(self) -> float:
        return (self.finished - self.started).total_seconds()

    @property
    def drifting(self) -> int:
        return sum(1 for p in self.providers if p.status is Status.DRIFT)

    def summary(self) -> dict[str, Any]:
        return {
            "targets": len(self.targets),
            "ok": self.count(Status.OK),
            "failing": self.count(Status.FAILING),
            "open": self.count(Status.OPEN),
            "error": self.count(Status.ERROR),
            "providers": len(self.providers),
            "drifting": self.drifting,
            "skipped": len(self.skipped),
            "duration_seconds": round(self.duration_seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "summary": self.summary(),
            "targets": [t.to_json() for t in self.targets],
            "providers": [p.to_json() for p in self.providers],
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }


def worst(statuses: Sequence[Status]) -> Status:
    order = (Status.ERROR, Status.FAILING, Status.OPEN, Status.DRIFT)
    return next((s for s in order if s in statuses), Status.OK)
