"""Trust policies found in infrastructure code: CloudFormation templates (`cdk synth` output too) and Terraform
plans (`terraform show -json`), each with the keys that find it again in the file's text.

Takes documents already parsed (JSON, or YAML with CloudFormation's short-form tags turned into their long
form); intrinsic functions are resolved where the template itself holds the answer, and shown as `${...}`
where it does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .model import InputError, json_kind
from .policy import DuplicateAwareDict, load_json

FIELD = "template"
ROLE = "AWS::IAM::Role"
# Resources whose Ref (and Arn attribute) is an IAM OIDC provider's ARN.
OIDC_PROVIDER_TYPES = frozenset({"AWS::IAM::OIDCProvider", "Custom::AWSCDKOpenIdConnectProvider"})
CFN_JSON_TYPE = "Custom::AWSCDKCfnJson"
_MAX_DEPTH = 64
# Pseudo parameters: the two that hardly vary, and the rest by their short name (an ARN keeps its colons right).
PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class Source(StrEnum):
    CLOUDFORMATION = "cloudformation"
    TERRAFORM = "terraform"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A key written in the file (and, when given, the value written after it)."""

    key: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class FoundPolicy:
    """One trust policy in a template or plan: where it is, what it says, and how to find it in the text."""

    address: str
    resource_type: str
    document: Mapping[str, object]
    anchors: tuple[Anchor, ...]


def extract(document: object) -> tuple[Source, tuple[FoundPolicy, ...]]:
    """The trust policies of a CloudFormation template or a Terraform plan; InputError("template", ...) if neither."""
    if not isinstance(document, Mapping):
        raise InputError(FIELD, f"expected an object, found {json_kind(document)}")
    if "Resources" in document:
        return Source.CLOUDFORMATION, tuple(_cloudformation(document))
    if {"format_version", "planned_values", "prior_state", "values"} & document.keys():
        return Source.TERRAFORM, tuple(_terraform(document))
    raise InputError(
        FIELD, "neither a CloudFormation template (no Resources) nor a Terraform plan (terraform show -json)"
    )


# CloudFormation


def _cloudformation(template: Mapping[str, object]) -> Iterator[FoundPolicy]:
    resources = template["Resources"]
    if not isinstance(resources, Mapping):
        raise InputError(FIELD, f"Resources: expected an object, found {json_kind(resources)}")
    resolver = _Resolver(template, resources)
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != ROLE:
            continue
        properties = resource.get("Properties")
        raw = properties.get("AssumeRolePolicyDocument") if isinstance(properties, Mapping) else None
        if raw is None:
            continue
        where = f"Resources.{logical_id}.Properties.AssumeRolePolicyDocument"
        policy = resolver.resolve(raw, 0)
        if isinstance(policy, str) and policy.lstrip().startswith("{"):
            policy = _json_text(policy, where)
        elif isinstance(policy, str):
            raise InputError(FIELD, f"{where}: expected an object, found {policy!r} (not known before deployment)")
        if not isinstance(policy, Mapping):
            raise InputError(FIELD, f"{where}: expected an object, found {json_kind(policy)}")
        yield FoundPolicy(
            address=str(logical_id),
            resource_type=ROLE,
            document=policy,
            anchors=(Anchor("Resources"), Anchor(str(logical_id)), Anchor("AssumeRolePolicyDocument")),
        )


def _intrinsic(node: Mapping[str, object]) -> str | None:
    if len(node) != 1:
        return None
    (name,) = node.keys()
    return name if name == "Ref" or name.startswith("Fn::") else None


