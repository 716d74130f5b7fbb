"""Every root cause the monitor can put on a target or a provider has a catalogue entry (title, severity, fix)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webid_canary.core.catalogue import Kind, Severity, codes, lookup
from webid_canary.core.drift import DriftFinding, check_error
from webid_canary.core.report import LiveResult, ProviderResult, TargetResult
from webid_canary.core.state import Status
from webid_canary.core.sts import ERROR_CODES
from webid_canary.core.verdict import Verdict

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ALLOWED = Verdict("allow", None, "", "none")


def target_causes() -> list[str | None]:
    results = [
        TargetResult("t", Status.ERROR, error="IAM unreachable"),
        TargetResult("t", Status.OPEN, verdict=ALLOWED),
        *(
            TargetResult("t", Status.FAILING, verdict=Verdict("deny", "AccessDenied", "", code))
            for code in codes(Kind.ROOT_CAUSE) - {"none"}
        ),
        *(
            TargetResult("t", Status.FAILING, verdict=ALLOWED, live=LiveResult(False, code, "", None, False))
            for code in [*ERROR_CODES, "SomethingNew"]
        ),
    ]
    return [r.root_cause for r in results]


def provider_causes() -> list[str | None]:
    findings = [DriftFinding(code, Severity.CRITICAL, {}) for code in codes(Kind.DRIFT)]
    findings.append(check_error("example.com", "GetOpenIDConnectProvider: Throttling"))
    return [ProviderResult("example.com", None, Status.DRIFT, findings=(f,)).root_cause for f in findings]


@pytest.mark.parametrize("cause", sorted({c for c in target_causes() + provider_causes() if c}))
def test_every_emitted_root_cause_has_an_entry(cause: str) -> None:
    entry = lookup(cause)
    assert entry.title and entry.remedy
    assert isinstance(entry.severity, Severity)


def test_the_monitors_own_codes_are_the_ones_it_emits() -> None:
    emitted = {c for c in target_causes() + provider_causes() if c} - codes(Kind.ROOT_CAUSE) - codes(Kind.DRIFT)
    assert emitted == codes(Kind.MONITOR)
    assert {"check_error", "trust_open", "sts_AccessDenied", "sts_unexpected"} <= emitted


def test_an_unknown_code_has_no_entry() -> None:
    with pytest.raises(KeyError):
        lookup("sts_SomethingNew")
