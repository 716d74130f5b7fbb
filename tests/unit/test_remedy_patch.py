"""Remedies proven by the engine: putting `remedy_patch.trust_policy` in place lets the request past the trust
policy, for every trust-policy denial among the project's cases (tests/unit/cases and the shared examples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.case import parse_case
from webid_canary.core.explain import TRUST_FIXES, explain
from webid_canary.core.policy import load_json

HERE = Path(__file__).parent
FOLDERS = (HERE / "cases", HERE.parents[2] / "shared" / "examples" / "cases")


def _cases() -> list[Any]:
    found = []
    for folder in FOLDERS:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            loaded = load_json(path.read_text())
            for case in loaded if isinstance(loaded, list) else [loaded]:
                found.append(pytest.param(case, id=f"{path.stem}:{case.get('id', path.stem)}"))
    return found


CASES = _cases()
TRUST_DENIALS = [p for p in CASES if explain(parse_case(p.values[0])).root_cause in TRUST_FIXES]


def _statements(policy: Any) -> list[Any]:
    statements = (load_json(policy) if isinstance(policy, str) else policy)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def test_the_cases_hold_trust_denials_of_every_kind() -> None:
    kinds = {explain(parse_case(p.values[0])).root_cause for p in TRUST_DENIALS}

    assert kinds == TRUST_FIXES


@pytest.mark.parametrize("case", TRUST_DENIALS)
def test_the_patched_trust_policy_lets_the_request_in(case: dict[str, Any]) -> None:
    verdict = explain(parse_case(case))
    assert verdict.remedy_patch is not None, verdict.remedy

    # A case from a log keeps its logged refusal; the patched policy is judged as for a new request.
    fresh = {**case, "logged": {**case["logged"], "error_code": None}} if "logged" in case else case
    patched = explain(parse_case({**fresh, "trust_policy": verdict.to_json()["remedy_patch"]["trust_policy"]}))  # type: ignore[index]

    assert patched.root_cause not in TRUST_FIXES
    assert patched.outcome in ("allow", "indeterminate") or patched.root_cause in ("request_duration_exceeds_max",)


@pytest.mark.parametrize(
    "case", [p for p in TRUST_DENIALS if p.values[0]["expected"]["root_cause"] == "trust_explicit_deny"]
)
def test_a_deliberate_deny_is_patched_by_removing_only_that_statement(case: dict[str, Any]) -> None:
    verdict = explain(parse_case(case))
    patch = verdict.to_json()["remedy_patch"]["trust_policy"]  # type: ignore[index]

    before, after = _statements(case["trust_policy"]), _statements(patch)
    removed = [s for s in before if s not in after]
    assert len(removed) == 1 and removed[0]["Effect"] == "Deny"
    assert all(s in before for s in after)


def test_nine_in_ten_patched_denials_are_allowed_outright() -> None:
    outcomes = []
    for param in TRUST_DENIALS:
        case = param.values[0]
        patch = explain(parse_case(case)).to_json()["remedy_patch"]
        outcomes.append(explain(parse_case({**case, "trust_policy": patch["trust_policy"]})).outcome)  # type: ignore[index]

    assert outcomes.count("allow") >= 0.9 * len(outcomes)


def test_a_token_of_another_provider_gets_its_own_statement_and_the_trusted_provider_stays() -> None:
    case = next(p.values[0] for p in TRUST_DENIALS if p.values[0]["id"] == "principal-other-provider")
    patch = explain(parse_case(case)).to_json()["remedy_patch"]["trust_policy"]  # type: ignore[index]

    before, after = _statements(case["trust_policy"]), _statements(patch)
    assert after[: len(before)] == before
    added = after[len(before) :]
    assert [s["Principal"]["Federated"] for s in added] == [
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    ]
    assert (
        added[0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == case["token_claims"]["sub"]
    )


def test_the_remedy_prose_names_every_edit_of_the_patch() -> None:
    case = next(p.values[0] for p in TRUST_DENIALS if p.values[0]["id"] == "github-pull-request")
    verdict = explain(parse_case(case))

    assert verdict.remedy.startswith("If this workload should be trusted: in the trust policy of")
    edit = "in statement 1, add 'repo:acme/payments:pull_request' to the values of StringLike "
    assert edit + "token.actions.githubusercontent.com:sub" in verdict.remedy


@pytest.mark.parametrize("case", [p for p in CASES if p not in TRUST_DENIALS])
def test_no_patch_when_the_fix_is_not_a_trust_policy_edit(case: dict[str, Any]) -> None:
    assert explain(parse_case(case)).remedy_patch is None
