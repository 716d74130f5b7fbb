"""`webid-canary drift` and the scheduled monitor run one drift pass: same findings for the same account and
baselines, including the account-level ones (a deleted, a missing and an unused provider)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from tests.fixtures.issuers import IssuerFactory
from webid_canary.app.monitor import baselines_of
from webid_canary.app.reporting import Reporter
from webid_canary.cli.main import cli
from webid_canary.core.drift import ProviderBaseline
from webid_canary.core.state import StateRecord, Status, Subject, state_key
from webid_canary.local.seed import oidc_trust_policy
from webid_canary.settings import Settings
from webid_canary.wiring import build_cycle

ACCOUNT = "123456789012"
GONE = "oidc.gone.example.com/id/DELETED"
NEVER = "oidc.never.example.com/id/MISSING"


def account(iam: Any, issuer_factory: IssuerFactory) -> tuple[str, str]:
    """One trusted provider, one no role trusts, a role trusting a provider that was never created."""
    used, unused = issuer_factory(), issuer_factory()
    used_arn = iam.create_open_id_connect_provider(
        Url=used.url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=[used.thumbprint]
    )["OpenIDConnectProviderArn"]
    iam.create_open_id_connect_provider(
        Url=unused.url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=[unused.thumbprint]
    )
    iam.create_role(
        RoleName="worker",
        AssumeRolePolicyDocument=json.dumps(oidc_trust_policy(used_arn, used.provider_url, sub="system:sa")),
    )
    never_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{NEVER}"
    iam.create_role(
        RoleName="orphan", AssumeRolePolicyDocument=json.dumps(oidc_trust_policy(never_arn, NEVER, sub="x"))
    )
    return used.ca_file, used.provider_url


def findings(providers: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(p["url"], f["code"], f["severity"]) for p in providers for f in p["findings"]}


def test_drift_command_and_monitor_report_the_same_findings(
    moto: None, issuer_factory: IssuerFactory, tmp_path: Path
) -> None:
    iam = boto3.client("iam")
    ca_file, used_url = account(iam, issuer_factory)
    now = datetime.now(UTC)
    gone = ProviderBaseline(url=GONE, recorded_at=now, arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GONE}")
    baseline_file = tmp_path / "baselines.json"
    baseline_file.write_text(json.dumps({"providers": {GONE: gone.to_json()}}))
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="targets",
        KeySchema=[{"AttributeName": "target_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "target_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    command = CliRunner().invoke(
        cli,
        ["drift", "--json", "--allow-private", "--ca-file", ca_file, "--baseline", str(baseline_file)],
        catch_exceptions=False,
    )
    assert command.exit_code == 1, command.output

    settings = Settings("targets", "state", None, allow_private_issuers=True, ca_file=ca_file)
    stored = {
        state_key(Subject.PROVIDER, GONE): StateRecord(
            state_key(Subject.PROVIDER, GONE), Status.OK, now, None, None, {}, baseline=gone.to_json()
        )
    }
    report = build_cycle(settings).run(now, baselines=baselines_of(stored))
    monitor = [p.to_json() for p in report.providers]

    seen_by_cli = findings(json.loads(command.output)["providers"])
    assert seen_by_cli == findings(monitor)
    codes = {code for _, code, _ in seen_by_cli}
    assert {"provider_deleted", "provider_missing", "provider_unused"} <= codes
    assert (GONE, "provider_deleted", "critical") in seen_by_cli
    assert (NEVER, "provider_missing", "critical") in seen_by_cli
    assert not any(url == used_url and code != "provider_unused" and sev != "info" for url, code, sev in seen_by_cli)


def test_the_monitor_notifies_a_deleted_provider_and_holds_its_baseline(moto: None) -> None:
    now = datetime.now(UTC)
    gone = ProviderBaseline(url=GONE, recorded_at=now, arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GONE}")
    boto3.client("dynamodb").create_table(
        TableName="targets",
        KeySchema=[{"AttributeName": "target_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "target_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = state_key(Subject.PROVIDER, GONE)
    stored = {key: StateRecord(key, Status.OK, now, None, None, {}, baseline=gone.to_json())}
    report = build_cycle(Settings("targets", "state", None)).run(now, baselines=baselines_of(stored))
    (provider,) = report.providers
    assert (provider.status, provider.root_cause) == (Status.DRIFT, "provider_deleted")

    class Inbox:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def publish(self, topic_arn: str, message: Any) -> str:
            self.sent.append(message)
            return "id-1"

    class Memory:
        def __init__(self) -> None:
            self.items = dict(stored)

        def load_all(self) -> dict[str, StateRecord]:
            return dict(self.items)

        def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
            self.items[record.key] = record
            return True

    inbox, state = Inbox(), Memory()
    Reporter(state, inbox, default_topic="arn:aws:sns:us-east-1:1:t", reminder_after=timedelta(hours=24)).report(
        report, now=now, previous=state.load_all()
    )
    (notice,) = inbox.sent
    assert notice.attributes["event"] == "drift"
    assert notice.attributes["root_cause"] == "provider_deleted"
    assert state.items[key].baseline == gone.to_json()
