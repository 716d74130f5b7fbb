"""Organizations, the plan store, the reader roles and IAM's per-account pace, against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.doubles import SteppingClock
from webid_canary.adapters.iam import IamReader, RateLimit
from webid_canary.adapters.organizations import OrganizationReader, ReaderRoles, session_name
from webid_canary.adapters.plan_store import S3PlanStore
from webid_canary.app.ports import AwsMissingError, PlanStoreError
from webid_canary.core.rcp import parse_rcps
from webid_canary.local.aws import DEFAULT_ACCOUNT, DEFAULT_REGION

DENY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Resource": "*"}],
}


def client(service: str, **kwargs: Any) -> Any:
    return boto3.client(service, region_name=DEFAULT_REGION, **kwargs)


class NotInUse:
    """An Organizations client of an account in no organization (moto lists no accounts instead of refusing)."""

    def get_paginator(self, operation: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                return outer

        return Pages()

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        error = {"Error": {"Code": "AWSOrganizationsNotInUseException", "Message": "not in an organization"}}
        raise ClientError(error, "ListAccounts")  # type: ignore[arg-type]


def test_without_an_organization_the_reader_says_so_as_a_missing_resource() -> None:
    reader = OrganizationReader(NotInUse())

    with pytest.raises(AwsMissingError) as raised:
        reader.list_active_accounts()

    assert raised.value.code == "AWSOrganizationsNotInUseException"


@pytest.mark.usefixtures("moto")
def test_active_accounts_and_the_rcps_on_each_accounts_path() -> None:
    orgs = client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    unit = orgs.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    inner = orgs.create_organizational_unit(ParentId=unit, Name="prod")["OrganizationalUnit"]["Id"]
    member = orgs.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]["AccountId"]
    other = orgs.create_account(AccountName="o", Email="o@example.com")["CreateAccountStatus"]["AccountId"]
    orgs.move_account(AccountId=member, SourceParentId=root, DestinationParentId=inner)
    orgs.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    policy = orgs.create_policy(
        Name="deny-sts", Description="", Type="RESOURCE_CONTROL_POLICY", Content=json.dumps(DENY)
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=policy, TargetId=unit)
    reader = OrganizationReader(client("organizations"))

    assert reader.list_active_accounts() == sorted([DEFAULT_ACCOUNT, member, other])
    found = reader.resource_control_policies([member, other])

    # The member sits two OUs down: the policy attached to the outer OU applies; the other account is outside it.
    names = {
        account: [p.name for p in parse_rcps(policies) if p.name == "deny-sts"] for account, policies in found.items()
    }
    assert names == {member: ["deny-sts"], other: []}


@pytest.mark.usefixtures("moto")
def test_the_reader_role_reads_the_member_accounts_iam_and_the_own_account_uses_its_own_credentials() -> None:
    orgs = client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    member = orgs.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]["AccountId"]
    roles = ReaderRoles(
        client,
        role_name="OrganizationAccountAccessRole",
        cycle_id="c-1",
        own_account=DEFAULT_ACCOUNT,
        rate_per_second=50,
    )
    client("iam").create_role(RoleName="only-in-the-monitor", AssumeRolePolicyDocument=json.dumps(DENY))

    own = {r.name for r in roles.iam_for(DEFAULT_ACCOUNT).list_roles()}
    theirs = {r.name for r in roles.iam_for(member).list_roles()}

    assert "only-in-the-monitor" in own
    assert "only-in-the-monitor" not in theirs and "OrganizationAccountAccessRole" in theirs


def test_a_reader_session_name_is_within_stss_limits() -> None:
    name = session_name("a" * 80 + "/:*")

    assert len(name) == 64 and name.startswith("webid-canary-")
    assert session_name("3f2a-cycle") == "webid-canary-3f2a-cycle"


def test_the_rate_limit_lets_a_burst_through_then_paces_calls_at_the_rate() -> None:
    clock = SteppingClock()
    limit = RateLimit(5, clock=clock, sleep=clock.sleep)

    for _ in range(15):
        limit.acquire()

    # 5 at once (the burst), then one every 0.2 s: 10 more calls take 2 s.
    assert clock.now == pytest.approx(2.0)
    assert all(s == pytest.approx(0.2) for s in clock.slept)


@pytest.mark.usefixtures("moto")
def test_iam_calls_wait_for_the_accounts_rate() -> None:
    clock = SteppingClock()
    reader = IamReader(client("iam"), limit=RateLimit(1, clock=clock, sleep=clock.sleep))

    reader.list_provider_arns()
    reader.list_provider_arns()
    reader.get_role("nobody")

    assert reader.calls == 3
    assert clock.now == pytest.approx(2.0)


@pytest.mark.usefixtures("moto")
def test_the_plan_store_round_trips_json_and_refuses_what_is_too_large() -> None:
    client("s3").create_bucket(Bucket="plan")
    store = S3PlanStore(client("s3"), "plan", max_bytes=100)

    store.put_json("cycles/c/issuers.json", ["https://a.example"])

    assert store.get_json("cycles/c/issuers.json") == ["https://a.example"]
    assert store.get_json("cycles/c/absent.json") is None
    with pytest.raises(PlanStoreError, match="TooLarge"):
        store.put_json("big.json", ["x" * 200])
    client("s3").put_object(Bucket="plan", Key="big.json", Body=b"[" + b'"x",' * 50 + b'"x"]')
    with pytest.raises(PlanStoreError, match="TooLarge"):
        store.get_json("big.json")
    client("s3").put_object(Bucket="plan", Key="bad.json", Body=b"{not json")
    with pytest.raises(PlanStoreError, match="NotJson"):
        store.get_json("bad.json")


@pytest.mark.usefixtures("moto")
def test_a_missing_bucket_is_a_plan_store_error_naming_it() -> None:
    with pytest.raises(PlanStoreError, match="s3://nowhere/"):
        S3PlanStore(client("s3"), "nowhere").get_json("k")
