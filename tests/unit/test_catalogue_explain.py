"""Every root cause, hint and lint rule in the catalogue is reachable, and everything emitted has an entry."""

from __future__ import annotations

import json
from pathlib import Path

from webid_canary.core.case import parse_case
from webid_canary.core.catalogue import Kind, Severity, codes, entry
from webid_canary.core.explain import explain
from webid_canary.core.lint import lint
from webid_canary.core.policy import load_json, parse_trust_policy

HERE = Path(__file__).parent


def _cases() -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for path in sorted((HERE / "cases").glob("*.json")):
        found += load_json(path.read_text())  # type: ignore[arg-type]
    return found


def test_every_root_cause_and_hint_is_reached_by_a_case_and_has_an_entry() -> None:
    emitted_causes: set[str] = set()
    emitted_hints: set[str] = set()
    for case in _cases():
        verdict = explain(parse_case(case))
        emitted_causes.add(verdict.root_cause)
        emitted_hints.update(verdict.hints)

    assert emitted_causes == codes(Kind.ROOT_CAUSE)
    assert emitted_hints == codes(Kind.HINT)


def test_every_lint_rule_is_reached_and_has_an_entry() -> None:
    emitted: set[str] = set()
    for row in json.loads((HERE / "lint_cases.json").read_text()):
        emitted.update(f.code for f in lint(parse_trust_policy(row["policy"]), provider_url=row.get("provider_url")))
    duplicated = '{"Statement": {"Effect": "Allow", "Effect": "Allow", "Principal": "*", "Action": "*"}}'
    emitted.update(f.code for f in lint(parse_trust_policy(duplicated)))
    assert emitted == codes(Kind.LINT)


def test_entries_have_titles_remedies_and_explanations_where_needed() -> None:
    for kind in (Kind.ROOT_CAUSE, Kind.HINT, Kind.LINT):
        for code in codes(kind):
            item = entry(kind, code)
            assert item.title and item.remedy, code
            assert isinstance(item.severity, Severity)
            if kind is Kind.ROOT_CAUSE:
                assert item.explanation, code
