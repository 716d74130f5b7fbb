"""The webid-canary stack: tables, function, schedule, topic, permissions, alarms and dashboard."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.alarms import Alarms, AlarmsProps
from infra.asset import Asset
from infra.config import CanaryConfig
from infra.dashboard import Dashboard
from infra.function import CanaryFunction, FunctionProps, timeout_for
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
        CycleSchedule(self, "Schedule", function=function.function, expression=config.schedule.expression)
        alarms = Alarms(
            self,
            "Alarms",
            AlarmsProps(
                function=function.function,
                topic=topic.topic,
                period_seconds=period,
                timeout_seconds=timeout_for(period),
                alarmed_targets=config.alarmed_targets,
            ),
        )
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
            function=function.function,
            log_group=function.log_group,
            alarm_names=alarms.names,
            period_seconds=period,
        )
        dashboard.node.add_dependency(alarms)

        self.targets_table = tables.targets
        self.state_table = tables.state
        self.topic = topic.topic
        self.function = function.function
        self.alarms = alarms
        self.refusals = refusals
        CfnOutput(self, "TargetsTableName", value=tables.targets.table_name)
        CfnOutput(self, "StateTableName", value=tables.state.table_name)
        CfnOutput(self, "TopicArn", value=topic.topic.topic_arn)
        CfnOutput(self, "FunctionName", value=function.function.function_name)
