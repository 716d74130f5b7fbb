"""CloudTrail records become typed requests; bad records are skipped with a reason naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from webid_canary.core.model import InputError
from webid_canary.core.trail import parse_record, read_log, read_records, split_principal

DATA = Path(__file__).parent / "data" / "trail"


def _record(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def test_an_eks_refusal_gives_the_role_the_provider_aud_sub_and_the_caller() -> None:
    request = parse_record(_record("eks-refused.json"))

    assert request.role_arn == "arn:aws:iam::111122223333:role/payments-reader"
    assert request.provider_url == "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert (request.aud, request.sub) == ("sts.amazonaws.com", "system:serviceaccount:payments:worker")
    assert request.caller.source_ip == "198.51.100.23"
    assert request.caller.user_agent is not None and request.caller.user_agent.startswith("aws-sdk-go-v2/")
    assert (request.error_code, request.refused) == ("AccessDenied", True)
    assert request.claims() == {
        "iss": "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "aud": "sts.amazonaws.com",
        "sub": "system:serviceaccount:payments:worker",
    }


def test_a_success_keeps_the_duration_and_how_the_provider_was_verified() -> None:
    request = parse_record(_record("github-allowed.json"))

    assert (request.refused, request.duration_seconds, request.session_name) == (False, 3600, "GitHubActions")
    assert request.verification == "IAMTrustStore"


@pytest.mark.parametrize(
    ("principal", "provider", "sub", "aud"),
    [
        (
            "accounts.google.com:app.apps.googleusercontent.com:1234",
            "accounts.google.com",
            "1234",
            "app.apps.googleusercontent.com",
        ),
        ("p:urn:aud:with:colons:s:u:b", "p", "s:u:b", "urn:aud:with:colons"),
        ("other:aud:sub", "p", "sub", None),
        ("p:aud:sub", "p", "elsewhere", None),
    ],
)
def test_aud_is_cut_from_the_principal_id_by_the_known_lengths(
    principal: str, provider: str, sub: str, aud: str | None
) -> None:
    assert split_principal(principal, provider, sub) == aud


def test_a_null_role_arn_falls_back_to_the_resources_then_to_the_assumed_role() -> None:
    denied = _record("github-denied-roleArn-null.json")
    assert parse_record(denied).role_from == "resources[].ARN"

    success = _record("github-allowed.json")
    success["requestParameters"]["roleArn"] = None
    success["resources"] = []
    request = parse_record(success)
    assert (request.role_arn, request.role_from) == (
        "arn:aws:iam::111122223333:role/deploy",
        "responseElements.assumedRoleUser.arn",
    )


def test_every_shape_cloudtrail_hands_out_is_read() -> None:
    record = _record("eks-refused.json")
    text = json.dumps(record)
    shapes = [
        record,
        [record, record],
        {"Records": [record]},
        {"Events": [{"EventId": "x", "CloudTrailEvent": text}]},
        {"version": "0", "source": "aws.sts", "detail-type": "AWS API Call via CloudTrail", "detail": record},
    ]
    for shape in shapes:
        batch = read_records(shape)
        assert batch.skipped == ()
        assert {r.event_id for r in batch.requests} == {record["eventID"]}
    lines = read_log(text + "\n" + text + "\n")
    assert len(lines.requests) == 2


def test_bad_records_are_skipped_with_the_field_and_the_rest_is_read() -> None:
    good = _record("eks-refused.json")
    other = {**copy.deepcopy(good), "eventName": "AssumeRole"}
    no_role = copy.deepcopy(good)
    no_role["requestParameters"]["roleArn"] = None
    no_role["resources"] = []
    bad_time = {**copy.deepcopy(good), "eventTime": "yesterday"}

    batch = read_records({"Records": [other, good, no_role, bad_time, "text"]})

    assert len(batch.requests) == 1
    reasons = [skip.reason.split(":", 1)[0] for skip in batch.skipped]
    assert reasons == ["eventName", "requestParameters.roleArn", "eventTime", "record"]


def test_a_truncated_trail_file_gives_its_whole_records_and_one_skip() -> None:
    record = _record("eks-refused.json")
    text = json.dumps({"Records": [record, _record("github-allowed.json"), record]})
    cut = text[: len(text) - len(json.dumps(record)) // 2]

    batch = read_log(cut)

    assert len(batch.requests) == 2
    assert len(batch.skipped) == 1
    assert batch.skipped[0].reason.startswith("input: truncated")


def test_a_record_of_the_wrong_identity_type_is_refused_by_name() -> None:
    record = _record("eks-refused.json")
    record["userIdentity"]["type"] = "AssumedRole"
    with pytest.raises(InputError) as caught:
        parse_record(record)
    assert caught.value.field == "userIdentity.type"
