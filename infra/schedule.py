"""The EventBridge rule that starts one cycle per interval."""

from __future__ import annotations

from aws_cdk import aws_events as events
from constructs import Construct


class CycleSchedule(Construct):
    """A rate rule starting one cycle: the monitor function, or the organization cycle's state machine.

    Neither is retried: a missed cycle is replaced by the next one, and the target keeps cycles from overlapping
    (reserved concurrency 1, or the cycle's lease).
    """

    def __init__(self, scope: Construct, construct_id: str, *, target: events.IRuleTarget, expression: str) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Runs one webid-canary cycle",
            schedule=events.Schedule.expression(expression),
            targets=[target],
        )
