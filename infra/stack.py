"""The webid-canary stack: tables, function, schedule, topic, permissions, alarms and dashboard.

In organization mode the function is replaced by the organization cycle (infra/organization.py): a state machine
of four step functions, started by the same schedule, watched by the same alarms plus its own.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.alarms import Alarms, AlarmsProps
from infra.asset import Asset
from infra.config import CanaryConfig, OrganizationConfig
from infra.dashboard import Dashboard
from infra.function import CanaryFunction, FunctionProps, timeout_for
from infra.orchestration import REPORT_FUNCTION
from infra.organization import OrganizationCycle, OrganizationProps, step_timeout
from infra.permissions import Permissions, PermissionsProps
from infra.refusals import RefusalWatch, RefusalWatchProps
from infra.schedule import CycleSchedule
from infra.tables import Tables
from infra.topic import Topic


class CanaryStack(Stack):
    """One stack of small constructs, each one concern."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: CanaryConfig, asset: Asset, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        period = config.schedule.period_seconds
        tables = Tables(self, "Tables")
        topic = Topic(self, "Notifications", alarm_email=config.alarm_email)
        self.function: lambda_.Function | None = None
        self.organization: OrganizationCycle | None = None
        if config.organization is None:
            alarms_props, log_groups = self._monitor(config, asset, tables, topic)
        else:
            alarms_props, log_groups = self._organization(config, config.organization, asset, tables, topic)
        alarms = Alarms(self, "Alarms", alarms_props)
        refusals = RefusalWatch(
            self,
            "Refusals",
            RefusalWatchProps(
                asset=asset,
                targets=tables.targets,
                state=tables.state,
                topic=topic.topic,
                topic_key=topic.key,
                period_seconds=period,
                event_bus=config.event_bus,
            ),
        )
        alarms.names.append(refusals.alarm_name)
        dashboard = Dashboard(
            self,
            "Dashboard",
            function=alarms_props.function,
            log_groups=log_groups,
            alarm_names=alarms.names,
            period_seconds=period,
            state_machine=self.organization.state_machine if self.organization else None,
        )
        dashboard.node.add_dependency(alarms)

        self.targets_table = tables.targets
        self.state_table = tables.state
        self.topic = topic.topic
        self.alarms = alarms
        self.refusals = refusals
        CfnOutput(self, "TargetsTableName", value=tables.targets.table_name)
        CfnOutput(self, "StateTableName", value=tables.state.table_name)
        CfnOutput(self, "TopicArn", value=topic.topic.topic_arn)
        if self.function is not None:
            CfnOutput(self, "FunctionName", value=self.function.function_name)
        if self.organization is not None:
            CfnOutput(self, "StateMachineArn", value=self.organization.state_machine.state_machine_arn)
            CfnOutput(self, "PlanBucketName", value=self.organization.bucket.bucket_name)

    def _monitor(
        self, config: CanaryConfig, asset: Asset, tables: Tables, topic: Topic
    ) -> tuple[AlarmsProps, list[logs.ILogGroup]]:
        """The one-account cycle: the monitor function, its permissions and its schedule."""
        period = config.schedule.period_seconds
        function = CanaryFunction(
            self,
            "Canary",
            FunctionProps(
                asset=asset,
                targets=tables.targets,
                state=tables.state,
                topic=topic.topic,
                reminder_hours=config.reminder_hours,
                period_seconds=period,
                event_bus=config.event_bus,
                security_hub=config.security_hub,
            ),
        )
        Permissions(
            self,
            "Permissions",
            PermissionsProps(
                role=function.role,
                targets=tables.targets,
                state=tables.state,
                topic=topic.topic,
                topic_key=topic.key,
                enable_cognito_probes=config.enable_cognito_probes,
                notification_topics=config.notification_topics,
                event_bus=config.event_bus,
                security_hub=config.security_hub,
            ),
        )
        CycleSchedule(
            self,
            "Schedule",
            target=targets.LambdaFunction(function.function, retry_attempts=0),
            expression=config.schedule.expression,
        )
        self.function = function.function
        alarms_props = AlarmsProps(
            function=function.function,
            topic=topic.topic,
            period_seconds=period,
            timeout_seconds=timeout_for(period),
            alarmed_targets=config.alarmed_targets,
        )
        return alarms_props, [function.log_group]

    def _organization(
        self, config: CanaryConfig, organization: OrganizationConfig, asset: Asset, tables: Tables, topic: Topic
    ) -> tuple[AlarmsProps, list[logs.ILogGroup]]:
        """The organization cycle: its state machine (no monitor function: the steps do its work) and schedule."""
        period = config.schedule.period_seconds
        cycle = OrganizationCycle(
            self,
            "Organization",
            OrganizationProps(
                asset=asset,
                targets=tables.targets,
                state=tables.state,
                topic=topic.topic,
                topic_key=topic.key,
                config=config,
                organization=organization,
            ),
        )
        # An empty input: the steps take the cycle's id and start time from the execution itself.
        CycleSchedule(
            self,
            "Schedule",
            target=targets.SfnStateMachine(
                cycle.state_machine, input=events.RuleTargetInput.from_object({}), retry_attempts=0
            ),
            expression=config.schedule.expression,
        )
        self.organization = cycle
        alarms_props = AlarmsProps(
            function=cycle.steps[REPORT_FUNCTION].function,
            topic=topic.topic,
            period_seconds=period,
            timeout_seconds=step_timeout(REPORT_FUNCTION, period),
            alarmed_targets=config.alarmed_targets,
            function_label="The organization cycle's report step",
            state_machine=cycle.state_machine,
        )
        return alarms_props, [step.log_group for step in cycle.steps.values()]
