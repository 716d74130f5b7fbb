"""No input, however malformed, crashes the engine: it answers, or raises InputError naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webid_canary.core.case import parse_case
from webid_canary.core.explain import explain
from webid_canary.core.model import InputError
from webid_canary.core.policy import load_json

BASE = load_json((Path(__file__).parent / "cases" / "root_causes.json").read_text())[0]  # type: ignore[index]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = (
    "role_arn",
    "trust_policy",
    "oidc_provider",
    "token_claims",
    "token",
    "request",
    "role_max_session_duration",
    "now",
    "idp_environment",
)


def _answer_or_input_error(doc: Any) -> None:
    try:
        case = parse_case(doc)
    except InputError as exc:
        assert exc.field and exc.reason
        return
    verdict = explain(case)
    assert verdict.outcome in ("allow", "deny")
    assert isinstance(verdict.to_json()["trace"], list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=9))
def test_random_documents(doc: dict[str, Any]) -> None:
    _answer_or_input_error(doc)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELDS), json_values)
def test_one_field_of_a_valid_case_replaced(field: str, value: Any) -> None:
    doc = copy.deepcopy(BASE)
    doc[field] = value
    _answer_or_input_error(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), json_values)
def test_any_claim_of_any_type(claim: str, value: Any) -> None:
    doc = copy.deepcopy(BASE)
    doc["token_claims"][claim] = value
    _answer_or_input_error(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=20), st.lists(json_values, max_size=3))
def test_any_condition_operator_key_and_values(operator: str, key: str, values: list[Any]) -> None:
    doc = copy.deepcopy(BASE)
    doc["trust_policy"]["Statement"][0]["Condition"] = {operator: {key: values}}
    _answer_or_input_error(doc)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_raw_token(token: str) -> None:
    doc = copy.deepcopy(BASE)
    del doc["token_claims"]
    doc["token"] = token
    _answer_or_input_error(doc)
