"""Trust policies parsed once, in every shape IAM accepts, into frozen statements."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote

from webid_canary.core.limits import check_json_depth

from .conditions import Operator, ValueTest, parse_operator, single_value_test
from .model import InputError, json_kind

FIELD = "trust_policy"


class DuplicateKey(NamedTuple):
    """A JSON key written twice in one object: IAM keeps the last value and drops the earlier one."""

    path: str
    key: str
    dropped: object


class DuplicateAwareDict(dict[str, object]):
    """A dict from JSON that remembers the keys written more than once (last value wins, as in IAM)."""

    dropped: tuple[tuple[str, object], ...] = ()


def duplicate_aware(pairs: list[tuple[str, object]]) -> DuplicateAwareDict:
    """An object from its key/value pairs in written order, remembering the keys written more than once."""
    result = DuplicateAwareDict()
    dropped: list[tuple[str, object]] = []
    for key, value in pairs:
        if key in result:
            dropped.append((key, result[key]))
        result[key] = value
    if dropped:
        result.dropped = tuple(dropped)
    return result


def load_json(text: str | bytes) -> object:
    """Parse JSON keeping track of duplicate keys; raises ValueError when it is not JSON (or nests absurdly)."""
    check_json_depth(text.decode("utf-8") if isinstance(text, bytes) else text)
    return json.loads(text, object_pairs_hook=duplicate_aware)


def _has_duplicates(node: object) -> bool:
    """Whether any object in the document dropped a key; much cheaper than naming each one when none did."""
    if isinstance(node, str):
        return False
    if isinstance(node, Mapping):
        if getattr(node, "dropped", ()):
            return True
        children: Iterable[object] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return False
    return any(_has_duplicates(child) for child in children)


def _duplicates(node: object, path: str = "$") -> Iterator[DuplicateKey]:
    if isinstance(node, Mapping):
        for key, dropped in getattr(node, "dropped", ()):
            yield DuplicateKey(path, key, dropped)
        for key, value in node.items():
            yield from _duplicates(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _duplicates(value, f"{path}[{index}]")


class Condition(NamedTuple):
    """One key tested by one operator, exactly as written in the policy."""

    operator: str
    key: str
    values: tuple[str, ...]


class ParsedCondition(NamedTuple):
    """A condition with its operator parsed and its key lower-cased, made once per policy; for the string
    operators, also the test of one request value against the condition's values (see `single_value_test`)."""

    condition: Condition
    operator: Operator
    lowered_key: str
    test: ValueTest | None
    negated: bool


def _parsed(condition: Condition) -> ParsedCondition:
    operator = parse_operator(condition.operator)
    test = single_value_test(operator, condition.values)
    return ParsedCondition(condition, operator, condition.key.lower(), test, operator.negated)


