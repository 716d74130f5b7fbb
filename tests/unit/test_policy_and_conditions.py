"""Trust policy parsing (every shape IAM accepts, duplicates) and condition operator rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webid_canary.core.conditions import evaluate, glob_match, parse_operator, single_value_test
from webid_canary.core.model import InputError
from webid_canary.core.policy import Condition, parse_trust_policy

FED = "arn:aws:iam::123456789012:oidc-provider/gitlab.com"


def test_statement_object_and_string_principal_action_are_normalised_to_lists() -> None:
    policy = parse_trust_policy(
        {
            "Statement": {
                "Sid": "GitLab",
                "Effect": "Allow",
                "Principal": {"Federated": FED},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"gitlab.com:aud": ["https://gitlab.com", 7, True]}},
            }
        }
    )
    statement = policy.statements[0]
    assert statement.actions == ("sts:AssumeRoleWithWebIdentity",)
    assert statement.federated_principals() == (FED,)
    assert statement.conditions == (Condition("StringEquals", "gitlab.com:aud", ("https://gitlab.com", "7", "true")),)
    assert policy.federated_principals() == (FED,)
    assert statement.label == "statement 1 (GitLab)"


def test_duplicate_keys_keep_the_last_value_like_iam_and_are_reported() -> None:
    policy = parse_trust_policy(
        '{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "sts:AssumeRole",'
        ' "Action": "sts:AssumeRoleWithWebIdentity"}]}'
    )
    assert policy.statements[0].actions == ("sts:AssumeRoleWithWebIdentity",)
    assert [(d.path, d.key, d.dropped) for d in policy.duplicates] == [("$.Statement[0]", "Action", "sts:AssumeRole")]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ("not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ("{}", "no Statement"),
        ('{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "*"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Allow", "Action": "*"}]}', "Principal"),
        ('{"Statement": [{"Effect": "Allow", "Principal": "*"}]}', "Action"),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Condition": {"StringSort": {"a": "b"}}}]}',
            "unknown condition operator",
        ),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Condition": {"StringEquals": "x"}}]}',
            "condition keys",
        ),
    ],
)
def test_unusable_policies_name_the_field_and_the_reason(doc: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_trust_policy(doc)
    assert caught.value.field == "trust_policy"
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "result"),
    [
        ("StringEquals", ("a",), None, False),
        ("StringNotEquals", ("a",), None, True),
        ("StringEqualsIfExists", ("a",), None, True),
        ("StringNotLikeIfExists", ("a*",), ("abc",), False),
        ("ForAllValues:StringEquals", ("a",), None, True),
        ("ForAllValues:StringEquals", ("a",), ("a", "b"), False),
        ("ForAllValues:StringEquals", ("a", "b"), ("a", "b"), True),
        ("ForAnyValue:StringEquals", ("a",), None, False),
        ("ForAnyValue:StringEquals", ("a",), ("b", "a"), True),
        ("forallvalues:stringequals", ("a",), ("a",), True),
        ("Null", ("true",), None, True),
        ("Null", ("false",), None, False),
        ("Null", ("false",), ("x",), True),
        ("StringEquals", ("a",), ("b", "a"), True),
        ("StringNotEquals", ("a",), ("b", "a"), False),
        ("NumericLessThan", ("10",), ("9.5",), True),
        ("NumericLessThan", ("10",), ("ten",), False),
        ("DateGreaterThan", ("2026-01-01T00:00:00Z",), ("1767225601",), True),
        ("Bool", ("true",), ("TRUE",), True),
        ("IpAddress", ("203.0.113.0/24",), ("203.0.113.9",), True),
        ("NotIpAddress", ("203.0.113.0/24",), ("198.51.100.1",), True),
        ("BinaryEquals", ("QmluYXJ5",), ("QmluYXJ5",), True),
        ("ArnLike", ("arn:aws:iam::*:oidc-provider/gitlab.com",), (FED,), True),
        ("ArnNotLike", ("arn:aws:iam::*:oidc-provider/gitlab.com",), (FED,), False),
    ],
)
def test_operator_rules(operator: str, expected: tuple[str, ...], actual: tuple[str, ...] | None, result: bool) -> None:
    assert evaluate(parse_operator(operator), expected, actual) is result


def test_unknown_or_misplaced_operators_are_refused() -> None:
    for name in ("StringSort", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null"):
        with pytest.raises(ValueError, match="unknown condition operator"):
            parse_operator(name)


def test_glob_wildcards() -> None:
    assert glob_match("repo:acme/*:ref:refs/heads/ma?n", "repo:acme/x:ref:refs/heads/main")
    assert not glob_match("repo:acme/*", "REPO:acme/x")
    assert glob_match("a.b", "a.b") and not glob_match("a.b", "axb")


STRING_OPERATORS = [
    f"{prefix}{base}{suffix}"
    for prefix in ("", "ForAllValues:", "ForAnyValue:")
    for base in ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")
    for suffix in ("", "IfExists")
]
# Letters, IAM's wildcards, regular-expression metacharacters and a line break.
TEXT = st.text(alphabet="ab*?.+()[]|\\^$\n", max_size=6)


@given(st.sampled_from(STRING_OPERATORS), st.lists(TEXT, min_size=1, max_size=3), TEXT)
def test_a_policys_test_of_one_value_decides_as_the_operator_rules_do(
    name: str, values: list[str], actual: str
) -> None:
    operator = parse_operator(name)
    test = single_value_test(operator, tuple(values))
    assert test is not None
    holds = not test(actual) if operator.negated else bool(test(actual))
    assert holds is evaluate(operator, tuple(values), (actual,))


def test_only_the_string_operators_get_a_test_of_one_value() -> None:
    for name in ("StringEqualsIgnoreCase", "NumericEquals", "Bool", "IpAddress", "ArnLike", "Null", "DateLessThan"):
        assert single_value_test(parse_operator(name), ("1",)) is None
    assert single_value_test(parse_operator("StringEquals"), ()) is None


def test_a_trust_policy_nested_absurdly_deep_is_one_clear_error_not_a_crash() -> None:
    from webid_canary.core.policy import load_json, parse_trust_policy

    deep = '{"Statement": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        load_json(deep)
    with pytest.raises(ValueError):
        parse_trust_policy(deep)
