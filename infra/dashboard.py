"""The CloudWatch dashboard: the fleet at a glance and the state of every alarm."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.alarms import fleet_metric
from webid_canary import names


class Dashboard(Construct):
    """Alarm states on top, then the fleet counts, provider drift, and the cycle's health."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        alarm_names: Sequence[str],
        period_seconds: int,
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
