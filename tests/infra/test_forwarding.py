"""Refusals from other Regions: a forwarding stack per Region in `trail_regions`, and nothing at all without it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import DEFAULT_CONTEXT, Synthesis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MONITOR = "eu-west-1"
# Each region-agnostic token as CloudFormation resolves it in the source Region: the deploying account.
MONITOR_BUS_ARN = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, f":events:{MONITOR}:", {"Ref": "AWS::AccountId"}, ":event-bus/default"],
    ]
}


def _synthesize(context: dict[str, Any], environ: dict[str, str], outdir: Path) -> dict[str, Any]:
    """Every stack of the app: its template and the environment the manifest gives it."""
    import aws_cdk as cdk

    from infra.app import build_app
    from infra.config import from_context

    app = cdk.App(outdir=str(outdir), context=context)
    build_app(app, from_context(app.node.try_get_context), environ)
    app.synth()
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        name: {
            "environment": artifact["environment"],
            "template": json.loads((outdir / artifact["properties"]["templateFile"]).read_text()),
            "dependencies": artifact.get("dependencies", []),
        }
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    return {"stacks": stacks, "report": json.loads((outdir / "validation-report.json").read_text())}


@pytest.fixture(scope="module")
def forwarded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    context = {**DEFAULT_CONTEXT, "trail_regions": f"us-east-1,{MONITOR},ap-southeast-2"}
    return _synthesize(context, {"CDK_DEFAULT_REGION": MONITOR}, tmp_path_factory.mktemp("cdk-trail-regions"))


def _resources(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_without_trail_regions_the_app_is_the_one_region_agnostic_stack(
    default_synth: Synthesis, tmp_path: Path
) -> None:
    # The environment says where the CLI deploys; without trail_regions it changes nothing.
    synth = _synthesize(DEFAULT_CONTEXT, {"CDK_DEFAULT_REGION": MONITOR}, tmp_path)

    assert list(synth["stacks"]) == ["WebIdCanary"]
    (stack,) = synth["stacks"].values()
    assert stack["environment"] == "aws://unknown-account/unknown-region"
    assert stack["template"] == default_synth.template


def test_the_monitors_stack_is_the_same_with_trail_regions(forwarded: dict[str, Any], default_synth: Synthesis) -> None:
    monitor = forwarded["stacks"]["WebIdCanary"]
    assert monitor["environment"] == "aws://unknown-account/unknown-region"
    assert monitor["template"] == default_synth.template


def test_one_forwarding_stack_per_other_region_deployed_after_the_monitor(forwarded: dict[str, Any]) -> None:
    stacks = forwarded["stacks"]
    assert sorted(stacks) == ["WebIdCanary", "WebIdCanary-Refusals-ap-southeast-2", "WebIdCanary-Refusals-us-east-1"]
    for region in ("us-east-1", "ap-southeast-2"):
        stack = stacks[f"WebIdCanary-Refusals-{region}"]
        # The Region is pinned (the rule must be where CloudTrail logs); the account is the deploying one's.
        assert stack["environment"] == f"aws://unknown-account/{region}"
        assert "WebIdCanary" in stack["dependencies"]


def test_the_forwarding_rule_sees_read_only_events_with_the_monitors_pattern_and_sends_them_to_its_bus(
    forwarded: dict[str, Any],
) -> None:
    monitor_rules = _resources(forwarded["stacks"]["WebIdCanary"]["template"], "AWS::Events::Rule")
    (refusal_rule,) = [r for r in monitor_rules if r["Properties"].get("State") != "ENABLED"]
    template = forwarded["stacks"]["WebIdCanary-Refusals-us-east-1"]["template"]

    (rule,) = _resources(template, "AWS::Events::Rule")

    assert rule["Properties"]["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert rule["Properties"]["EventPattern"] == refusal_rule["Properties"]["EventPattern"]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == MONITOR_BUS_ARN
    (role_id,) = [i for i, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_the_forwarding_role_may_only_put_events_on_the_monitors_bus(forwarded: dict[str, Any]) -> None:
    template = forwarded["stacks"]["WebIdCanary-Refusals-ap-southeast-2"]["template"]

    (role,) = _resources(template, "AWS::IAM::Role")
    (policy,) = _resources(template, "AWS::IAM::Policy")

    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        ("Allow", "events:PutEvents", MONITOR_BUS_ARN)
    ]


def test_cdk_nag_passes_every_stack_with_no_new_acknowledgement(forwarded: dict[str, Any]) -> None:
    (report,) = [r for r in forwarded["report"]["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert report["conclusion"] == "success"
    assert report.get("violations", []) == []
    suppressed = [s for s in report.get("suppressedViolations", []) if "Refusals-" in json.dumps(s)]
    assert suppressed == []


def test_trail_regions_need_the_region_the_monitor_deploys_to(tmp_path: Path) -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        _synthesize({**DEFAULT_CONTEXT, "trail_regions": "us-east-1"}, {}, tmp_path)
    assert caught.value.key == "trail_regions"
    assert "CDK_DEFAULT_REGION" in caught.value.reason


def test_trail_regions_naming_only_the_monitors_region_add_nothing(default_synth: Synthesis, tmp_path: Path) -> None:
    synth = _synthesize({**DEFAULT_CONTEXT, "trail_regions": [MONITOR]}, {"CDK_DEFAULT_REGION": MONITOR}, tmp_path)

    assert list(synth["stacks"]) == ["WebIdCanary"]
    assert synth["stacks"]["WebIdCanary"]["template"] == default_synth.template


def test_a_bad_region_stops_synthesis_with_one_line_naming_trail_regions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"trail_regions": "us-east-1,useast2"}))
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    monkeypatch.setenv("CDK_DEFAULT_REGION", MONITOR)

    result = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: context 'trail_regions': 'useast2' is not a Region code such as 'us-east-1'"]
    assert "Traceback" not in result.stderr
