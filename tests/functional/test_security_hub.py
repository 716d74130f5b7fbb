"""Security Hub in ASFF: a failing target and a drifting provider become findings; a new reason updates and
resolves; a recovery resolves and archives. Run on moto's Security Hub, the payload checked against ASFF."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from tests.doubles import MemoryState
from tests.functional.test_reporter import ALLOW, DENY_AUD, DENY_SUB, T0, TOPIC, Inbox, cycle
from webid_canary.adapters.security_hub import SecurityHubImporter, product_arn
from webid_canary.app.reporting import Reporter

# The required top-level attributes: https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html
REQUIRED = {
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
}


def findings(client: Any) -> dict[str, dict[str, Any]]:
    return {f["Id"]: f for f in client.get_findings()["Findings"]}


def test_a_problems_life_in_security_hub_new_then_updated_then_resolved(moto: None) -> None:
    client = boto3.client("securityhub", region_name="us-east-1")
    client.enable_security_hub()
    hub = SecurityHubImporter(client, product_arn("aws", "us-east-1", "123456789012"))
    state, inbox = MemoryState(), Inbox()

    def report(verdict: dict[str, object], minutes: int, drift: bool = False) -> None:
        reporter = Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), findings=hub)
        reporter.report(cycle(verdict, drift=drift), now=T0 + timedelta(minutes=minutes))

    report(ALLOW, 0)
    assert findings(client) == {}

    report(DENY_SUB, 5, drift=True)
    seen = findings(client)
    sub = seen["webid-canary/target/invoice-worker/trust_condition_mismatch"]
    drift = seen["webid-canary/provider/oidc.example.com/thumbprint_mismatch"]
    for finding in (sub, drift):
        assert set(finding) >= REQUIRED
        assert finding["SchemaVersion"] == "2018-10-08"
        assert (finding["Workflow"]["Status"], finding["RecordState"]) == ("NEW", "ACTIVE")
    assert sub["Severity"]["Label"] == "CRITICAL"
    assert sub["Resources"] == [
        {
            "Type": "AwsIamRole",
            "Id": "arn:aws:iam::123456789012:role/invoice-worker",
            "Partition": "aws",
            "Region": "us-east-1",
        }
    ]
    assert sub["Remediation"]["Recommendation"]["Text"] == "Set oidc.example.com:sub to the service account."
    assert sub["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"

    report(DENY_AUD, 10, drift=True)  # same root cause, another key: the finding is updated, not duplicated
    assert len(findings(client)) == 2
    assert findings(client)[sub["Id"]]["UpdatedAt"] > sub["UpdatedAt"]

    report(ALLOW, 15)
    resolved = findings(client)
    assert {(f["Workflow"]["Status"], f["RecordState"]) for f in resolved.values()} == {("RESOLVED", "ARCHIVED")}
    assert not any(state.items[k].outbox for k in state.items)
