"""Synthesize the stack once per session (per context) and share the template, the nag report and the asset."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_CONTEXT: dict[str, Any] = {
    "schedule": "rate(5 minutes)",
    "alarm_email": "",
    "reminder_hours": 24,
    "enable_cognito_probes": False,
}
FULL_CONTEXT: dict[str, Any] = {
    "schedule": "rate(10 minutes)",
    "alarm_email": "ops@example.com",
    "reminder_hours": "6",
    "enable_cognito_probes": "true",
    "alarmed_targets": ["payments-api-prod", "deploy-from-github"],
    "notification_topics": ["arn:aws:sns:eu-west-1:123456789012:team-payments"],
    "security_hub": "true",
}
# Organization mode as the command line gives it (strings), with every organization key set.
ORG_CONTEXT: dict[str, Any] = {
    **DEFAULT_CONTEXT,
    "organization": "true",
    "org_units": "ou-ab12-cdefgh34, r-ab12",
    "map_concurrency": "20",
    "account_metrics": "111122223333",
    "organization_id": "o-abcdefghij",
}


@dataclass(frozen=True)
class Synthesis:
    """One synthesized app: the stack's template as JSON, cdk-nag's report and the cloud assembly folder."""

    template: dict[str, Any]
    report: dict[str, Any]
    outdir: Path
    template_path: Path
    asset_path: Path
    # Organization mode only: the management account's reader stack.
    reader_template: dict[str, Any] | None = None

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesis:
    import aws_cdk as cdk

    from infra.app import STACK_ID, build_app
    from infra.config import from_context
    from infra.organization import READER_STACK_ID

    app = cdk.App(outdir=str(outdir), context=context)
    build_app(app, from_context(app.node.try_get_context))
    app.synth()
    template_path = outdir / f"{STACK_ID}.template.json"
    reader_path = outdir / f"{READER_STACK_ID}.template.json"
    assets = json.loads((outdir / f"{STACK_ID}.assets.json").read_text())
    (asset,) = (a["source"]["path"] for a in assets["files"].values() if a["source"]["path"].startswith("asset."))
    return Synthesis(
        template=json.loads(template_path.read_text()),
        report=json.loads((outdir / "validation-report.json").read_text()),
        outdir=outdir,
        template_path=template_path,
        asset_path=outdir / asset,
        reader_template=json.loads(reader_path.read_text()) if reader_path.exists() else None,
    )


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(DEFAULT_CONTEXT, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def full_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(FULL_CONTEXT, tmp_path_factory.mktemp("cdk-full"))


@pytest.fixture(scope="session")
def org_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesize(ORG_CONTEXT, tmp_path_factory.mktemp("cdk-org"))
