"""Organization mode: one cycle is one Step Functions Standard execution over the accounts of an organization.

What it deploys in the monitor's account: a bucket for each cycle's plan, the four step functions (plan, issuer,
shard, report) from the same asset as the monitor, the state machine of infra/orchestration.py, and a
service-managed StackSet that puts a read-only reader role in every account of the given OUs, present and
future. StackSets never deploy to the management account: `ReaderStack` is the same role as a stack of its own,
deployed there by hand (docs/deploy.md).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    BootstraplessSynthesizer,
    CfnResource,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import cloudformation_include as cfn_include
from constructs import Construct

from infra.asset import Asset
from infra.config import CanaryConfig, OrganizationConfig
from infra.function import (
    LOG_RETENTION,
    AssetFunction,
    FunctionProps,
    FunctionSpec,
    cycle_environment,
    depend_on_policy_only,
)
from infra.orchestration import (
    HANDLERS,
    ISSUER_FUNCTION,
    PLAN_FUNCTION,
    REPORT_FUNCTION,
    SHARD_FUNCTION,
    SUBSTITUTIONS,
    definition_string,
)
from infra.permissions import acknowledge, grant_account_checks, grant_notify
from webid_canary import names

# Every object a cycle writes (the plan, the issuer results, each shard's targets) is under this prefix.
PLAN_PREFIX: Final = "cycles/"
PLAN_EXPIRY_DAYS: Final = 1
# The shard role has a fixed name, per Region, because the reader roles of other accounts name it in their trust
# policy before it exists (see reader_template). One organization deployment per account and Region.
SHARD_ROLE_PREFIX: Final = "webid-canary-shard-"
READER_STACK_ID: Final = "WebIdCanaryReader"
# What the reader role may do: list and read roles and OIDC providers of its own account, nothing else.
READER_ACTIONS: Final = (
    "iam:GetRole",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
)
READER_MAX_SESSION_SECONDS: Final = 3600
# The plan step reads the organization (accounts, each account's path, the resource control policies on it).
ORGANIZATIONS_ACTIONS: Final = (
    "organizations:ListAccounts",
    "organizations:ListParents",
    "organizations:ListPoliciesForTarget",
    "organizations:DescribePolicy",
)
S3_READ: Final = ("s3:GetObject",)
S3_WRITE: Final = ("s3:PutObject",)
STATE_MACHINE_RUN_ACTIONS: Final = ("states:StartExecution",)
STATE_MACHINE_CHILD_ACTIONS: Final = ("states:DescribeExecution", "states:StopExecution")
INVOKE_ACTIONS: Final = ("lambda:InvokeFunction",)
ASSUME_ACTIONS: Final = ("sts:AssumeRole",)
# StackSet rollout to existing accounts: up to a quarter of the accounts at once, and keep going while at most a
# tenth fail (SOFT_FAILURE_TOLERANCE decouples the two). Automatic deployment to new accounts ignores these:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html
STACKSET_FAILURE_TOLERANCE_PERCENT: Final = 10
STACKSET_MAX_CONCURRENT_PERCENT: Final = 25


@dataclass(frozen=True)
class Step:
    """One step function: its construct id, memory and time limit (capped at the schedule's interval)."""

    construct_id: str
    memory_mb: int
    timeout_seconds: int
    description: str
    role_description: str


# Memory: the shard judges up to names.SHARD_MAX_TARGETS targets (CPU-bound explains and SDK parsing), twice the
# monitor's 1,000-target cycle, so twice its memory and CPU; the others do a few calls each.
STEPS: Final = {
    PLAN_FUNCTION: Step(
        "Plan",
        512,
        120,
        "webid-canary organization cycle: takes the lease, plans shards and issuers to S3",
        "webid-canary plan step: reads targets and the organization; writes the lease and the plan",
    ),
    ISSUER_FUNCTION: Step(
        "Issuer",
        512,
        60,
        "webid-canary organization cycle: inspects one OIDC issuer",
        "webid-canary issuer step: writes one issuer's inspection to S3",
    ),
    SHARD_FUNCTION: Step(
        "Shard",
        1024,
        240,
        f"webid-canary organization cycle: checks the targets of up to {names.SHARD_MAX_ACCOUNTS} accounts through "
        "their reader roles",
        "webid-canary shard step: assumes the reader roles; writes state; notifies",
    ),
    REPORT_FUNCTION: Step(
        "Report",
        512,
        120,
        "webid-canary organization cycle: fleet metrics, heartbeat and notices once per cycle",
        "webid-canary report step: reads state and the plan; notifies",
    ),
}


def step_timeout(placeholder: str, period_seconds: int) -> int:
    """A step function's timeout: its own limit, never longer than the schedule's interval."""
    return min(STEPS[placeholder].timeout_seconds, period_seconds)


def shard_role_name(region: str) -> str:
    """The shard function's role name in a Region (a token or `${MonitorRegion}` in the reader template)."""
    return f"{SHARD_ROLE_PREFIX}{region}"


def reader_template() -> dict[str, Any]:
    """The reader role's CloudFormation template: the StackSet's body and the management account's stack.

    The trust policy names the monitor account's root and narrows it with aws:PrincipalArn to the shard role's
    ARN, built from the account and the shard role's fixed name. A role ARN as the Principal would have to exist
    when the reader role is created (IAM checks it, and would keep a stale unique id if it were re-created); the
    reader roles are deployed before, and independently of, the monitor's stack.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    """
    shard_role = f"arn:${{AWS::Partition}}:iam::${{MonitorAccountId}}:role/{shard_role_name('${MonitorRegion}')}"
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "webid-canary reader role: lets the monitor's shard function read this account's roles "
        "and OIDC providers",
        "Parameters": {
            "MonitorAccountId": {
                "Type": "String",
                "AllowedPattern": "^[0-9]{12}$",
                "Description": "The account the webid-canary monitor (its WebIdCanary stack) runs in",
            },
            "MonitorRegion": {
                "Type": "String",
                "AllowedPattern": "^[a-z]{2}(-[a-z]+)+-[0-9]+$",
                "Description": "The Region of the monitor's WebIdCanary stack (its shard role is named after it)",
            },
        },
        "Resources": {
            "ReaderRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": names.READER_ROLE_NAME,
                    "Description": "webid-canary: read-only access to this account's roles and OIDC providers",
                    "MaxSessionDuration": READER_MAX_SESSION_SECONDS,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "MonitorShardFunctionOnly",
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${MonitorAccountId}:root"}
                                },
                                "Action": "sts:AssumeRole",
                                "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Fn::Sub": shard_role}}},
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "read-roles-and-oidc-providers",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Sid": "ReadRolesAndOidcProviders",
                                        "Effect": "Allow",
                                        "Action": list(READER_ACTIONS),
                                        "Resource": "*",
                                    }
                                ],
                            },
                        }
                    ],
                },
            }
        },
        "Outputs": {"ReaderRoleArn": {"Value": {"Fn::GetAtt": ["ReaderRole", "Arn"]}}},
    }


