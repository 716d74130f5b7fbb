"""Organization mode end to end: the real state machine definition run by moto's Step Functions, the four step
handlers called in this process, a small organization in moto's Organizations with one IAM per account.

The organization: the monitor's (management) account and three member accounts, each with the local issuer as
its OIDC provider, a reader role and a few targets; the third member has no reader role (AssumeRole refused), and
one target of the first member has a `sub` its role does not trust, and a resource control policy on the members'
OU refuses web identity for one role of the second member (Organizations answers: the monitor is the management
account).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from infra import orchestration
from webid_canary import names, wiring
from webid_canary.adapters.inspector import IssuerInspector
from webid_canary.adapters.state_table import StateTable
from webid_canary.adapters.targets_table import TargetsTable
from webid_canary.app.organization import LEASE_KEY, Lease
from webid_canary.core.state import Subject, state_key
from webid_canary.core.targets import parse_target
from webid_canary.local.alarms import parse_emf
from webid_canary.local.aws import DEFAULT_ACCOUNT, DEFAULT_REGION, LocalAws
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder, Topic
from webid_canary.local.stepfunctions import LocalStateMachine

AUDIENCE = "sts.amazonaws.com"
BUCKET = "webid-canary-plan"
WRONG_SUB = "repo:acme/other:ref:refs/heads/main"


def _sub(account: str, n: int) -> str:
    return f"repo:acme/app-{account[-4:]}-{n}:ref:refs/heads/main"


@dataclass
class Organization:
    aws: LocalAws
    seed: Seeder
    issuer: LocalIssuer
    targets_table: str
    state_table: str
    topic: Topic
    members: list[str]
    broken: str

    @property
    def accounts(self) -> list[str]:
        return [DEFAULT_ACCOUNT, *self.members]

    def environment(self) -> dict[str, str]:
        return {
            names.ENV_TARGETS_TABLE: self.targets_table,
            names.ENV_STATE_TABLE: self.state_table,
            names.ENV_TOPIC_ARN: self.topic.topic_arn,
            names.ENV_PLAN_BUCKET: BUCKET,
            names.ENV_ALLOW_PRIVATE_ISSUERS: "true",
            names.ENV_CA_FILE: self.issuer.ca_file,
            names.ENV_ACCOUNT_METRICS: self.members[0],
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": names.METRIC_NAMESPACE,
        }

    def state(self) -> StateTable:
        return StateTable(self.aws.client("dynamodb"), self.state_table)

    def result(self, target_id: str) -> dict[str, Any]:
        record = self.state().load([state_key(Subject.TARGET, target_id)])[state_key(Subject.TARGET, target_id)]
        return {"status": record.status.value, **record.last_result}


def member_client(aws: LocalAws, account: str) -> Callable[..., Any]:
    """A client factory acting in a member account (through OrganizationAccountAccessRole)."""
    answer = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )
    credentials = answer["Credentials"]

    def client(service: str, **kwargs: Any) -> Any:
        return boto3.client(
            service,
            region_name=DEFAULT_REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            **kwargs,
        )

    return client


def reader_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


@pytest.fixture
def organization(aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer) -> Organization:
    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    unit = orgs.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    members = []
    for n in range(3):
        status = orgs.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")["CreateAccountStatus"]
        account = status["AccountId"]
        orgs.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
        members.append(account)
    # An RCP on the OU that refuses web identity for one role of the second member, whatever its trust says.
    orgs.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    denied = f"arn:aws:iam::{members[1]}:role/deploy-0"
    rcp = orgs.create_policy(
        Name="no-web-identity-for-deploy-0",
        Description="",
        Type="RESOURCE_CONTROL_POLICY",
        Content=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Resource": denied,
                    }
                ],
            }
        ),
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=rcp, TargetId=unit)
    targets_table, state_table = seed.tables()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    items: list[dict[str, Any]] = []
    for account in [DEFAULT_ACCOUNT, *members]:
        local = seed if account == DEFAULT_ACCOUNT else Seeder(member_client(aws, account))
        provider = local.provider(local_issuer, client_ids=[AUDIENCE])
        if account not in (DEFAULT_ACCOUNT, members[2]):
            local.role(names.READER_ROLE_NAME, reader_trust())
        for n in range(2):
            role = local.web_identity_role(f"deploy-{n}", local_issuer, provider, sub=_sub(account, n), aud=AUDIENCE)
            items.append(
                {
                    "target_id": f"{account}-deploy-{n}",
                    "role_arn": role,
                    "issuer": local_issuer.url,
                    "claims": {
                        "sub": WRONG_SUB if (account, n) == (members[0], 1) else _sub(account, n),
                        "aud": AUDIENCE,
                    },
                }
            )
    TargetsTable(aws.client("dynamodb"), targets_table).put_all([parse_target(i) for i in items])
    return Organization(aws, seed, local_issuer, targets_table, state_table, seed.topic(), members, members[2])


@pytest.fixture
def shard_accounts() -> int:
    """Accounts a shard (a test overrides it to make several shards)."""
    return names.SHARD_MAX_ACCOUNTS


@pytest.fixture
def machine(
    organization: Organization, monkeypatch: pytest.MonkeyPatch, shard_accounts: int
) -> Iterator[LocalStateMachine]:
    # The definition the stack deploys: the template's DefinitionString is this very text
    # (tests/infra/test_orchestration_parity.py); from a synthesized template it is
    # `definition_from_template(template)`. Its placeholders are filled with the moto functions' ARNs.
    definition = orchestration.definition_string()
    environment = organization.environment() | {names.ENV_SHARD_MAX_ACCOUNTS: str(shard_accounts)}
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    wiring.organization.cache_clear()
    with LocalStateMachine(
        organization.aws.client,
        definition,
        orchestration.HANDLERS,
        environment=environment,
        substitute=orchestration.substitute,
    ) as running:
        yield running
    wiring.organization.cache_clear()


@pytest.fixture
def inspections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every live inspection of an issuer, by URL."""
    seen: list[str] = []
    original = IssuerInspector.inspect

    def counted(self: IssuerInspector, issuer_url: str, **kwargs: Any) -> Any:
        seen.append(issuer_url)
        return original(self, issuer_url, **kwargs)

    monkeypatch.setattr(IssuerInspector, "inspect", counted)
    return seen


