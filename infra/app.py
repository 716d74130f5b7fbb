"""The CDK app: reads context once into a typed config, builds the asset, synthesizes the stack."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.asset import AssetBuildError, build_asset
from infra.config import CanaryConfig, ConfigError, from_context
from infra.organization import READER_STACK_ID, ReaderStack
from infra.stack import CanaryStack

STACK_ID = "WebIdCanary"


def build_app(app: cdk.App, config: CanaryConfig) -> CanaryStack:
    """Add the stack and the cdk-nag AwsSolutions checks to an app; synthesis fails on an unacknowledged finding.

    The account and region come from the deploying credentials: nothing is looked up at synth time.
    """
    stack = CanaryStack(
        app,
        STACK_ID,
        config=config,
        asset=build_asset(),
        description="webid-canary: continuous checks of AWS web identity federation",
    )
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
        build_app(app, config)
    except (ConfigError, AssetBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