READER_WILDCARD_REASON: Final = (
    "The reader role lists and reads the roles and OIDC providers of its own account: iam:ListRoles and "
    "iam:ListOpenIDConnectProviders accept only '*', and the roles read are whatever targets name at run time; "
    "all four actions are read-only."
)


class ReaderStack(Stack):
    """The reader role for the management account, which StackSets skip: the same template as a stack.

    No CDK bootstrap is needed in the management account (no assets): deploy it with management-account
    credentials and the monitor's account and Region as parameters.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, synthesizer=BootstraplessSynthesizer(), **kwargs)
        # CfnInclude turns the template into typed L1 constructs (a CfnRole), which cdk-nag then checks.
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "reader.template.json"
            path.write_text(json.dumps(reader_template()))
            included = cfn_include.CfnInclude(self, "Reader", template_file=str(path))
        Validations.of(included.get_resource("ReaderRole")).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=READER_WILDCARD_REASON)
        )


class ReaderStackSet(Construct):
    """A service-managed StackSet: the reader role in every account of the OUs, and in accounts added later.

    IAM is global, so one Region (the stack's) suffices. Automatic deployment and its removal on leaving:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html
    """

    def __init__(self, scope: Construct, construct_id: str, *, organization: OrganizationConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=f"{stack.stack_name}-reader",
            description="webid-canary reader role: read-only IAM access for the monitor's shard function",
            permission_model="SERVICE_MANAGED",
            # From a delegated administrator of StackSets the calls must say so; from the management account, SELF.
            call_as="DELEGATED_ADMIN" if organization.delegated_admin else "SELF",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
                failure_tolerance_percentage=STACKSET_FAILURE_TOLERANCE_PERCENT,
                max_concurrent_percentage=STACKSET_MAX_CONCURRENT_PERCENT,
                region_concurrency_type="PARALLEL",
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key="MonitorAccountId", parameter_value=stack.account
                ),
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key="MonitorRegion", parameter_value=stack.region
                ),
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organization.org_units)
                    ),
                    regions=[stack.region],
                )
            ],
            template_body=json.dumps(reader_template(), sort_keys=True),
        )


@dataclass(frozen=True)
class OrganizationProps:
    """The shared resources the steps work on, and the settings."""

    asset: Asset
    targets: dynamodb.ITable
    state: dynamodb.ITable
    topic: sns.ITopic
    topic_key: kms.IKey
    config: CanaryConfig
    organization: OrganizationConfig


class OrganizationCycle(Construct):
    """The plan bucket, the four step functions with their least privilege, the state machine and the StackSet."""

    def __init__(self, scope: Construct, construct_id: str, props: OrganizationProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        config, organization = props.config, props.organization
        period = config.schedule.period_seconds
        self.bucket = s3.Bucket(
            self,
            "PlanBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="ExpirePlans", expiration=Duration.days(PLAN_EXPIRY_DAYS))],
            # Kept when the stack is deleted (CloudFormation cannot delete a bucket with objects); it empties
            # itself within a day.
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="The bucket holds only each cycle's own plan, reachable by this stack's roles alone (under "
                f"{PLAN_PREFIX}) and expired after a day; CloudTrail data events can audit it when needed.",
            )
        )
        objects = self.bucket.arn_for_objects(f"{PLAN_PREFIX}*")
        bucket_id = stack.resolve(stack.get_logical_id(self._cfn(self.bucket)))
        objects_finding = f"Resource::<{bucket_id}.Arn>/{PLAN_PREFIX}*"

        environment = {
            **cycle_environment(
                scope,
                FunctionProps(
                    asset=props.asset,
                    targets=props.targets,
                    state=props.state,
                    topic=props.topic,
                    reminder_hours=config.reminder_hours,
                    period_seconds=period,
                    event_bus=config.event_bus,
                    security_hub=config.security_hub,
                ),
            ),
            names.ENV_PLAN_BUCKET: self.bucket.bucket_name,
            names.ENV_READER_ROLE_NAME: names.READER_ROLE_NAME,
            names.ENV_SHARD_MAX_TARGETS: str(names.SHARD_MAX_TARGETS),
            names.ENV_SHARD_MAX_ACCOUNTS: str(names.SHARD_MAX_ACCOUNTS),
            names.ENV_ACCOUNT_METRICS: ",".join(organization.account_metrics),
        }
        self.steps: dict[str, AssetFunction] = {}
        for placeholder, step in STEPS.items():
            self.steps[placeholder] = AssetFunction(
                self,
                step.construct_id,
                asset=props.asset,
                spec=FunctionSpec(
                    handler=HANDLERS[placeholder],
                    description=step.description,
                    role_description=step.role_description,
                    memory_mb=step.memory_mb,
                    timeout_seconds=step_timeout(placeholder, period),
                    environment=environment,
                    role_name=shard_role_name(stack.region) if placeholder == SHARD_FUNCTION else None,
                ),
            )
        plan, issuer = self.steps[PLAN_FUNCTION].role, self.steps[ISSUER_FUNCTION].role
        shard, report = self.steps[SHARD_FUNCTION].role, self.steps[REPORT_FUNCTION].role
        xray = "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource type: IAM accepts only '*' for them."
        plan_objects = f"Each cycle writes its own objects under {PLAN_PREFIX} (named by the execution at run time)."
        read_objects = f"Each cycle reads its own objects under {PLAN_PREFIX} (named by the execution at run time)."

        # plan: the registry, the lease in the State table, the plan to S3, the organization.
        props.targets.grant_read_data(plan)
        props.state.grant_read_write_data(plan)
        iam.Grant.add_to_principal(grantee=plan, actions=list(S3_WRITE), resource_arns=[objects])
        # ListAccounts has no resource type; ListParents, ListPoliciesForTarget and DescribePolicy take account,
        # OU, root and policy ARNs that embed the management account and organization ids, unknown at synthesis:
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html
        plan.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadTheOrganization", actions=list(ORGANIZATIONS_ACTIONS), resources=["*"])
        )
        acknowledge(
            plan,
            "Resource::*",
            "organizations:ListAccounts has no resource type, and the account, OU, root and policy ARNs that "
            "ListParents, ListPoliciesForTarget and DescribePolicy accept embed the management account and "
            "organization ids, unknown at synthesis; all four are read-only. " + xray,
        )
        acknowledge(plan, objects_finding, plan_objects)

        # issuer: its inspection to S3.
        iam.Grant.add_to_principal(grantee=issuer, actions=list(S3_WRITE), resource_arns=[objects])
        acknowledge(issuer, "Resource::*", xray)
        acknowledge(issuer, objects_finding, plan_objects)

        # shard: its targets and the issuers' results from S3, state, notices, its own account's checks, and the
        # reader role of every other account.
        iam.Grant.add_to_principal(grantee=shard, actions=list(S3_READ), resource_arns=[objects])
        props.state.grant_read_write_data(shard)
        grant_notify(
            shard,
            topic=props.topic,
            topic_key=props.topic_key,
            notification_topics=config.notification_topics,
            event_bus=config.event_bus,
            security_hub=config.security_hub,
        )
        grant_account_checks(shard, enable_cognito_probes=config.enable_cognito_probes)
        reader_roles = stack.format_arn(
            service="iam", region="", account="*", resource="role", resource_name=names.READER_ROLE_NAME
        )
        shard.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AssumeReaderRoles",
                actions=list(ASSUME_ACTIONS),
                resources=[reader_roles],
                # Only roles of accounts in this organization, when its id is given:
                # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid
                conditions=(
                    {"StringEquals": {"aws:ResourceOrgID": organization.organization_id}}
                    if organization.organization_id
                    else None
                ),
            )
        )
        acknowledge(
            shard,
            f"Resource::arn:<AWS::Partition>:iam::*:role/{names.READER_ROLE_NAME}",
            "The reader role has one fixed name in every member account; accounts join the organization at run "
            "time, and each reader role trusts only this shard role.",
        )
        acknowledge(shard, objects_finding, read_objects)

        # report: the plan and the shards' summaries, state, notices.
        iam.Grant.add_to_principal(grantee=report, actions=list(S3_READ), resource_arns=[objects])
        props.state.grant_read_write_data(report)
        grant_notify(
            report,
            topic=props.topic,
            topic_key=props.topic_key,
            notification_topics=config.notification_topics,
            event_bus=config.event_bus,
            security_hub=config.security_hub,
        )
        acknowledge(report, "Resource::*", xray)
        acknowledge(report, objects_finding, read_objects)

        self.state_machine = self._state_machine(organization, objects, objects_finding)
        self.reader = ReaderStackSet(self, "Reader", organization=organization)

    @staticmethod
    def _cfn(construct: Construct) -> CfnResource:
        child = construct.node.default_child
        assert isinstance(child, CfnResource)
        return child

    def _state_machine(self, organization: OrganizationConfig, objects: str, objects_finding: str) -> sfn.StateMachine:
        """The cycle's state machine: Standard, logged (ALL) and traced, allowed to run only its own steps."""
        stack = Stack.of(self)
        name = f"{stack.stack_name}-Cycle"
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="webid-canary organization cycle: invokes its four steps and reads the plan",
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(INVOKE_ACTIONS),
            resource_arns=[self.steps[placeholder].function.function_arn for placeholder in SUBSTITUTIONS],
        )
        # The maps' ItemReader reads the plan's item lists.
        iam.Grant.add_to_principal(grantee=role, actions=list(S3_READ), resource_arns=[objects])
        # A Distributed Map runs its iterations as child executions of the state machine itself:
        # https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
        colon = ArnFormat.COLON_RESOURCE_NAME
        own = stack.format_arn(service="states", resource="stateMachine", resource_name=name, arn_format=colon)
        children = stack.format_arn(service="states", resource="execution", resource_name=f"{name}/*", arn_format=colon)
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="StartChildExecutions", actions=list(STATE_MACHINE_RUN_ACTIONS), resources=[own])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ManageChildExecutions", actions=list(STATE_MACHINE_CHILD_ACTIONS), resources=[children]
            )
        )
        # Vended logs: the log group's name starts with /aws/vendedlogs/ so that its resource policy stays small:
        # https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                definition_string(map_concurrency=organization.map_concurrency)
            ),
            definition_substitutions={
                placeholder: self.steps[placeholder].function.function_arn for placeholder in SUBSTITUTIONS
            },
            role=role,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        depend_on_policy_only(state_machine, role)
        acknowledge(
            role,
            "Resource::*",
            "Step Functions delivers logs through CloudWatch Logs' log delivery API and X-Ray traces, neither of "
            "which supports resource-level permissions: https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html",
        )
        acknowledge(
            role,
            f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}/*",
            "The Distributed Maps' child executions are named at run time; the wildcard covers only this state "
            "machine's own executions.",
        )
        acknowledge(
            role,
            objects_finding,
            f"The maps read each cycle's item lists under {PLAN_PREFIX} (named by the execution at run time).",
        )
        self.log_group = log_group
        return state_machine
