"""Least privilege for the function: each statement is one thing the cycle does, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from webid_canary import names

IAM_READ_ACTIONS = ("iam:GetRole", "iam:GetOpenIDConnectProvider")
IAM_LIST_ACTIONS = ("iam:ListRoles", "iam:ListOpenIDConnectProviders")
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
COGNITO_ACTIONS = ("cognito-identity:GetOpenIdTokenForDeveloperIdentity",)


@dataclass(frozen=True)
class PermissionsProps:
    """The grantee and the resources it works on."""

    role: iam.IRole
    targets: dynamodb.ITable
    state: dynamodb.ITable
    topic: sns.ITopic
    enable_cognito_probes: bool


class Permissions(Construct):
    """Grants the function role what a cycle needs.

    No STS statement: AssumeRoleWithWebIdentity is an unsigned call authorised by the web identity token and
    the role's trust policy, so the probe works without any permission of the caller.
    """

    def __init__(self, scope: Construct, construct_id: str, props: PermissionsProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        role = props.role
        props.targets.grant_read_data(role)
        props.state.grant_read_write_data(role)
        # With a KMS-encrypted topic this also grants the key use that publishing needs.
        props.topic.grant_publish(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadRolesAndOidcProviders",
                actions=list(IAM_READ_ACTIONS),
                resources=[
                    stack.format_arn(service="iam", region="", resource="role", resource_name="*"),
                    stack.format_arn(service="iam", region="", resource="oidc-provider", resource_name="*"),
                ],
            )
        )
        # The list calls act on the account, not on a resource: IAM only accepts "*" for them.
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListRolesAndOidcProviders", actions=list(IAM_LIST_ACTIONS), resources=["*"])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTokenSourceSecrets",
                actions=list(SECRET_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name=f"{names.SECRET_PREFIX}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        if props.enable_cognito_probes:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="MintCognitoDeveloperIdentityTokens",
                    actions=list(COGNITO_ACTIONS),
                    resources=[
                        stack.format_arn(service="cognito-identity", resource="identitypool", resource_name="*")
                    ],
                )
            )
