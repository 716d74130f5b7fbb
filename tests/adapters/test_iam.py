"""IamReader against moto: roles and OIDC providers become core types; AWS errors map to project errors."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from webid_canary.adapters.iam import IamReader, policy_text, role_name
from webid_canary.app.ports import AwsAccessError, AwsThrottledError, RoleRecord
from webid_canary.core.model import ProviderRecord

ACCOUNT = "123456789012"
GITHUB = "token.actions.githubusercontent.com"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}},
        }
    ],
}


@pytest.fixture
def iam(moto: None) -> Any:
    return boto3.client("iam", region_name="us-east-1")


def test_get_role_by_name_and_by_arn_returns_trust_policy_text_and_duration(iam: Any) -> None:
    iam.create_role(RoleName="deploy", Path="/ci/", AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=7200)
    reader = IamReader(iam)

    by_name = reader.get_role("deploy")
    by_arn = reader.get_role(f"arn:aws:iam::{ACCOUNT}:role/ci/deploy")

    assert by_name == by_arn
    assert isinstance(by_name, RoleRecord)
    assert by_name.arn == f"arn:aws:iam::{ACCOUNT}:role/ci/deploy"
    assert by_name.max_session_duration == 7200
    assert json.loads(by_name.trust_policy_document) == TRUST


def test_missing_role_and_missing_provider_are_none(iam: Any) -> None:
    reader = IamReader(iam)
    assert reader.get_role("nope") is None
    assert reader.get_provider(f"arn:aws:iam::{ACCOUNT}:oidc-provider/example.com") is None
    assert reader.find_provider("https://example.com", ACCOUNT) is None


def test_list_roles_pages_through_every_role(iam: Any) -> None:
    for i in range(150):
        iam.create_role(RoleName=f"role-{i:03}", AssumeRolePolicyDocument=json.dumps(TRUST))
    names = {role.name for role in IamReader(iam).list_roles()}
    assert names == {f"role-{i:03}" for i in range(150)}


def test_providers_are_listed_and_found_by_exact_url(iam: Any) -> None:
    iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB}",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938FD4D98BAB03FAADB97B34396831E3780AEA1"],
    )
    iam.create_open_id_connect_provider(
        Url="https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["a" * 40],
    )
    reader = IamReader(iam)

    providers = reader.list_providers()
    found = reader.find_provider(f"https://{GITHUB}")
    found_by_account = reader.find_provider(GITHUB, ACCOUNT)

    assert {p.url for p in providers} == {GITHUB, "oidc.eks.eu-west-1.amazonaws.com/id/ABC"}
    assert (
        found
        == found_by_account
        == ProviderRecord(
            url=GITHUB,
            client_ids=("sts.amazonaws.com",),
            thumbprints=("6938fd4d98bab03faadb97b34396831e3780aea1",),
            arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}",
        )
    )
    assert reader.find_provider(f"https://{GITHUB}/") is None


def _stubbed(operation: str, code: str) -> IamReader:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_client_error(operation, service_error_code=code, service_message="no")
    stubber.activate()
    return IamReader(client)


def test_access_denied_becomes_aws_access_error_raised_from_the_client_error() -> None:
    reader = _stubbed("get_role", "AccessDenied")
    with pytest.raises(AwsAccessError) as caught:
        reader.get_role("deploy")
    assert isinstance(caught.value.__cause__, ClientError)
    assert caught.value.code == "AccessDenied"


def test_throttling_becomes_aws_throttled_error() -> None:
    reader = _stubbed("list_open_id_connect_providers", "Throttling")
    with pytest.raises(AwsThrottledError):
        reader.list_providers()


def test_policy_text_accepts_url_encoded_decoded_and_parsed_documents() -> None:
    encoded = "%7B%22Version%22%3A%222012-10-17%22%7D"
    assert json.loads(policy_text(encoded)) == {"Version": "2012-10-17"}
    assert json.loads(policy_text('{"Version":"2012-10-17"}')) == {"Version": "2012-10-17"}
    assert json.loads(policy_text({"Version": "2012-10-17"})) == {"Version": "2012-10-17"}


def test_role_name_from_arn_with_path() -> None:
    assert role_name("arn:aws:iam::1:role/a/b/deploy") == "deploy"
    assert role_name("deploy") == "deploy"
