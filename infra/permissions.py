"""Least privilege for the function: each statement is one thing the cycle does, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.function import security_hub_product
from webid_canary import names

IAM_READ_ACTIONS = ("iam:GetRole", "iam:GetOpenIDConnectProvider")
IAM_LIST_ACTIONS = ("iam:ListRoles", "iam:ListOpenIDConnectProviders")
PUBLISH_ACTIONS = ("sns:Publish",)
EVENT_ACTIONS = ("events:PutEvents",)
FINDING_ACTIONS = ("securityhub:BatchImportFindings",)
# What SNS calls on the publisher's behalf to encrypt a message with the topic's key.
TOPIC_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
COGNITO_ACTIONS = ("cognito-identity:GetOpenIdTokenForDeveloperIdentity",)


def acknowledge(role: iam.IRole, finding: str, reason: str) -> None:
    """Record why one cdk-nag AwsSolutions-IAM5 wildcard finding on the role is intended."""
    Validations.of(role).acknowledge(Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=reason))


def grant_read_roles_and_providers(role: iam.IRole, sid: str) -> None:
    """iam:GetRole and iam:GetOpenIDConnectProvider on every role and OIDC provider of the stack's account."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=list(IAM_READ_ACTIONS),
            resources=[
                stack.format_arn(service="iam", region="", resource="role", resource_name="*"),
                stack.format_arn(service="iam", region="", resource="oidc-provider", resource_name="*"),
            ],
        )
    )


@dataclass(frozen=True)
class PermissionsProps:
    """The grantee and the resources it works on."""

    role: iam.IRole
    targets: dynamodb.ITable
    state: dynamodb.ITable
    topic: sns.ITopic
    topic_key: kms.IKey
    enable_cognito_probes: bool
    notification_topics: tuple[str, ...] = ()
    event_bus: str = "default"
    security_hub: bool = False


def grant_notify(
    role: iam.IRole,
    *,
    topic: sns.ITopic,
    topic_key: kms.IKey,
    notification_topics: tuple[str, ...] = (),
    event_bus: str = "default",
    security_hub: bool = False,
) -> None:
    """Where notices go: the topic(s) with the topic's key, the event bus, and Security Hub when enabled."""
    stack = Stack.of(role)
    # topic.grant_publish would add kms:GenerateDataKey*; the two actions SNS uses are granted instead.
    iam.Grant.add_to_principal(
        grantee=role,
        actions=list(PUBLISH_ACTIONS),
        resource_arns=[topic.topic_arn, *notification_topics],
    )
    topic_key.grant(role, *TOPIC_KEY_ACTIONS)
    # Every notice also goes on the event bus: PutEvents on that one bus only.
    iam.Grant.add_to_principal(
        grantee=role,
        actions=list(EVENT_ACTIONS),
        resource_arns=[stack.format_arn(service="events", resource="event-bus", resource_name=event_bus)],
    )
    if security_hub:
        # Findings are imported under the account's own "default" product only.
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(FINDING_ACTIONS),
            resource_arns=[security_hub_product(stack)],
        )


def grant_account_checks(role: iam.IRole, *, enable_cognito_probes: bool) -> None:
    """What checking the stack's own account needs: read and list roles and providers, read token-source
    secrets, and (when enabled) mint Cognito tokens; with the cdk-nag acknowledgements of each wildcard."""
    stack = Stack.of(role)
    grant_read_roles_and_providers(role, "ReadRolesAndOidcProviders")
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
    acknowledge(
        role,
        "Resource::*",
        "iam:ListRoles and iam:ListOpenIDConnectProviders act on the account and X-Ray's "
        "PutTraceSegments/PutTelemetryRecords have no resource type: IAM accepts only '*' for them.",
    )
    acknowledge(
        role,
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*",
        "Targets are registered at run time in the Targets table, so any role of this account may be read; "
        "iam:GetRole is read-only and returns the trust policy the cycle evaluates.",
    )
    acknowledge(
        role,
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:oidc-provider/*",
        "Providers follow the registered issuers at run time; iam:GetOpenIDConnectProvider is read-only.",
    )
    acknowledge(
        role,
        f"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:{names.SECRET_PREFIX}*",
        "Token-source secrets are named at registration; the wildcard is confined to the product's prefix.",
    )
    if enable_cognito_probes:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="MintCognitoDeveloperIdentityTokens",
                actions=list(COGNITO_ACTIONS),
                resources=[stack.format_arn(service="cognito-identity", resource="identitypool", resource_name="*")],
            )
        )
        acknowledge(
            role,
            "Resource::arn:<AWS::Partition>:cognito-identity:<AWS::Region>:<AWS::AccountId>:identitypool/*",
            "Identity pools of Cognito-style targets are registered at run time, in this account and region.",
        )


class Permissions(Construct):
    """Grants the function role what a cycle needs.

    No STS statement: AssumeRoleWithWebIdentity is an unsigned call authorised by the web identity token and
    the role's trust policy, so the probe works without any permission of the caller.
    """

    def __init__(self, scope: Construct, construct_id: str, props: PermissionsProps) -> None:
        super().__init__(scope, construct_id)
        role = props.role
        props.targets.grant_read_data(role)
        props.state.grant_read_write_data(role)
        grant_notify(
            role,
            topic=props.topic,
            topic_key=props.topic_key,
            notification_topics=props.notification_topics,
            event_bus=props.event_bus,
            security_hub=props.security_hub,
        )
        grant_account_checks(role, enable_cognito_probes=props.enable_cognito_probes)