def metric_values(lines: list[str], name: str) -> list[float]:
    return [p.value for p in parse_emf(lines) if p.name == name and not p.dimensions.get(names.DIMENSION_ACCOUNT)]


def test_one_cycle_checks_every_account_of_the_organization(
    organization: Organization, machine: LocalStateMachine, inspections: list[str]
) -> None:
    execution = machine.run()

    assert execution.status == "SUCCEEDED", execution
    assert execution.output["heartbeat"] is True, execution.output
    assert execution.output["shards_failed"] == 0
    member, guarded, broken = organization.members
    for account in organization.accounts:
        for n in range(2):
            result = organization.result(f"{account}-deploy-{n}")
            if (account, n) == (guarded, 0):
                assert result["status"] == "failing"
                assert result["root_cause"] == "rcp_deny", result
            elif account == broken:
                assert result["status"] == "error"
                assert broken in result["error"] and "AccessDenied" in result["error"], result
            elif (account, n) == (member, 1):
                assert result["status"] == "failing"
                assert result["root_cause"] == "trust_condition_mismatch", result
                assert result["verdict"]["condition_key"].endswith(":sub"), result
            else:
                assert result["status"] == "ok", result
    # The shared issuer was fetched once for the whole organization, by the issuers map.
    assert inspections == [organization.issuer.url]
    # The lease is free again.
    lease = organization.state().load([LEASE_KEY])[LEASE_KEY]
    assert Lease.holder_of(lease, lease.since) is None
    report = machine.emf_lines("report")
    assert metric_values(report, names.METRIC_CYCLE_COMPLETED) == [1]
    assert metric_values(report, names.METRIC_SHARDS_FAILED) == [0]
    assert metric_values(report, names.METRIC_TARGETS_PROBED) == [8]
    assert metric_values(report, names.METRIC_TARGETS_FAILING) == [2]
    assert metric_values(report, names.METRIC_TARGETS_IN_ERROR) == [2]
    per_account = [p for p in parse_emf(report) if p.dimensions.get(names.DIMENSION_ACCOUNT)]
    assert {p.dimensions[names.DIMENSION_ACCOUNT] for p in per_account} == {member}
    # The failing target was announced, naming the failing key.
    notices = [json.loads(m["Message"]) for m in organization.seed.messages(organization.topic, max_messages=50)]
    failing = [n for n in notices if n.get("target_id") == f"{member}-deploy-1"]
    assert failing and failing[0]["event"] == "failing", notices


