"""Refusals from other Regions: one small stack per Region, whose rule sends the refused calls logged there to the
monitor Region's default event bus, where the refusal rule (infra/refusals.py) explains them.

CloudTrail logs a call in the Region of the STS endpoint that served it, and EventBridge delivers it to that
Region's default bus only; the global endpoint is served in the caller's Region where that Region is enabled by
default, and in US East (N. Virginia) otherwise
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_region-endpoints.html).

AWS's rules for the forwarding rule:
- It lives in the source Region and names the other Region's bus ARN as its target, with a role EventBridge
  assumes that allows events:PutEvents on that bus: "Specifying an event bus in another AWS Region as a target is
  part of creating the rule" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-region.html; the
  role's policy: https://repost.aws/knowledge-center/eventbridge-centralized-bus-to-bus). In the same account the
  role's policy is the whole grant; the bus needs no resource policy.
- Any commercial Region can send to any other, GovCloud (US) and China excepted
  (https://aws.amazon.com/blogs/compute/expanding-cross-region-event-routing-with-amazon-eventbridge/).
- It sees AssumeRoleWithWebIdentity (a read-only management event) only in state
  ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail-management.html), and
  uses the very pattern of the monitor Region's rule.
- An event bus does not send on what it received from another bus ("EventBridge can't route events received
  from a sender event bus to a third event bus": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-bus-to-bus.html),
  so every source Region forwards straight to the monitor's Region.

A forwarded event keeps its `source` (`aws.sts`), `detail-type` and `detail`. Whether the receiving rule must be in
ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS to match a read-only management event that arrives from another bus
is not documented; the monitor Region's rule is in that state anyway, so it matches either way.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import ConfigError, parse_region
from infra.refusals import refusal_rule

MONITOR_BUS = "default"  # CloudTrail's events, and so the refusal rule, are on the default bus.
# Set by the CDK CLI from the profile and credentials it runs with, the same that decide where a stack without an
# explicit environment deploys: https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html
REGION_VARIABLE = "CDK_DEFAULT_REGION"


def forwarding_stack_id(stack_id: str, region: str) -> str:
    return f"{stack_id}-Refusals-{region}"


def monitor_region(environ: Mapping[str, str]) -> str:
    """The Region the monitor's stack deploys to, which the forwarding rules send to."""
    region = environ.get(REGION_VARIABLE, "").strip()
    if not region:
        raise ConfigError(
            "trail_regions",
            f"needs the Region the monitor deploys to: run the CDK CLI with a Region configured (it sets "
            f"{REGION_VARIABLE}), or set {REGION_VARIABLE}",
        )
    return parse_region("trail_regions", region)


def source_regions(trail_regions: tuple[str, ...], monitor: str) -> tuple[str, ...]:
    """The Regions that need a forwarding stack: the monitor's own Region has its rule already."""
    return tuple(region for region in trail_regions if region != monitor)


class RefusalForwarding(cdk.Stack):
    """In one Region: a rule matching refused AssumeRoleWithWebIdentity calls, sending them to the monitor Region's
    default bus with a role that may put events on that one bus only."""

    def __init__(self, scope: Construct, construct_id: str, *, source_region: str, monitor: str) -> None:
        # The Region is pinned (the rule must live where CloudTrail logs); the account is the deploying one's.
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(region=source_region),
            description=f"webid-canary: refused web identity calls in {source_region}, forwarded to {monitor}",
        )
        self.bus_arn = self.format_arn(
            service="events", region=monitor, resource="event-bus", resource_name=MONITOR_BUS
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"webid-canary: puts refused web identity calls on the default event bus of {monitor}",
        )
        # The target grants the role events:PutEvents on that one bus ARN, and nothing else.
        self.rule = refusal_rule(
            self,
            "Rule",
            description=f"Refused AssumeRoleWithWebIdentity calls, from CloudTrail, forwarded to {monitor}",
            target=targets.EventBus(
                events.EventBus.from_event_bus_arn(self, "MonitorBus", self.bus_arn), role=self.role
            ),
        )
