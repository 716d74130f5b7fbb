"""Trust policies found in CloudFormation templates and Terraform plans, and found again in the file's text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.iac import Anchor, Source, extract, find, line_at
from webid_canary.core.lint import lint
from webid_canary.core.model import InputError
from webid_canary.core.policy import parse_trust_policy

DATA = Path(__file__).parents[1] / "data" / "lint"
GITHUB_ARN = "arn:aws:iam::${AccountId}:oidc-provider/token.actions.githubusercontent.com"


def _role(policy: Any) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": policy}}


def _statement(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", **fields}


def test_the_synthesized_template_yields_each_role_with_its_provider_resolved() -> None:
    template = json.loads((DATA / "deploy-stack.template.json").read_text())

    source, policies = extract(template)

    assert source is Source.CLOUDFORMATION
    assert [p.address for p in policies] == ["ReleaseRole7A9A5B5C", "DeployRoleF2C3B8C1"]
    principals = {p.address: parse_trust_policy(p.document).federated_principals() for p in policies}
    assert principals == {"ReleaseRole7A9A5B5C": (GITHUB_ARN,), "DeployRoleF2C3B8C1": (GITHUB_ARN,)}
    codes = {p.address: {f.code for f in lint(parse_trust_policy(p.document))} for p in policies}
    assert codes == {"ReleaseRole7A9A5B5C": set(), "DeployRoleF2C3B8C1": {"sub_wildcard_too_broad"}}


@pytest.mark.parametrize(
    ("federated", "template_extra", "expected"),
    [
        ({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/gitlab.com"}, {},
         "arn:aws:iam::${AccountId}:oidc-provider/gitlab.com"),
        ({"Fn::Sub": ["arn:aws:iam::${Account}:oidc-provider/${Host}", {"Account": "1", "Host": "gitlab.com"}]}, {},
         "arn:aws:iam::1:oidc-provider/gitlab.com"),
        ({"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "Account"}, ":oidc-provider/gitlab.com"]]},
         {"Parameters": {"Account": {"Type": "String", "Default": "123456789012"}}},
         "arn:aws:iam::123456789012:oidc-provider/gitlab.com"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,arn:aws:iam::1:oidc-provider/gitlab.com"]}]}, {},
         "arn:aws:iam::1:oidc-provider/gitlab.com"),
        ({"Fn::FindInMap": ["Providers", "gitlab", "Arn"]},
         {"Mappings": {"Providers": {"gitlab": {"Arn": "arn:aws:iam::1:oidc-provider/gitlab.com"}}}},
         "arn:aws:iam::1:oidc-provider/gitlab.com"),
        ({"Fn::GetAtt": ["Provider", "Arn"]},
         {"Provider": {"Type": "AWS::IAM::OIDCProvider", "Properties": {"Url": "https://gitlab.com"}}},
         "arn:aws:iam::${AccountId}:oidc-provider/gitlab.com"),
        ({"Ref": "NoDefault"}, {"Parameters": {"NoDefault": {"Type": "String"}}}, "${NoDefault}"),
        ({"Fn::If": ["Prod", "a", "b"]}, {}, "${Fn::If}"),
    ],
)  # fmt: skip
def test_intrinsic_functions_resolve_as_far_as_the_template_allows(
    federated: Any, template_extra: dict[str, Any], expected: str
) -> None:
    resources: dict[str, Any] = {"Role": _role({"Statement": [_statement(Principal={"Federated": federated})]})}
    template: dict[str, Any] = {"Resources": resources}
    for key, value in template_extra.items():
        (template if key in ("Parameters", "Mappings") else resources)[key] = value

    _, (policy,) = extract(template)

    assert parse_trust_policy(policy.document).federated_principals() == (expected,)


def test_cdk_condition_json_is_read_through_its_custom_resource() -> None:
    issuer = {"Fn::Select": [1, {"Fn::Split": ["https://", "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"]}]}
    value = {
        "Fn::Join": ["", ['{"', issuer, ':aud":"sts.amazonaws.com","', issuer, ':sub":"system:serviceaccount:*"}']]
    }
    template = {
        "Resources": {
            "ConditionJson": {"Type": "Custom::AWSCDKCfnJson", "Properties": {"Value": value}},
            "Role": _role(
                {
                    "Statement": [
                        _statement(
                            Principal={
                                "Federated": "arn:aws:iam::1:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
                            },
                            Condition={"StringLike": {"Fn::GetAtt": ["ConditionJson", "Value"]}},
                        )
                    ]
                }
            ),
        }
    }

    _, (policy,) = extract(template)

    assert {f.code for f in lint(parse_trust_policy(policy.document))} == {"sub_wildcard_too_broad"}


def test_a_cdk_eks_service_account_role_keys_its_conditions_to_its_own_provider() -> None:
    issuer = {"Fn::GetAtt": ["ClusterOpenIdConnectProvider", "Issuer"]}
    value = {
        "Fn::Join": [
            "",
            ['{"', issuer, ':aud":"sts.amazonaws.com","', issuer, ':sub":"system:serviceaccount:payments:api"}'],
        ]
    }
    template = {
        "Resources": {
            "Cluster": {"Type": "Custom::AWSCDK-EKS-Cluster", "Properties": {}},
            "ClusterOpenIdConnectProvider": {
                "Type": "Custom::AWSCDKOpenIdConnectProvider",
                "Properties": {"Url": {"Fn::GetAtt": ["Cluster", "OpenIdConnectIssuerUrl"]}},
            },
            "ConditionJson": {"Type": "Custom::AWSCDKCfnJson", "Properties": {"Value": value}},
            "Role": _role(
                {
                    "Statement": [
                        _statement(
                            Principal={"Federated": {"Ref": "ClusterOpenIdConnectProvider"}},
                            Condition={"StringEquals": {"Fn::GetAtt": ["ConditionJson", "Value"]}},
                        )
                    ]
                }
            ),
        }
    }

    _, (policy,) = extract(template)

    parsed = parse_trust_policy(policy.document)
    assert parsed.federated_principals() == (
        "arn:aws:iam::${AccountId}:oidc-provider/${Cluster.OpenIdConnectIssuerUrl}",
    )
    assert lint(parsed) == ()


def test_duplicate_keys_in_a_json_template_still_reach_the_lint() -> None:
    from webid_canary.core.policy import load_json

    text = json.dumps({"Resources": {"Role": _role({"Statement": [_statement(Principal={"Federated": "x"})]})}})
    text = text.replace('"Effect": "Allow"', '"Effect": "Deny", "Effect": "Allow"')

    _, (policy,) = extract(load_json(text))

    assert [d.key for d in parse_trust_policy(policy.document).duplicates] == ["Effect"]


def test_the_plan_yields_roles_of_every_module_and_no_document_twice() -> None:
    plan = json.loads((DATA / "ci-roles.tfplan.json").read_text())

    source, policies = extract(plan)

    assert source is Source.TERRAFORM
    assert [(p.address, p.resource_type) for p in policies] == [
        ("aws_iam_role.ci_deploy", "aws_iam_role"),
        ("module.payments.aws_iam_role.api", "aws_iam_role"),
    ]
    assert {f.code for f in lint(parse_trust_policy(policies[0].document))} == {"sub_not_pinned"}


def test_a_policy_document_is_linted_on_its_own_when_no_role_carries_it_yet() -> None:
    trust = json.dumps({"Statement": [_statement(Principal={"Federated": "accounts.google.com"})]})
    identity = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    data = [
        {"address": f"data.aws_iam_policy_document.{name}", "mode": "data", "type": "aws_iam_policy_document",
         "values": {"json": text}}
        for name, text in (("trust", trust), ("identity", identity))
    ]  # fmt: skip
    unknown_role = {"address": "aws_iam_role.r", "mode": "managed", "type": "aws_iam_role", "values": {"name": "r"}}
    plan = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [unknown_role]}},
        "prior_state": {"values": {"root_module": {"resources": data}}},
    }

    _, policies = extract(plan)

    assert [p.address for p in policies] == ["data.aws_iam_policy_document.trust"]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "template: expected an object, found a list"),
        ({"AWSTemplateFormatVersion": "2010-09-09"}, "template: neither a CloudFormation template"),
        ({"Resources": []}, "template: Resources: expected an object, found a list"),
        ({"Resources": {"R": _role("{nope")}}, "template: Resources.R.Properties.AssumeRolePolicyDocument: not JSON"),
        ({"Resources": {"R": _role({"Fn::ImportValue": "SharedTrust"})}},
         "template: Resources.R.Properties.AssumeRolePolicyDocument: expected an object, found '${Fn::ImportValue}'"),
        (
            {"format_version": "1.2", "planned_values": {"root_module": {"resources": [
                {"address": "aws_iam_role.x", "type": "aws_iam_role", "values": {"assume_role_policy": "[1]"}}]}}},
            "template: aws_iam_role.x.assume_role_policy: expected an object, found a list",
        ),
    ],
)  # fmt: skip
def test_unusable_documents_name_the_place_and_the_reason(document: object, says: str) -> None:
    with pytest.raises(InputError) as raised:
        extract(document)
    assert str(raised.value).startswith(says)


@pytest.mark.parametrize(
    ("text", "anchors", "line"),
    [
        ("Resources:\n  Role:\n    Properties:\n      AssumeRolePolicyDocument:\n", ("Resources", "Role", "AssumeRolePolicyDocument"), 4),
        ("Outputs:\n  Arn: !GetAtt Role.Arn\nResources:\n  Role:\n", ("Resources", "Role"), 4),
        ('{\n "Resources": {\n  "Role": {\n   "Properties": {}}}}', ("Resources", "Role"), 3),
        ("a:\n  'gitlab.com:sub': x\n  gitlab.com:sub: y\n", ("gitlab.com:sub",), 2),
        ("a:\n  gitlab.com:sub-x: y\n  gitlab.com:sub: z\n", ("gitlab.com:sub",), 3),
        ("Resources:\n  Other: !Ref Role\n", ("Resources", "Role"), None),
    ],
)  # fmt: skip
def test_keys_are_found_in_order_in_json_and_yaml_text(text: str, anchors: tuple[str, ...], line: int | None) -> None:
    offset = find(text, tuple(Anchor(a) for a in anchors))
    assert (None if offset is None else line_at(text, offset)) == line


def test_a_key_with_its_value_finds_one_resource_among_many() -> None:
    text = '{\n"address": "aws_iam_role.a",\n"x": 1,\n"address": "aws_iam_role.ab",\n"assume_role_policy": ""}'

    offset = find(text, (Anchor("address", "aws_iam_role.ab"), Anchor("assume_role_policy")))

    assert offset is not None and line_at(text, offset) == 5
