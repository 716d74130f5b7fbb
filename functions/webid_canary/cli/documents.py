"""Template and plan files read into plain objects: JSON (duplicate keys remembered) or YAML, CloudFormation's
short-form tags (`!Sub`, `!GetAtt A.B`, ...) turned into their long form, aliases refused."""

from __future__ import annotations

from typing import Any

import yaml

from webid_canary.core.model import InputError
from webid_canary.core.policy import duplicate_aware, load_json

SHORT_FORMS = (
    "And",
    "Base64",
    "Cidr",
    "Condition",
    "Equals",
    "FindInMap",
    "GetAZs",
    "GetAtt",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "ToJsonString",
    "Length",
)


class CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader, knowing CloudFormation's tags and refusing aliases (no billion-laughs expansion)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    """A mapping that remembers its duplicate keys, as JSON documents do (the last value wins)."""
    loader.flatten_mapping(node)
    pairs = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
        pairs.append((str(key), loader.construct_object(value_node, deep=True)))
    return duplicate_aware(pairs)


def _short_form(name: str) -> Any:
    long_name = "Ref" if name == "Ref" else ("Condition" if name == "Condition" else f"Fn::{name}")

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


CloudFormationLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
for _name in (*SHORT_FORMS, "Ref"):
    CloudFormationLoader.add_constructor(f"!{_name}", _short_form(_name))


def parse_document(text: str, field: str) -> object:
    """A JSON or YAML document; InputError(field, ...) naming the line when it is neither."""
    if text.lstrip().startswith(("{", "[")):
        try:
            return load_json(text)
        except (ValueError, RecursionError) as exc:
            raise InputError(field, f"not JSON ({exc})") from exc
    try:
        return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(field, f"not JSON or YAML{where}: {exc.problem or exc.context}") from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise InputError(field, f"not JSON or YAML ({exc})") from exc
