"""Lint findings as SARIF 2.1.0, the format GitHub code scanning (and most CI dashboards) read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from webid_canary import __version__, names
from webid_canary.core.catalogue import CATALOGUE, Kind, Severity
from webid_canary.core.lint import PlacedFinding

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub ranks security alerts by this property (critical is 9.0 and above, high 7.0 to 8.9, ...).
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _rules() -> list[dict[str, Any]]:
    rules = []
    for (kind, code), rule in sorted(CATALOGUE.items()):
        if kind is not Kind.LINT:
            continue
        rules.append(
            {
                "id": code,
                "name": "".join(part.title() for part in code.split("_")),
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": rule.explanation or rule.title},
                "help": {"text": rule.remedy, "markdown": f"**{rule.title}**\n\n{rule.remedy}"},
                "defaultConfiguration": {"level": LEVEL[rule.severity]},
                "properties": {
                    "tags": ["security", "iam", "trust-policy"],
                    "security-severity": SECURITY_SEVERITY[rule.severity],
                },
            }
        )
    return rules


def _location(placed: PlacedFinding) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if placed.artifact is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(placed.artifact, safe="/:")}}
        if placed.line is not None:
            physical["region"] = {"startLine": placed.line}
        location["physicalLocation"] = physical
    if placed.address is not None:
        location["logicalLocations"] = [
            {"name": placed.address, "fullyQualifiedName": placed.address, "kind": "resource"}
        ]
    return location


def _message(placed: PlacedFinding, title: str) -> str:
    evidence = ", ".join(f"{key}={value}" for key, value in placed.finding.evidence.items())
    where = f" in {placed.address}" if placed.address else ""
    return f"{title}{where}" + (f" ({evidence})" if evidence else "")


def sarif_log(findings: Sequence[PlacedFinding]) -> dict[str, Any]:
    """One run of the lint tool: every lint rule of the catalogue, and one result per finding."""
    rules = _rules()
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    results = []
    for placed in findings:
        finding = placed.finding
        title = CATALOGUE[(Kind.LINT, finding.code)].title
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": index[finding.code],
            "level": LEVEL[finding.severity],
            "message": {"text": _message(placed, title)},
            "properties": {"severity": str(finding.severity), "evidence": dict(finding.evidence)},
        }
        location = _location(placed)
        if location:
            result["locations"] = [location]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": names.SERVICE_NAME,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
