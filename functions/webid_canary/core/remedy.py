"""Trust-policy remedies as edits of the document: each edit both changes the policy and says so in words.

The explain engine chooses the edits (explain.py) and checks that the edited policy lets the request in; this
module only applies and describes them, so the patch and the prose cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Edit:
    """One change to a trust policy document, addressed by statement index and condition as written."""

    kind: str  # add_values, remove_values, remove_condition, rename_key, change_operator, add_action,
    # remove_not_action, set_principal, add_statement, remove_statement, add_condition
    statement: int = -1
    operator: str = ""
    key: str = ""
    values: tuple[str, ...] = ()
    new: str = ""
    added: Mapping[str, object] | None = None


def frozen(value: object) -> object:
    """A JSON-like value made immutable (mappings read-only, lists as tuples), to cross layers in a verdict."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def plain_copy(document: Mapping[str, object]) -> JsonObject:
    """A deep, plain (dict and list) copy of a parsed policy document, with Statement always a list."""
    copied: JsonObject = json.loads(json.dumps(document))
    statements = copied.get("Statement")
    if isinstance(statements, dict):
        copied["Statement"] = [statements]
    return copied


def statements_of(doc: JsonObject) -> list[JsonObject]:
    statements: list[JsonObject] = doc["Statement"]
    return statements


def label(doc: JsonObject, index: int) -> str:
    """How findings name a statement: 'statement 2 (Sid)'."""
    statement = statements_of(doc)[index] if 0 <= index < len(statements_of(doc)) else {}
    sid = statement.get("Sid")
    return f"statement {index + 1}" + (f" ({sid})" if isinstance(sid, str) and sid else "")


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _shown(values: tuple[str, ...]) -> str:
    return " and ".join(repr(v) for v in values)


def describe(doc: JsonObject, edit: Edit) -> str:
    """The edit in words, naming the statement as the document before the edit numbers it."""
    where = label(doc, edit.statement)
    match edit.kind:
        case "add_values":
            return f"in {where}, add {_shown(edit.values)} to the values of {edit.operator} {edit.key}"
        case "remove_values":
            return f"in {where}, remove {_shown(edit.values)} from the values of {edit.operator} {edit.key}"
        case "remove_condition":
            return f"in {where}, remove the {edit.operator} condition on {edit.key}"
        case "rename_key":
            return f"in {where}, write the condition key {edit.key} as {edit.new}"
        case "change_operator":
            return f"in {where}, test {edit.key} with {edit.new} instead of {edit.operator}"
        case "add_action":
            return f"in {where}, allow {edit.new}"
        case "remove_not_action":
            return f"in {where}, remove {_shown(edit.values)} from NotAction so that {edit.new} is allowed"
        case "set_principal":
            return f"in {where}, set Principal.Federated to {edit.new} (instead of {edit.key})"
        case "add_statement":
            return f"add a statement that allows {edit.new} with {json.dumps(edit.added)}"
        case "remove_statement":
            return f"remove the Deny {where}"
        case "add_condition":
            return f"in {where}, add the condition {edit.operator} {edit.key} {_shown(edit.values)}"
    raise ValueError(f"unknown edit {edit.kind!r}")


def _condition_block(doc: JsonObject, edit: Edit) -> JsonObject:
    block: JsonObject = statements_of(doc)[edit.statement]["Condition"][edit.operator]
    return block


def _drop_key(doc: JsonObject, edit: Edit) -> None:
    statement = statements_of(doc)[edit.statement]
    block = _condition_block(doc, edit)
    del block[edit.key]
    if not block:
        del statement["Condition"][edit.operator]
    if not statement["Condition"]:
        del statement["Condition"]


def apply(doc: JsonObject, edit: Edit) -> None:
    """Apply one edit to a plain document in place."""
    statements = statements_of(doc)
    match edit.kind:
        case "add_values":
            block = _condition_block(doc, edit)
            block[edit.key] = [*_as_list(block[edit.key]), *edit.values]
        case "remove_values":
            block = _condition_block(doc, edit)
            kept = [v for v in _as_list(block[edit.key]) if str(v) not in edit.values]
            block[edit.key] = kept
        case "remove_condition":
            _drop_key(doc, edit)
        case "rename_key":
            values = _condition_block(doc, edit)[edit.key]
            _drop_key(doc, edit)
            condition = statements[edit.statement].setdefault("Condition", {})
            condition.setdefault(edit.operator, {})[edit.new] = values
        case "change_operator":
            values = _condition_block(doc, edit)[edit.key]
            _drop_key(doc, edit)
            condition = statements[edit.statement].setdefault("Condition", {})
            condition.setdefault(edit.new, {})[edit.key] = values
        case "add_action":
            statement = statements[edit.statement]
            statement["Action"] = [*_as_list(statement["Action"]), edit.new]
        case "remove_not_action":
            statement = statements[edit.statement]
            statement["NotAction"] = [a for a in _as_list(statement["NotAction"]) if a not in edit.values]
            if not statement["NotAction"]:
                del statement["NotAction"]
                statement["Action"] = edit.new
        case "set_principal":
            statements[edit.statement]["Principal"]["Federated"] = edit.new
        case "add_statement":
            statements.append(json.loads(json.dumps(edit.added)))
        case "remove_statement":
            del statements[edit.statement]
        case "add_condition":
            condition = statements[edit.statement].setdefault("Condition", {})
            condition.setdefault(edit.operator, {})[edit.key] = list(edit.values)
        case _:
            raise ValueError(f"unknown edit {edit.kind!r}")
