"""IAM condition operators, with the missing-key rules of the IAM User Guide.

Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
(a key absent from the request makes a positive operator false and a negated one true; `...IfExists` is true on
an absent key; `Null` tests presence) and
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
(`ForAllValues` is true on an absent key, `ForAnyValue` false).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

Matcher = Callable[[str, str], bool]


def _glob_source(pattern: str) -> str:
    """IAM's wildcard pattern as a regular expression's source (to be compiled with re.DOTALL)."""
    return "".join("." if char == "?" else ".*" if char == "*" else re.escape(char) for char in pattern)


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(_glob_source(pattern), re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` exactly one; case-sensitive."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _glob(pattern).fullmatch(value) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    number = _number(text)
    if number is not None:
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare[T](parse: Callable[[str], T | None], test: Callable[[T, T], bool]) -> Matcher:
    def match(policy: str, actual: str) -> bool:
        p, a = parse(policy), parse(actual)
        return p is not None and a is not None and test(a, p)

    return match


def _arn_match(policy: str, actual: str) -> bool:
    p_parts, a_parts = policy.split(":", 5), actual.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return glob_match(policy, actual)
    return all(glob_match(p, a) for p, a in zip(p_parts, a_parts, strict=True))


def _ip_match(policy: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _binary_match(policy: str, actual: str) -> bool:
    try:
        return base64.b64decode(policy, validate=True) == base64.b64decode(actual, validate=True)
    except (binascii.Error, ValueError):
        return policy == actual


# base operator -> (matcher, negated, family)
_BASES: dict[str, tuple[Matcher, bool, str]] = {
    "StringEquals": (lambda p, a: p == a, False, "String"),
    "StringNotEquals": (lambda p, a: p == a, True, "String"),
    "StringEqualsIgnoreCase": (lambda p, a: p.casefold() == a.casefold(), False, "String"),
    "StringNotEqualsIgnoreCase": (lambda p, a: p.casefold() == a.casefold(), True, "String"),
    "StringLike": (glob_match, False, "String"),
    "StringNotLike": (glob_match, True, "String"),
    "NumericEquals": (_compare(_number, lambda a, p: a == p), False, "Numeric"),
    "NumericNotEquals": (_compare(_number, lambda a, p: a == p), True, "Numeric"),
    "NumericLessThan": (_compare(_number, lambda a, p: a < p), False, "Numeric"),
    "NumericLessThanEquals": (_compare(_number, lambda a, p: a <= p), False, "Numeric"),
    "NumericGreaterThan": (_compare(_number, lambda a, p: a > p), False, "Numeric"),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, p: a >= p), False, "Numeric"),
    "DateEquals": (_compare(_date, lambda a, p: a == p), False, "Date"),
    "DateNotEquals": (_compare(_date, lambda a, p: a == p), True, "Date"),
    "DateLessThan": (_compare(_date, lambda a, p: a < p), False, "Date"),
    "DateLessThanEquals": (_compare(_date, lambda a, p: a <= p), False, "Date"),
    "DateGreaterThan": (_compare(_date, lambda a, p: a > p), False, "Date"),
    "DateGreaterThanEquals": (_compare(_date, lambda a, p: a >= p), False, "Date"),
    "Bool": (lambda p, a: p.lower() == a.lower(), False, "Bool"),
    "BinaryEquals": (_binary_match, False, "Binary"),
    "IpAddress": (_ip_match, False, "IpAddress"),
    "NotIpAddress": (_ip_match, True, "IpAddress"),
    "ArnEquals": (_arn_match, False, "Arn"),
    "ArnLike": (_arn_match, False, "Arn"),
    "ArnNotEquals": (_arn_match, True, "Arn"),
    "ArnNotLike": (_arn_match, True, "Arn"),
    "Null": (lambda p, a: False, False, "Null"),
}
_BASE_BY_LOWER = {name.lower(): name for name in _BASES}
SET_OPERATORS = ("ForAnyValue", "ForAllValues")


@dataclass(frozen=True, slots=True)
class Operator:
    """A condition operator split into its parts: set prefix, base, `IfExists`."""

    name: str
    base: str
    set_operator: str | None
    if_exists: bool
    negated: bool
    family: str
    matcher: Matcher

    @property
    def wildcards(self) -> bool:
        return self.base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals")


@lru_cache(maxsize=512)
def parse_operator(name: str) -> Operator:
    """Split an operator name; raises ValueError for a name IAM does not know."""
    rest = name
    set_operator = None
    if ":" in rest:
        prefix, rest = rest.split(":", 1)
        matches = [s for s in SET_OPERATORS if s.lower() == prefix.lower()]
        if not matches:
            raise ValueError(f"unknown condition operator {name!r}")
        set_operator = matches[0]
    if_exists = rest.lower().endswith("ifexists")
    if if_exists:
        rest = rest[: -len("IfExists")]
    base = _BASE_BY_LOWER.get(rest.lower())
    if base is None or (base == "Null" and (if_exists or set_operator)):
        raise ValueError(f"unknown condition operator {name!r}")
    matcher, negated, family = _BASES[base]
    return Operator(name, base, set_operator, if_exists, negated, family, matcher)


# A test of one request value against all of a condition's values at once: truthy when any value matches.
ValueTest = Callable[[str], object]


def single_value_test(operator: Operator, values: tuple[str, ...]) -> ValueTest | None:
    """For the string operators, `any(operator.matcher(v, actual) for v in values)` as one call made in C: a set's
    membership for the exact ones, one regular expression of every pattern for the wildcard ones. None for the
    other operators (and for no values), which `evaluate` decides. A policy holds one per condition."""
    if not values:
        return None
    if operator.base in ("StringEquals", "StringNotEquals"):
        return frozenset(values).__contains__
    if operator.base in ("StringLike", "StringNotLike"):
        return re.compile("|".join(f"(?:{_glob_source(value)})" for value in values), re.DOTALL).fullmatch
    return None


def _value_passes(operator: Operator, expected: tuple[str, ...], actual: str) -> bool:
    matched = any(operator.matcher(policy, actual) for policy in expected)
    return not matched if operator.negated else matched


def evaluate(operator: Operator, expected: tuple[str, ...], actual: tuple[str, ...] | None) -> bool:
    """Whether one condition holds. `actual` None (or empty) means the key is not in the request."""
    if operator.base == "Null":
        wants_absent = any(value.lower() == "true" for value in expected)
        wants_present = any(value.lower() == "false" for value in expected)
        return (wants_absent and not actual) or (wants_present and bool(actual))
    if not actual:
        if operator.if_exists or operator.set_operator == "ForAllValues":
            return True
        if operator.set_operator == "ForAnyValue":
            return False
        return operator.negated
    if operator.set_operator == "ForAllValues":
        return all(_value_passes(operator, expected, value) for value in actual)
    if operator.set_operator == "ForAnyValue":
        return any(_value_passes(operator, expected, value) for value in actual)
    # A single-valued operator on several request values: true when any value matches (negated: none does).
    matcher = operator.matcher
    for value in actual:
        for policy in expected:
            if matcher(policy, value):
                return not operator.negated
    return operator.negated


# base operator -> what a value must do for the condition to hold, as "must ..." reads it; `{any}` lists the
# values joined with "or", `{all}` with "and".
_REQUIREMENTS: dict[str, str] = {
    "StringEquals": "be {any}",
    "StringNotEquals": "be anything but {any}",
    "StringEqualsIgnoreCase": "be {any}, ignoring case",
    "StringNotEqualsIgnoreCase": "be anything but {any}, ignoring case",
    "StringLike": "match {any}",
    "StringNotLike": "match none of {all}",
    "NumericEquals": "be {any}",
    "NumericNotEquals": "be anything but {any}",
    "NumericLessThan": "be less than {any}",
    "NumericLessThanEquals": "be at most {any}",
    "NumericGreaterThan": "be greater than {any}",
    "NumericGreaterThanEquals": "be at least {any}",
    "DateEquals": "be {any}",
    "DateNotEquals": "be any instant but {any}",
    "DateLessThan": "be before {any}",
    "DateLessThanEquals": "be at or before {any}",
    "DateGreaterThan": "be after {any}",
    "DateGreaterThanEquals": "be at or after {any}",
    "Bool": "be {any}",
    "BinaryEquals": "be {any}",
    "IpAddress": "be an address in {any}",
    "NotIpAddress": "be an address outside {all}",
    "ArnEquals": "match {any}",
    "ArnLike": "match {any}",
    "ArnNotEquals": "match none of {all}",
    "ArnNotLike": "match none of {all}",
}


def requirement(operator: Operator, values: tuple[str, ...]) -> str:
    """What the key must be for this condition to hold, in words ("be anything but 'x'"); negation included."""
    if operator.base == "Null":
        wants_absent = any(value.lower() == "true" for value in values)
        return "be absent from the request" if wants_absent else "be present in the request"
    shown = [repr(value) for value in values] or ["(no value)"]
    text = _REQUIREMENTS[operator.base].format(any=" or ".join(shown), all=", ".join(shown))
    if operator.set_operator == "ForAllValues":
        text = f"carry only values that would {text}, or be absent"
    elif operator.set_operator == "ForAnyValue":
        text = f"carry at least one value that would {text}"
    elif operator.if_exists:
        text += ", or be absent"
    return text
