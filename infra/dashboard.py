"""The CloudWatch dashboard: the fleet at a glance and the state of every alarm."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.alarms import fleet_metric
from webid_canary import names


class Dashboard(Construct):
    """Alarm states on top, then the fleet counts, provider drift, the cycle's health and, in organization mode,
    the orchestration (executions and shards failed). `log_groups` hold the "target checked" lines."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        log_groups: Sequence[logs.ILogGroup],
        alarm_names: Sequence[str],
        period_seconds: int,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.seconds(period_seconds)
        stack = Stack.of(self)
        # Alarms are named in the stack, so their ARNs are known without a GetAtt on each alarm.
        alarms = [
            cloudwatch.Alarm.from_alarm_arn(
                self,
                f"Alarm{index}",
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            for index, name in enumerate(alarm_names)
        ]

        def fleet(metric_name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
            return fleet_metric(metric_name, statistic, period)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24, height=4),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Targets per cycle",
                left=[
                    fleet(names.METRIC_TARGETS_PROBED),
                    fleet(names.METRIC_TARGETS_FAILING),
                    fleet(names.METRIC_TARGETS_IN_ERROR),
                    fleet(names.METRIC_TARGETS_OPEN),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Providers drifting", left=[fleet(names.METRIC_PROVIDER_DRIFTS)], width=12),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cycle duration and deadline headroom",
                left=[fleet(names.METRIC_CYCLE_DURATION)],
                right=[fleet(names.METRIC_CYCLE_DEADLINE_HEADROOM, "Minimum")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Cycles completed and function errors",
                left=[fleet(names.METRIC_CYCLE_COMPLETED, "Sum")],
                right=[function.metric_errors(period=period, statistic="Sum")],
                width=12,
            ),
        )
        if state_machine is not None:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Cycle executions (Step Functions)",
                    left=[
                        state_machine.metric_started(period=period, statistic="Sum"),
                        state_machine.metric_succeeded(period=period, statistic="Sum"),
                        state_machine.metric_failed(period=period, statistic="Sum"),
                        state_machine.metric_timed_out(period=period, statistic="Sum"),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Shards failed and execution time",
                    left=[fleet(names.METRIC_SHARDS_FAILED, "Sum")],
                    right=[state_machine.metric_time(period=period, statistic="Maximum")],
                    width=12,
                ),
            )
        log_group_names = [group.log_group_name for group in log_groups]
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Targets failing, open or not checked (latest line of each)",
                log_group_names=log_group_names,
                query_lines=list(TARGETS_QUERY),
                width=16,
                height=8,
            ),
            cloudwatch.TextWidget(markdown=RUNBOOK, width=8, height=8),
        )
        self.dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Providers: status, root cause and days of certificate left",
                log_group_names=log_group_names,
                query_lines=list(PROVIDERS_QUERY),
                width=12,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="Per-target and per-provider series (targets with alarm: true)",
                left=[_search(names.METRIC_TARGET_FAILING, names.DIMENSION_TARGET, period_seconds)],
                right=[_search(names.METRIC_PROVIDER_DRIFTING, names.DIMENSION_PROVIDER, period_seconds)],
                width=12,
                height=6,
            ),
        )


# The monitor logs one "target checked" line per target (problems at WARNING) and one "provider checked" line per
# provider: Logs Insights turns the latest of each into a table.
TARGETS_QUERY = (
    "fields @timestamp, target_id, status, root_cause, condition_key, role_arn",
    'filter message = "target checked" and status != "ok"',
    "sort @timestamp desc",
    "dedup target_id",
    "limit 100",
)
PROVIDERS_QUERY = (
    "fields @timestamp, provider, status, root_cause, cert_days_left",
    'filter message = "provider checked"',
    "sort @timestamp desc",
    "dedup provider",
    "sort cert_days_left asc",
    "limit 100",
)
RUNBOOK = """### Runbook
* **A target fails**: `webid-canary probe TARGET_ID` shows the failing key, expected and actual, and the fix;
  `webid-canary explain --role-arn ARN --token-file FILE` replays one workload's token.
* **A provider drifts**: `webid-canary drift --issuer https://ISSUER` prints every finding and the ready
  `aws iam update-open-id-connect-provider-thumbprint` command; `--accept` takes an intended change as the baseline.
* **Open to the wrong workload**: pin the `sub` condition; the notice names the workload accepted.
* **Cannot be checked**: the error names the read that failed (IAM, the issuer, the token source) or the deadline.
* AWS: [OIDC identity providers](https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html),
  [AssumeRoleWithWebIdentity](https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html)
"""


def _search(metric_name: str, dimension: str, period_seconds: int) -> cloudwatch.MathExpression:
    """Every series of a per-subject metric, found by name (new targets appear without a redeploy)."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{names.METRIC_NAMESPACE},{dimension},{names.DIMENSION_SERVICE}}} "
            f"MetricName=\"{metric_name}\"', 'Maximum', {period_seconds})"
        ),
        label=metric_name,
        using_metrics={},
        period=Duration.seconds(period_seconds),
    )
