"""The explain engine against table-driven cases written from AWS documentation (tests/unit/cases/*.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.case import parse_case
from webid_canary.core.explain import explain
from webid_canary.core.policy import load_json

CASES_DIR = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    found = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for case in load_json(path.read_text()):  # type: ignore[union-attr]
            found.append(pytest.param(case, id=f"{path.stem}:{case['id']}"))
    return found


CASES = _load()


def test_every_case_cites_a_source() -> None:
    for param in CASES:
        case = param.values[0]
        assert str(case.get("source", "")).startswith("https://"), case["id"]


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    want = case["expected"]
    verdict = explain(parse_case(case)).to_json()

    assert verdict["outcome"] == want["outcome"]
    assert verdict["error_code"] == want["error_code"]
    assert verdict["root_cause"] == want["root_cause"]
    if "condition_key" in want:
        assert verdict["condition_key"] == want["condition_key"]
    if "hints" in want:
        assert set(verdict["hints"]) == set(want["hints"])  # type: ignore[arg-type]
    if "expected" in want:
        assert verdict["expected"] == want["expected"]
    if "actual" in want:
        assert verdict["actual"] == want["actual"]
    if "actual_from" in want:
        assert verdict["actual_from"] == want["actual_from"]
    for field in ("explanation", "remedy"):
        for text in want.get(f"{field}_contains", []):
            assert text in verdict[field]
        for text in want.get(f"{field}_excludes", []):
            assert text not in verdict[field]
    if "unknown_keys" in want:
        assert verdict["unknown_keys"] == want["unknown_keys"]
    assert bool(verdict["unknown_keys"]) == (verdict["outcome"] == "indeterminate")
