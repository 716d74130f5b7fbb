"""The CDK app: reads context once into a typed config, builds the asset, synthesizes the stack."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.asset import AssetBuildError, build_asset
from infra.config import CanaryConfig, ConfigError, from_context
from infra.forwarding import RefusalForwarding, forwarding_stack_id, monitor_region, source_regions
from infra.organization import READER_STACK_ID, ReaderStack
from infra.stack import CanaryStack

STACK_ID = "WebIdCanary"


def build_app(app: cdk.App, config: CanaryConfig, environ: Mapping[str, str] | None = None) -> CanaryStack:
    """Add the stack and the cdk-nag AwsSolutions checks to an app; synthesis fails on an unacknowledged finding.

    The account and region come from the deploying credentials: nothing is looked up at synth time. With
    `trail_regions`, a forwarding stack per other Region sends its refusals to the monitor's Region, which is
    the Region the CDK CLI deploys to (CDK_DEFAULT_REGION in `environ`); without, the app is the one stack.
    """
    stack = CanaryStack(
        app,
        STACK_ID,
        config=config,
        asset=build_asset(),
        description="webid-canary: continuous checks of AWS web identity federation",
    )
    if config.trail_regions:
        monitor = monitor_region(environ or {})
        for region in source_regions(config.trail_regions, monitor):
            forwarding = RefusalForwarding(
                app, forwarding_stack_id(STACK_ID, region), source_region=region, monitor=monitor
            )
            forwarding.add_stack_dependency(stack, "the monitor's refusal rule receives what the forwarding rule sends")
    if config.organization is not None:
        # StackSets skip the management account: its reader role is this stack, deployed there separately.
        ReaderStack(app, READER_STACK_ID)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> int:
    """Synthesize, or print one line naming the context key or asset problem."""
    app = cdk.App()
    try:
        config = from_context(app.node.try_get_context)
        # The CDK CLI hands the app the Region it deploys to only in its environment (CDK_DEFAULT_REGION); it is
        # read here, once, and used only with trail_regions.
        build_app(app, config, os.environ)  # noqa: TID251
    except (ConfigError, AssetBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
