"""SNS publishing: one message per protocol, attributes for filter policies, bounded retries, one error kind."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from webid_canary.adapters.notifier import SnsNotifier
from webid_canary.app.ports import Message, PublishError

TOPIC = "arn:aws:sns:us-east-1:123456789012:webid-canary"
MESSAGE = Message(
    "[webid-canary] FAILING: api (trust_condition_mismatch)",
    '{"schema": "webid-canary/notification/v1"}',
    "FAILING: target api",
    {"event": "failing", "root_cause": "trust_condition_mismatch", "owner": ""},
    '{"version": "1.0", "source": "custom"}',
)


@pytest.fixture
def sns() -> Any:
    return boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_each_protocol_gets_its_own_message_and_empty_attributes_are_left_out(sns: Any) -> None:
    with Stubber(sns) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m-1"},
            {
                "TopicArn": TOPIC,
                "Subject": MESSAGE.subject,
                "Message": json.dumps({"default": MESSAGE.default, "email": MESSAGE.email, "https": MESSAGE.chat}),
                "MessageStructure": "json",
                "MessageAttributes": {
                    "event": {"DataType": "String", "StringValue": "failing"},
                    "root_cause": {"DataType": "String", "StringValue": "trust_condition_mismatch"},
                },
            },
        )
        assert SnsNotifier(sns).publish(TOPIC, MESSAGE) == "m-1"


def test_a_publish_refused_after_retries_is_one_publish_error_naming_aws_code(sns: Any) -> None:
    slept: list[float] = []
    with Stubber(sns) as stub:
        for _ in range(3):
            stub.add_client_error("publish", "KMSThrottling", "slow down", 400)
        with pytest.raises(PublishError) as caught:
            SnsNotifier(sns, sleep=slept.append).publish(TOPIC, MESSAGE)
    assert caught.value.code == "KMSThrottling"
    assert slept == [0.2, 0.4]