def test_providers_of_two_accounts_keep_separate_state(organization: Organization, machine: LocalStateMachine) -> None:
    assert machine.run().status == "SUCCEEDED"

    url = organization.issuer.provider_url
    state = organization.state()
    readable = [a for a in organization.accounts if a != organization.broken]
    keys = [state_key(Subject.PROVIDER, f"{account}/{url}") for account in readable]
    found = state.load([*keys, state_key(Subject.PROVIDER, url)])
    assert sorted(found) == sorted(keys)
    assert all(found[key].baseline for key in keys)


def test_a_cycle_started_while_another_holds_the_lease_stops_at_once(
    organization: Organization, machine: LocalStateMachine
) -> None:
    from datetime import UTC, datetime

    assert Lease(organization.state()).acquire("another-cycle", datetime.now(UTC))

    execution = machine.run()

    assert execution.status == "SUCCEEDED"
    assert execution.output["planned"]["result"]["skipped"] is True
    assert [i.function for i in machine.invocations] == ["webid-canary-plan"]
    assert organization.state().load([state_key(Subject.TARGET, f"{DEFAULT_ACCOUNT}-deploy-0")]) == {}


@pytest.mark.parametrize("shard_accounts", [2])
def test_a_shard_whose_function_fails_is_reported_and_the_cycle_sends_no_heartbeat(
    organization: Organization, machine: LocalStateMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webid_canary.app.organization import ShardStep

    original = ShardStep.run

    def crashing(self: ShardStep, cycle_id: str, shard: Any, **kwargs: Any) -> Any:
        if shard["shard"] == "0001":
            raise RuntimeError("out of memory")
        return original(self, cycle_id, shard, **kwargs)

    monkeypatch.setattr(ShardStep, "run", crashing)

    execution = machine.run()

    assert execution.status == "SUCCEEDED", execution
    assert (execution.output["shards"], execution.output["shards_failed"]) == (2, 1)
    assert execution.output["heartbeat"] is False
    # Accounts in id order, two a shard: the second shard holds the two highest account ids.
    lost = sorted(organization.accounts)[2:]
    for account in lost:
        result = organization.result(f"{account}-deploy-0")
        assert result["status"] == "error"
        assert result["error"].startswith("not checked this cycle: shard 0001 failed: RuntimeError"), result
    report = machine.emf_lines("report")
    assert metric_values(report, names.METRIC_SHARDS_FAILED) == [1]
    assert metric_values(report, names.METRIC_CYCLE_COMPLETED) == []


def test_accounts_without_targets_still_have_their_providers_checked(
    organization: Organization, machine: LocalStateMachine, inspections: list[str]
) -> None:
    dynamodb = organization.aws.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=organization.targets_table):
        for raw in page["Items"]:
            dynamodb.delete_item(TableName=organization.targets_table, Key={"target_id": raw["target_id"]})

    execution = machine.run()

    assert execution.status == "SUCCEEDED", execution
    assert execution.output["heartbeat"] is True
    # No target names an issuer, so the issuers map had nothing to do; the one shard inspected the providers'
    # issuer itself, once for its three readable accounts.
    assert inspections == [organization.issuer.url]
    url = organization.issuer.provider_url
    readable = [a for a in organization.accounts if a != organization.broken]
    keys = [state_key(Subject.PROVIDER, f"{account}/{url}") for account in readable]
    assert sorted(organization.state().load(keys)) == sorted(keys)


def test_a_provider_deleted_in_a_member_account_is_found_by_the_next_cycle(
    organization: Organization, machine: LocalStateMachine
) -> None:
    assert machine.run().status == "SUCCEEDED"
    member = organization.members[0]
    iam = member_client(organization.aws, member)("iam")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])

    assert machine.run().status == "SUCCEEDED"

    key = state_key(Subject.PROVIDER, f"{member}/{organization.issuer.provider_url}")
    record = organization.state().load([key])[key]
    assert record.status.value == "drift"
    assert record.last_result["root_cause"] == "provider_deleted", record.last_result
    # The other accounts' providers for the same issuer are untouched.
    other = state_key(Subject.PROVIDER, f"{DEFAULT_ACCOUNT}/{organization.issuer.provider_url}")
    assert organization.state().load([other])[other].status.value == "ok"
