"""Refusals real workloads meet: CloudTrail's refused AssumeRoleWithWebIdentity calls, through EventBridge, to a
small function that explains each one and notifies the topic.

AssumeRoleWithWebIdentity is a read-only management event, which a rule in state ENABLED never sees: the rule
must be ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail-management.html). No trail
is needed: EventBridge receives management events from CloudTrail's event history. Events arrive in the role's
account, in the Region of the STS endpoint the workload called; this rule sees the stack's Region, and the
forwarding stacks (infra/forwarding.py) bring the other Regions' refusals to this Region's default bus.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.alarms import fleet_metric
from infra.asset import Asset
from infra.function import LOG_RETENTION, RUNTIME, depend_on_policy_only
from infra.permissions import (
    EVENT_ACTIONS,
    PUBLISH_ACTIONS,
    TOPIC_KEY_ACTIONS,
    acknowledge,
    grant_read_roles_and_providers,
)
from webid_canary import names

HANDLER = "webid_canary.handler.refusal_handler"
# A delivery reads the few items it needs by key (BatchGetItem) and writes its own items conditionally.
STATE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:PutItem")
RULE_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
# The one definition of the refusals' pattern: this Region's rule and every forwarding rule use it.
EVENT_PATTERN = {
    "source": ["aws.sts"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["sts.amazonaws.com"],
        "eventName": ["AssumeRoleWithWebIdentity"],
        "errorCode": [{"exists": True}],
    },
}
MEMORY_MB = 256
TIMEOUT_SECONDS = 30


def refusal_rule(scope: Construct, construct_id: str, *, description: str, target: events.IRuleTarget) -> events.Rule:
    """A rule on the default bus that matches refused AssumeRoleWithWebIdentity calls, in the state that lets it
    see read-only management events."""
    rule = events.Rule(
        scope,
        construct_id,
        description=description,
        event_pattern=events.EventPattern(
            source=EVENT_PATTERN["source"],  # type: ignore[arg-type]
            detail_type=EVENT_PATTERN["detail-type"],  # type: ignore[arg-type]
            detail=EVENT_PATTERN["detail"],  # type: ignore[arg-type]
        ),
        targets=[target],
    )
    # The L2 rule knows ENABLED and DISABLED only; read-only management events need this state.
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    cfn_rule.add_property_override("State", RULE_STATE)
    return rule


@dataclass(frozen=True)
class RefusalWatchProps:
    asset: Asset
    targets: dynamodb.ITable
    state: dynamodb.ITable
    topic: sns.ITopic
    topic_key: kms.IKey
    period_seconds: int
    # The bus every notice also goes to (as the monitor's); None: SNS only.
    event_bus: str | None = "default"


class RefusalWatch(Construct):
    """The rule, the function it invokes with the least it needs, and an alarm on the refusals it counts."""

    def __init__(self, scope: Construct, construct_id: str, props: RefusalWatchProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="webid-canary refusals: reads the refused role and its provider; writes state; notifies",
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(props.asset.path), exclude=[".complete"]),
            memory_size=MEMORY_MB,
            timeout=Duration.seconds(TIMEOUT_SECONDS),
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            description="webid-canary: explains refused AssumeRoleWithWebIdentity calls from CloudTrail",
            environment={
                names.ENV_TARGETS_TABLE: props.targets.table_name,
                names.ENV_STATE_TABLE: props.state.table_name,
                names.ENV_TOPIC_ARN: props.topic.topic_arn,
                names.ENV_POWERTOOLS_SERVICE_NAME: names.SERVICE_NAME,
                names.ENV_POWERTOOLS_METRICS_NAMESPACE: names.METRIC_NAMESPACE,
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                **({names.ENV_EVENT_BUS: props.event_bus} if props.event_bus else {}),
            },
        )
        # It reads the State items of the refusals it handles, by key, and writes them conditionally; it never
        # deletes.
        props.state.grant(role, *STATE_ACTIONS)
        iam.Grant.add_to_principal(grantee=role, actions=list(PUBLISH_ACTIONS), resource_arns=[props.topic.topic_arn])
        if props.event_bus:
            # Its notices also go on the monitor's bus: PutEvents on that one bus only.
            iam.Grant.add_to_principal(
                grantee=role,
                actions=list(EVENT_ACTIONS),
                resource_arns=[stack.format_arn(service="events", resource="event-bus", resource_name=props.event_bus)],
            )
        props.topic_key.grant(role, *TOPIC_KEY_ACTIONS)
        grant_read_roles_and_providers(role, "ReadRefusedRolesAndOidcProviders")
        depend_on_policy_only(self.function, role)
        acknowledge(
            role,
            "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*",
            "A refusal may name any role of this account; iam:GetRole is read-only and returns the trust policy "
            "the refusal is explained with.",
        )
        acknowledge(
            role,
            "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:oidc-provider/*",
            "A refusal may name any provider of this account; iam:GetOpenIDConnectProvider is read-only.",
        )
        acknowledge(
            role,
            "Resource::*",
            "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource type: IAM accepts only '*' for them.",
        )
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Python 3.13 on purpose: the lock file, the wheels and the tests all target 3.13.",
            )
        )
        self.rule = refusal_rule(
            self,
            "Rule",
            description="Refused AssumeRoleWithWebIdentity calls, from CloudTrail (read-only management events)",
            target=targets.LambdaFunction(self.function, retry_attempts=2),
        )
        self.alarm_name = f"{stack.stack_name}-{names.METRIC_REAL_REFUSALS}"
        self.alarm = cloudwatch.Alarm(
            self,
            "RealRefusalsAlarm",
            alarm_name=self.alarm_name,
            alarm_description="A real workload was refused by STS (the notice on the topic says why)",
            metric=fleet_metric(names.METRIC_REAL_REFUSALS, "Sum", Duration.seconds(props.period_seconds)),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(actions.SnsAction(props.topic))
        self.alarm.add_ok_action(actions.SnsAction(props.topic))