class _Resolver:
    """Intrinsic functions evaluated as far as the template allows; the rest rendered as `${...}`."""

    def __init__(self, template: Mapping[str, object], resources: Mapping[str, object]) -> None:
        parameters = template.get("Parameters")
        mappings = template.get("Mappings")
        self._parameters = parameters if isinstance(parameters, Mapping) else {}
        self._mappings = mappings if isinstance(mappings, Mapping) else {}
        self._resources = resources

    def resolve(self, node: object, depth: int) -> object:
        if depth > _MAX_DEPTH:
            return "${...}"
        if isinstance(node, list):
            return [self.resolve(item, depth + 1) for item in node]
        if not isinstance(node, Mapping):
            return node
        name = _intrinsic(node)
        if name is None:
            resolved = DuplicateAwareDict((str(k), self.resolve(v, depth + 1)) for k, v in node.items())
            resolved.dropped = getattr(node, "dropped", ())
            return resolved
        return self._function(name, node[name], depth + 1)

    def _text(self, node: object, depth: int) -> str:
        value = self.resolve(node, depth)
        return value if isinstance(value, str) else _unresolved(value)

    def _function(self, name: str, argument: object, depth: int) -> object:
        if name == "Ref" and isinstance(argument, str):
            return self._ref(argument, depth)
        if name == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else self.resolve(argument, depth)
            if isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts):
                return self._attribute(str(parts[0]), str(parts[1]), depth)
        elif name == "Fn::Sub":
            return self._sub(argument, depth)
        elif name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            items = self.resolve(argument[1], depth)
            if isinstance(argument[0], str) and isinstance(items, list):
                return argument[0].join(self._text(item, depth) for item in items)
        elif name == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
            index, items = self.resolve(argument[0], depth), self.resolve(argument[1], depth)
            if isinstance(items, list) and str(index).isdigit() and int(str(index)) < len(items):
                return items[int(str(index))]
        elif name == "Fn::Split" and isinstance(argument, list) and len(argument) == 2:
            text = self.resolve(argument[1], depth)
            if isinstance(argument[0], str) and argument[0] and isinstance(text, str):
                return text.split(argument[0])
        elif name == "Fn::FindInMap" and isinstance(argument, list) and len(argument) == 3:
            keys = [self.resolve(part, depth) for part in argument]
            found: object = self._mappings
            for key in keys:
                found = found.get(key) if isinstance(found, Mapping) and isinstance(key, str) else None
            if found is not None:
                return self.resolve(found, depth)
        return "${" + name + "}"

    def _ref(self, name: str, depth: int) -> object:
        if name.startswith("AWS::"):
            return PSEUDO.get(name, "${" + name.removeprefix("AWS::") + "}")
        parameter = self._parameters.get(name)
        if isinstance(parameter, Mapping) and isinstance(parameter.get("Default"), str | int):
            return str(parameter["Default"])
        resource = self._resources.get(name)
        if isinstance(resource, Mapping) and resource.get("Type") in OIDC_PROVIDER_TYPES:
            return self._provider_arn(resource, depth)
        return "${" + name + "}"

    def _attribute(self, name: str, attribute: str, depth: int) -> object:
        resource = self._resources.get(name)
        if isinstance(resource, Mapping):
            properties = resource.get("Properties")
            if resource.get("Type") in OIDC_PROVIDER_TYPES and attribute == "Arn":
                return self._provider_arn(resource, depth)
            if resource.get("Type") in OIDC_PROVIDER_TYPES and attribute == "Issuer":  # CDK's, without https://
                return self._provider_host(resource, depth)
            if resource.get("Type") == CFN_JSON_TYPE and attribute == "Value" and isinstance(properties, Mapping):
                value = self.resolve(properties.get("Value"), depth)
                return _json_text(value, f"Resources.{name}.Properties.Value") if isinstance(value, str) else value
        return "${" + f"{name}.{attribute}" + "}"

    def _provider_host(self, resource: Mapping[str, object], depth: int) -> str:
        properties = resource.get("Properties")
        url = self._text(properties.get("Url"), depth) if isinstance(properties, Mapping) else "${Url}"
        return url.removeprefix("https://")

    def _provider_arn(self, resource: Mapping[str, object], depth: int) -> str:
        return "arn:aws:iam::${AccountId}:oidc-provider/" + self._provider_host(resource, depth)

    def _sub(self, argument: object, depth: int) -> object:
        variables: Mapping[str, object] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], Mapping):
            variables = argument[1]
            argument = argument[0]
        if not isinstance(argument, str):
            return "${Fn::Sub}"

        def replace(found: re.Match[str]) -> str:
            name = found[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self._text(variables[name], depth)
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                value = self._attribute(resource, attribute, depth)
            else:
                value = self._ref(name, depth)
            return value if isinstance(value, str) else _unresolved(value)

        return re.sub(r"\$\{([^}]*)\}", replace, argument)


def _unresolved(value: object) -> str:
    return "${" + json_kind(value) + "}"


def _json_text(text: str, where: str) -> object:
    try:
        return load_json(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(FIELD, f"{where}: not JSON ({exc})") from exc


# Terraform


def _modules(module: object) -> Iterator[Mapping[str, object]]:
    if not isinstance(module, Mapping):
        return
    yield module
    children = module.get("child_modules")
    for child in children if isinstance(children, list) else ():
        yield from _modules(child)


def _root_modules(plan: Mapping[str, object]) -> Iterator[object]:
    """planned_values (what the plan will make), then prior_state (data sources read while planning), then a
    state's own values (`terraform show -json` without a plan)."""
    for outer, inner in (("planned_values", None), ("prior_state", "values"), ("values", None)):
        node = plan.get(outer)
        if inner is not None and isinstance(node, Mapping):
            node = node.get(inner)
        if isinstance(node, Mapping):
            yield node.get("root_module")


def _trust_shaped(policy: Mapping[str, object]) -> bool:
    statements = policy.get("Statement")
    items = statements if isinstance(statements, list) else [statements]
    return any(isinstance(s, Mapping) and ("Principal" in s or "NotPrincipal" in s) for s in items)


def _terraform(plan: Mapping[str, object]) -> Iterator[FoundPolicy]:
    roles: list[FoundPolicy] = []
    documents: list[FoundPolicy] = []
    seen: set[str] = set()
    for root in _root_modules(plan):
        for module in _modules(root):
            resources = module.get("resources")
            for resource in resources if isinstance(resources, list) else ():
                if not isinstance(resource, Mapping) or not isinstance(resource.get("address"), str):
                    continue
                address = str(resource["address"])
                values = resource.get("values")
                if address in seen or not isinstance(values, Mapping):
                    continue
                seen.add(address)
                kind, mode = resource.get("type"), resource.get("mode", "managed")
                if kind == "aws_iam_role" and mode == "managed":
                    key, found = "assume_role_policy", roles
                elif kind == "aws_iam_policy_document" and mode == "data":
                    key, found = "json", documents
                else:
                    continue
                text = values.get(key)
                if not isinstance(text, str) or not text.strip():
                    continue  # not known until apply
                policy = _json_text(text, f"{address}.{key}")
                if not isinstance(policy, Mapping):
                    raise InputError(FIELD, f"{address}.{key}: expected an object, found {json_kind(policy)}")
                found.append(FoundPolicy(address, str(kind), policy, (Anchor("address", address), Anchor(key))))
    yield from roles
    # A policy document is reported on its own only when it is a trust policy no role above already carries.
    taken = [role.document for role in roles]
    yield from (d for d in documents if _trust_shaped(d.document) and d.document not in taken)


# Finding things again in the text


def _pattern(anchor: Anchor) -> re.Pattern[str]:
    key = re.escape(anchor.key)
    if anchor.value is not None:
        return re.compile(rf"""(["']){key}\1\s*:\s*(["']?){re.escape(anchor.value)}\2(?=[\s,}}]|$)""", re.MULTILINE)
    # A quoted key (JSON, or YAML that quotes it), or a plain YAML key followed by a space or the line's end.
    return re.compile(rf"""(["']){key}\1\s*:|(?:^|(?<=[\s{{,\-]))(?<!["']){key}:(?=\s|$)""", re.MULTILINE)


def find(text: str, anchors: Sequence[Anchor], start: int = 0, end: int | None = None) -> int | None:
    """Offset of the last anchor, each searched after the one before it; None when one is not there."""
    at, offset = start, start
    for anchor in anchors:
        found = _pattern(anchor).search(text, offset, len(text) if end is None else end)
        if found is None:
            return None
        at, offset = found.start(), found.end()
    return at


def line_at(text: str, offset: int) -> int:
    """The 1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1