@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal or NotPrincipal element: `*` or a mapping of type to values."""

    everyone: bool = False
    by_type: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The values of each type as a set, built once: `names` runs for every request against the policy.
    _sets: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sets: dict[str, frozenset[str]] = {}
        for kind, values in self.by_type:
            sets.setdefault(kind, frozenset(values))
        object.__setattr__(self, "_sets", sets)

    def values(self, principal_type: str) -> tuple[str, ...]:
        for kind, values in self.by_type:
            if kind == principal_type:
                return values
        return ()

    def names(self, principal_type: str, name: str) -> bool:
        if self.everyone:
            return True
        values = self._sets.get(principal_type)
        return values is not None and ("*" in values or name in values)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement, normalised: lists everywhere, conditions flattened in written order."""

    index: int
    sid: str | None
    effect: str
    principal: Principals | None
    not_principal: Principals | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    conditions: tuple[Condition, ...]
    # Derived once: how the statement is named in findings, its action patterns lower-cased (IAM compares
    # action names case-insensitively), and each condition with its operator and its key lower-cased (key
    # names are case-insensitive too), which every request against the policy reads.
    label: str = field(init=False, repr=False, compare=False)
    lowered_actions: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    lowered_not_actions: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    parsed_conditions: tuple[ParsedCondition, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        label = f"statement {self.index + 1}" + (f" ({self.sid})" if self.sid else "")
        object.__setattr__(self, "label", label)
        for name, patterns in (("lowered_actions", self.actions), ("lowered_not_actions", self.not_actions)):
            object.__setattr__(self, name, None if patterns is None else tuple(p.lower() for p in patterns))
        parsed = tuple(_parsed(condition) for condition in self.conditions)
        object.__setattr__(self, "parsed_conditions", parsed)

    def federated_principals(self) -> tuple[str, ...]:
        return () if self.principal is None else self.principal.values("Federated")


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """A role's trust policy with the duplicate keys the JSON text carried."""

    version: str | None
    statements: tuple[Statement, ...]
    duplicates: tuple[DuplicateKey, ...] = ()
    # The document as parsed (JSON-like, never changed): remedies are written as edits of it.
    document: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)
    # The Allow and the Deny statements, each in written order, split once.
    allows: tuple[Statement, ...] = field(init=False, repr=False, compare=False)
    denies: tuple[Statement, ...] = field(init=False, repr=False, compare=False)
    # For a (principal, action): the Allow statements naming the principal, and those of them allowing the
    # action. The same for every request against the policy, so the engine keeps them here as requests ask.
    candidates: dict[tuple[str, str], tuple[tuple[Statement, ...], tuple[Statement, ...]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "allows", tuple(s for s in self.statements if s.effect == "Allow"))
        object.__setattr__(self, "denies", tuple(s for s in self.statements if s.effect == "Deny"))
        object.__setattr__(self, "candidates", {})

    def federated_principals(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for statement in self.statements:
            for name in statement.federated_principals():
                seen.setdefault(name, None)
        return tuple(seen)


def _scalar(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise InputError(FIELD, f"{where}: expected a string, found {json_kind(value)}")


def _string_list(value: object, where: str, *, empty_ok: bool = False) -> tuple[str, ...]:
    if isinstance(value, list):
        if not value and not empty_ok:
            raise InputError(FIELD, f"{where}: empty list")
        return tuple(_scalar(item, where) for item in value)
    return (_scalar(value, where),)


def _principals(value: object, where: str) -> Principals:
    if value == "*":
        return Principals(everyone=True)
    if not isinstance(value, Mapping) or not value:
        raise InputError(FIELD, f'{where}: expected "*" or an object such as {{"Federated": ...}}')
    by_type = tuple((str(kind), _string_list(names, f"{where}.{kind}")) for kind, names in value.items())
    everyone = any(kind == "AWS" and "*" in names for kind, names in by_type)
    return Principals(everyone=everyone, by_type=by_type)


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if not isinstance(value, Mapping):
        raise InputError(FIELD, f"{where}: expected an object of operators")
    found: list[Condition] = []
    for operator, block in value.items():
        try:
            parse_operator(operator)
        except ValueError as exc:
            raise InputError(FIELD, f"{where}: {exc}") from exc
        if not isinstance(block, Mapping) or not block:
            raise InputError(FIELD, f"{where}.{operator}: expected an object of condition keys")
        for key, values in block.items():
            found.append(
                Condition(str(operator), str(key), _string_list(values, f"{where}.{operator}.{key}", empty_ok=True))
            )
    return tuple(found)


def _statement(index: int, raw: object) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise InputError(FIELD, f"{where}: expected an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise InputError(FIELD, f'{where}.Effect: expected "Allow" or "Deny"')
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise InputError(FIELD, f"{where}: needs exactly one of Principal or NotPrincipal")
    if ("Action" in raw) == ("NotAction" in raw):
        raise InputError(FIELD, f"{where}: needs exactly one of Action or NotAction")
    sid = raw.get("Sid")
    return Statement(
        index=index,
        sid=sid if isinstance(sid, str) and sid else None,
        effect=str(effect),
        principal=_principals(raw["Principal"], f"{where}.Principal") if "Principal" in raw else None,
        not_principal=(_principals(raw["NotPrincipal"], f"{where}.NotPrincipal") if "NotPrincipal" in raw else None),
        actions=_string_list(raw["Action"], f"{where}.Action") if "Action" in raw else None,
        not_actions=_string_list(raw["NotAction"], f"{where}.NotAction") if "NotAction" in raw else None,
        conditions=_conditions(raw["Condition"], f"{where}.Condition") if "Condition" in raw else (),
    )


def parse_trust_policy(doc: str | bytes | Mapping[str, object]) -> TrustPolicy:
    """Parse a trust policy (JSON text or an object); raises InputError("trust_policy", ...) if unusable."""
    if isinstance(doc, bytes):
        doc = doc.decode("utf-8", errors="replace")
    if isinstance(doc, str):
        return _parse_text(doc)
    return _parse_document(doc)


@functools.lru_cache(maxsize=4096)
def _parse_text(doc: str) -> TrustPolicy:
    """Policy text parsed once: a cycle explains many claim sets against the same role (the result is frozen)."""
    return _parse_document(doc)


# The policy text as IAM returns it, parsed once (what parse_trust_policy does for a str).
parse_trust_policy_text = _parse_text


def _parse_document(doc: str | Mapping[str, object]) -> TrustPolicy:
    if isinstance(doc, str):
        if doc.lstrip().startswith("%"):
            doc = unquote(doc)  # IAM's API returns policy documents URL-encoded
        try:
            parsed = load_json(doc)
        except (ValueError, RecursionError) as exc:
            raise InputError(FIELD, f"not JSON ({exc})") from exc
    else:
        parsed = doc
    if not isinstance(parsed, Mapping):
        raise InputError(FIELD, "expected a JSON object with a Statement")
    statements_raw = parsed.get("Statement")
    if statements_raw is None:
        raise InputError(FIELD, "no Statement")
    raw_list: Sequence[object] = statements_raw if isinstance(statements_raw, list) else [statements_raw]
    version = parsed.get("Version")
    return TrustPolicy(
        version=version if isinstance(version, str) else None,
        statements=tuple(_statement(i, raw) for i, raw in enumerate(raw_list)),
        duplicates=tuple(_duplicates(parsed)) if _has_duplicates(parsed) else (),
        document=parsed,
    )
