"""The EventBridge rule that starts one cycle per interval."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class CycleSchedule(Construct):
    """A rate rule invoking the function; the function itself allows no retries and no overlap."""

    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, expression: str) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Runs one webid-canary cycle",
            schedule=events.Schedule.expression(expression),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
