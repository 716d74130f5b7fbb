"""The Targets item schema: table-driven cases (tests/unit/data/target_items.json), every field good and bad."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.catalogue import Severity
from webid_canary.core.model import InputError
from webid_canary.core.targets import (
    FIELDS,
    Claims,
    ClientCredentialsSource,
    CognitoDeveloperIdentitySource,
    SecretSource,
    Target,
    TargetError,
    parse_target,
    target_to_item,
    validate_target,
)

CASES = json.loads((Path(__file__).parent / "data" / "target_items.json").read_text())
BASE: dict[str, Any] = CASES["base"]


def build(case: dict[str, Any]) -> Any:
    if "item" in case:
        return case["item"]
    item = {k: v for k, v in BASE.items() if k in case.get("keep", BASE)}
    for key in case.get("remove", []):
        item.pop(key, None)
    item.update(case.get("set", {}))
    return item


@pytest.mark.parametrize("case", CASES["valid"], ids=[c["name"] for c in CASES["valid"]])
def test_valid_items_parse_and_round_trip(case: dict[str, Any]) -> None:
    item = build(case)

    target = parse_target(item)

    assert validate_target(item) == ()
    assert target.target_id == item["target_id"]
    assert parse_target(target_to_item(target)) == target
    assert json.loads(json.dumps(target_to_item(target))) == target_to_item(target)


@pytest.mark.parametrize("case", CASES["invalid"], ids=[c["name"] for c in CASES["invalid"]])
def test_invalid_items_are_refused_naming_the_field(case: dict[str, Any]) -> None:
    item = build(case)

    with pytest.raises(TargetError) as caught:
        parse_target(item)

    assert caught.value.field == case["field"], str(caught.value)
    assert case["reason"] in caught.value.reason
    assert str(caught.value).startswith(f"{case['field']}: ")
    assert isinstance(caught.value, InputError)
    assert [e.field for e in validate_target(item)].count(case["field"]) == 1


def test_every_field_of_the_schema_has_a_refusal_case() -> None:
    refused = {c["field"].split(".")[0].split("[")[0] for c in CASES["invalid"]}
    assert set(FIELDS) <= refused


def test_defaults_fill_what_an_item_leaves_out() -> None:
    target = parse_target({k: BASE[k] for k in ("target_id", "role_arn", "issuer", "claims")})

    assert (target.session_name, target.duration_seconds, target.severity) == ("webid-canary", 900, Severity.HIGH)
    assert (target.alarm, target.enabled, target.token_source, target.must_deny) == (False, True, None, ())
    assert (target.owner, target.topic_arn, target.notes, target.claims_are_representative) == (
        None,
        None,
        None,
        False,
    )


def test_dynamodb_item_with_decimals_and_string_sets_is_accepted() -> None:
    item = dict(BASE)
    item["duration_seconds"] = Decimal(3600)
    item["claims"] = {"sub": "x", "aud": {"b", "a"}, "run_attempt": Decimal("2")}

    target = parse_target(item)

    assert target.duration_seconds == 3600
    assert isinstance(target.duration_seconds, int)
    assert target.claims["aud"] == ("a", "b")
    assert target.claims["run_attempt"] == 2


def test_fractional_decimal_duration_is_refused() -> None:
    with pytest.raises(TargetError, match=r"^duration_seconds: must be a whole number"):
        parse_target({**BASE, "duration_seconds": Decimal("900.5")})


def test_parsed_target_is_frozen_and_hashable() -> None:
    target = parse_target(BASE)

    with pytest.raises(AttributeError):
        target.enabled = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        target.claims["sub"] = "other"  # type: ignore[index]
    assert {target: 1}[parse_target(dict(BASE))] == 1


def test_claims_keep_nested_objects_immutable_and_lists_as_tuples() -> None:
    tags = {"principal_tags": {"team": ["pay"]}, "transitive_tag_keys": ["team"]}
    target = parse_target({**BASE, "claims": {"sub": "x", "aud": ["a", "b"], "https://aws.amazon.com/tags": tags}})

    nested = target.claims["https://aws.amazon.com/tags"]
    assert isinstance(nested, Claims)
    assert nested["transitive_tag_keys"] == ("team",)
    assert target.claims["aud"] == ("a", "b")
    assert target_to_item(target)["claims"] == {"sub": "x", "aud": ["a", "b"], "https://aws.amazon.com/tags": tags}


def test_must_deny_entries_are_merged_over_the_targets_claims() -> None:
    target = parse_target(
        {**BASE, "must_deny": [{"sub": "system:serviceaccount:payments:debug"}, {"sub": "y", "aud": "other"}]}
    )

    assert target.deny_claims() == (
        Claims({"sub": "system:serviceaccount:payments:debug", "aud": "sts.amazonaws.com"}),
        Claims({"sub": "y", "aud": "other"}),
    )


def test_token_sources_parse_into_typed_values_with_defaults() -> None:
    client = parse_target(
        {
            **BASE,
            "token_source": {
                "type": "client_credentials",
                "token_endpoint": "https://login.acme.example/token",
                "client_id": "canary",
                "secret_id": "webid-canary/acme",
            },
        }
    ).token_source
    cognito = parse_target(
        {
            **BASE,
            "token_source": {
                "type": "cognito_developer_identity",
                "identity_pool_id": "eu-west-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93",
                "developer_provider_name": "login.acme",
                "login_id": "canary",
            },
        }
    ).token_source
    secret = parse_target({**BASE, "token_source": {"type": "secret", "secret_id": "webid-canary/t"}}).token_source

    assert client == ClientCredentialsSource(
        token_endpoint="https://login.acme.example/token", client_id="canary", secret_id="webid-canary/acme"
    )
    assert client.auth_method == "client_secret_basic"
    assert client.token_field == "access_token"
    assert isinstance(cognito, CognitoDeveloperIdentitySource)
    assert cognito.region == "eu-west-1"
    assert secret == SecretSource(secret_id="webid-canary/t")


def test_validate_lists_every_problem_of_an_item_in_field_order() -> None:
    item = {
        "target_id": "Bad",
        "role_arn": "arn:aws:iam::1:role/x",
        "issuer": "http://x",
        "claims": {"sub": "x"},
        "severty": "high",
        "duration_seconds": 10,
    }

    fields = [e.field for e in validate_target(item)]

    assert fields == ["severty", "target_id", "role_arn", "issuer", "claims.aud", "duration_seconds"]
    with pytest.raises(TargetError) as caught:
        parse_target(item)
    assert caught.value.field == "severty"


def test_target_knows_its_account_and_role_name() -> None:
    target = parse_target({**BASE, "role_arn": "arn:aws:iam::210987654321:role/ci/deploy"})

    assert target.role_name == "deploy"
    assert not target.is_live
    assert not target.issuer_is_builtin
    assert parse_target({**BASE, "issuer": "https://cognito-identity.amazonaws.com"}).issuer_is_builtin


def test_item_keeps_the_design_shape() -> None:
    item = target_to_item(parse_target(BASE))

    assert item == BASE
    assert isinstance(parse_target(BASE), Target)


def test_the_documented_items_validate() -> None:
    text = (Path(__file__).parents[2] / "docs" / "targets.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    full = json.loads(blocks[0])
    sources = [json.loads(chunk) for chunk in blocks[1].split("\n\n")]

    target = parse_target(full)

    assert target_to_item(target).items() <= full.items()
    assert target.topic_arn == full["topic_arn"]
    assert set(full) == set(FIELDS)
    assert [s["type"] for s in sources] == ["client_credentials", "cognito_developer_identity", "secret"]
    for source in sources:
        assert parse_target({**full, "token_source": source}).token_source is not None
