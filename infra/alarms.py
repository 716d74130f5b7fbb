"""The alarms: what ops are paged for. Each watches one metric the function emits and notifies the topic."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from webid_canary import names

# Fleet metrics carry exactly the dimension Powertools adds from POWERTOOLS_SERVICE_NAME.
FLEET_DIMENSIONS = {names.DIMENSION_SERVICE: names.SERVICE_NAME}


def fleet_metric(metric_name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A fleet-level metric of the canary, as the EMF lines of the function define it."""
    return cloudwatch.Metric(
        namespace=names.METRIC_NAMESPACE,
        metric_name=metric_name,
        dimensions_map=FLEET_DIMENSIONS,
        statistic=statistic,
        period=period,
    )


def headroom_threshold(timeout_seconds: int) -> int:
    """Seconds of headroom under which a cycle counts as near its deadline: a tenth of the timeout, at least 10."""
    return max(10, timeout_seconds // 10)


@dataclass(frozen=True)
class AlarmsProps:
    """The function watched, the topic notified, the cycle interval and the targets alarmed one by one.

    `function` is the one that ends a cycle and emits the heartbeat (CycleCompleted): the monitor function, or in
    organization mode the report step, watched together with the cycle's `state_machine`.
    """

    function: lambda_.IFunction
    topic: sns.ITopic
    period_seconds: int
    timeout_seconds: int
    alarmed_targets: tuple[str, ...]
    function_label: str = "The canary function"
    state_machine: sfn.IStateMachine | None = None


class Alarms(Construct):
    """Fleet alarms, the heartbeat, function errors and optional per-target alarms, all acting on the topic."""

    def __init__(self, scope: Construct, construct_id: str, props: AlarmsProps) -> None:
        super().__init__(scope, construct_id)
        self._prefix = Stack.of(self).stack_name
        self._action = actions.SnsAction(props.topic)
        period = Duration.seconds(props.period_seconds)
        self.names: list[str] = []

        def at_least_one(
            construct_id: str, metric: cloudwatch.IMetric, description: str, alarm_name: str | None = None
        ) -> cloudwatch.Alarm:
            return self._alarm(
                construct_id,
                alarm_name=alarm_name,
                metric=metric,
                description=description,
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                # Between cycles there is no data: keep the last state; the heartbeat alarm covers silence.
                missing=cloudwatch.TreatMissingData.IGNORE,
            )

        self.targets_failing = at_least_one(
            "TargetsFailing",
            fleet_metric(names.METRIC_TARGETS_FAILING, "Maximum", period),
            "At least one registered target would be refused by STS.",
        )
        self.provider_drift = at_least_one(
            "ProviderDrift",
            fleet_metric(names.METRIC_PROVIDER_DRIFTS, "Maximum", period),
            "At least one OIDC provider no longer matches its issuer or its baseline.",
        )
        self.trust_open = at_least_one(
            "TrustOpen",
            fleet_metric(names.METRIC_TARGETS_OPEN, "Maximum", period),
            "A role trusts a workload it must not trust (a negative probe was allowed).",
        )
        self.targets_in_error = at_least_one(
            "TargetsInError",
            fleet_metric(names.METRIC_TARGETS_IN_ERROR, "Maximum", period),
            "At least one target could not be checked (configuration, token source or an outage): a blind spot.",
        )
        self.heartbeat = self._alarm(
            "HeartbeatMissing",
            metric=fleet_metric(names.METRIC_CYCLE_COMPLETED, "Sum", period),
            description="No cycle completed in two schedule intervals: the monitor is not reporting.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        self.function_errors = self._alarm(
            "FunctionErrors",
            metric=props.function.metric_errors(period=period, statistic="Sum"),
            description=f"{props.function_label} failed (an exception or a timeout).",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.near_deadline = self._alarm(
            "CycleNearDeadline",
            metric=fleet_metric(names.METRIC_CYCLE_DEADLINE_HEADROOM, "Minimum", period),
            description="A cycle ended close to its deadline: raise the timeout or split the fleet.",
            threshold=headroom_threshold(props.timeout_seconds),
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.IGNORE,
        )
        if props.state_machine is not None:
            self._orchestration(props.state_machine, period)
        for index, target_id in enumerate(props.alarmed_targets):
            at_least_one(
                f"TargetFailing{index}",
                cloudwatch.Metric(
                    namespace=names.METRIC_NAMESPACE,
                    metric_name=names.METRIC_TARGET_FAILING,
                    dimensions_map={**FLEET_DIMENSIONS, names.DIMENSION_TARGET: target_id},
                    statistic="Maximum",
                    period=period,
                ),
                f"Target {target_id} would be refused by STS.",
                alarm_name=f"TargetFailing-{target_id}",
            )

    def _orchestration(self, state_machine: sfn.IStateMachine, period: Duration) -> None:
        """Organization mode: a shard that did not answer, and a cycle execution that failed or timed out."""
        self.shards_failed = self._alarm(
            "ShardsFailed",
            metric=fleet_metric(names.METRIC_SHARDS_FAILED, "Sum", period),
            description="A shard of accounts was not checked this cycle (reader role, throttling or a timeout).",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.IGNORE,
        )
        self.executions_failed = self._alarm(
            "ExecutionsFailed",
            metric=state_machine.metric_failed(period=period, statistic="Sum"),
            description="A cycle's Step Functions execution failed: its report may be missing.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.executions_timed_out = self._alarm(
            "ExecutionsTimedOut",
            metric=state_machine.metric_timed_out(period=period, statistic="Sum"),
            description="A cycle's Step Functions execution timed out.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _alarm(
        self,
        construct_id: str,
        *,
        alarm_name: str | None = None,
        metric: cloudwatch.IMetric,
        description: str,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int,
        missing: cloudwatch.TreatMissingData,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{alarm_name or construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.names.append(f"{self._prefix}-{alarm_name or construct_id}")
        return alarm
