"""The functions built from the asset: Python 3.13 on arm64, traced, each with its own role and log group.

`AssetFunction` is the one definition; the monitor function (`CanaryFunction`) and the organization cycle's
step functions are specs of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Acknowledgment, CfnResource, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.asset import Asset
from webid_canary import names

HANDLER = "webid_canary.handler.lambda_handler"
RUNTIME = lambda_.Runtime.PYTHON_3_13
# bench/cycle.py: a steady cycle of 1,000 targets over 50 issuers and 200 roles peaks at about 90 MB of RSS
# and spends its time on latency and CPU (explains, TLS, SDK parsing); Lambda gives CPU in proportion to memory,
# so 512 MB on arm64 (about a third of a vCPU) keeps such a cycle well inside the timeout without idle cost.
MEMORY_MB = 512
# Never longer than the schedule's interval (with reserved concurrency 1 a late cycle would only queue),
# and at most four minutes; the handler stops its own cycle before the Lambda deadline.
MAX_TIMEOUT_SECONDS = 240
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
MAX_EVENT_AGE_SECONDS = 21600


def timeout_for(period_seconds: int) -> int:
    """The function timeout for a schedule interval: the interval itself, capped at four minutes."""
    return min(MAX_TIMEOUT_SECONDS, period_seconds)


def depend_on_policy_only(function: Construct, role: iam.Role) -> None:
    """CDK also lists the role in DependsOn although the Role GetAtt already orders it (cfn-lint W3005): keep
    only the dependency on the role's policy, which the function (or state machine) needs before its first run.
    Call it once the role's statements are added (the policy exists then)."""
    cfn_function = function.node.default_child
    policy = role.node.try_find_child("DefaultPolicy")
    if isinstance(cfn_function, CfnResource) and policy is not None:
        cfn_policy = policy.node.default_child
        if isinstance(cfn_policy, CfnResource):
            cfn_function.add_override("DependsOn", [cfn_policy.logical_id])


@dataclass(frozen=True)
class FunctionProps:
    """What the function is wired to."""

    asset: Asset
    targets: dynamodb.ITable
    state: dynamodb.ITable
    topic: sns.ITopic
    reminder_hours: int
    period_seconds: int
    event_bus: str = "default"
    security_hub: bool = False


def security_hub_product(scope: Construct) -> str:
    """The ARN under which the stack's account imports its own Security Hub findings."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:securityhub:{stack.region}:{stack.account}:product/{stack.account}/default"


def powertools_environment() -> dict[str, str]:
    """What every function of the asset sets for Powertools: the service dimension and the namespace."""
    return {
        names.ENV_POWERTOOLS_SERVICE_NAME: names.SERVICE_NAME,
        names.ENV_POWERTOOLS_METRICS_NAMESPACE: names.METRIC_NAMESPACE,
        # Responses can carry tokens: keep them out of X-Ray.
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }


def cycle_environment(scope: Construct, props: FunctionProps) -> dict[str, str]:
    """The environment of a function that runs (part of) a cycle: tables, topic, bus, findings, Powertools."""
    return {
        names.ENV_TARGETS_TABLE: props.targets.table_name,
        names.ENV_STATE_TABLE: props.state.table_name,
        names.ENV_TOPIC_ARN: props.topic.topic_arn,
        names.ENV_REMINDER_HOURS: str(props.reminder_hours),
        names.ENV_EVENT_BUS: props.event_bus,
        **({names.ENV_SECURITY_HUB_PRODUCT_ARN: security_hub_product(scope)} if props.security_hub else {}),
        **powertools_environment(),
    }


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the asset: its handler, size, time limit, environment and invocation settings."""

    handler: str
    description: str
    role_description: str
    memory_mb: int
    timeout_seconds: int
    environment: Mapping[str, str] = field(default_factory=dict)
    # None: no reserved concurrency (the account's pool).
    reserved_concurrency: int | None = None
    # Asynchronous invocations (a schedule): no retries, events no older than this; None: synchronous callers.
    max_event_age_seconds: int | None = None
    # None: a generated name. A fixed name only where another account must name the role before it exists.
    role_name: str | None = None


class AssetFunction(Construct):
    """A function of the asset with its own role (permissions are added by the caller) and its own log group."""

    def __init__(self, scope: Construct, construct_id: str, *, asset: Asset, spec: FunctionSpec) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Its own role rather than the managed AWSLambdaBasicExecutionRole: logs go to this one log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=spec.role_description,
            role_name=spec.role_name,
        )
        self.log_group.grant_write(self.role)
        asynchronous = spec.max_event_age_seconds is not None
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=lambda_.Code.from_asset(str(asset.path), exclude=[".complete"]),
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            reserved_concurrent_executions=spec.reserved_concurrency,
            # A missed cycle is replaced by the next one: no retries, no stale events.
            retry_attempts=0 if asynchronous else None,
            max_event_age=Duration.seconds(spec.max_event_age_seconds) if spec.max_event_age_seconds else None,
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            description=spec.description,
            environment=dict(spec.environment),
        )
        depend_on_policy_only(self.function, self.role)
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Python 3.13 on purpose: the lock file, the wheels and the tests all target 3.13.",
            )
        )


class CanaryFunction(AssetFunction):
    """The one-account monitor: one cycle per invocation, never two at once (reserved concurrency 1)."""

    def __init__(self, scope: Construct, construct_id: str, props: FunctionProps) -> None:
        super().__init__(
            scope,
            construct_id,
            asset=props.asset,
            spec=FunctionSpec(
                handler=HANDLER,
                description="webid-canary: checks web identity federation targets and OIDC providers",
                role_description="webid-canary function: reads roles, providers and targets; writes state; notifies",
                memory_mb=MEMORY_MB,
                timeout_seconds=timeout_for(props.period_seconds),
                environment=cycle_environment(scope, props),
                reserved_concurrency=1,
                max_event_age_seconds=min(MAX_EVENT_AGE_SECONDS, max(60, props.period_seconds)),
            ),
        )
