"""The refusal alerts as the Lambda builds them, against moto: a delivery reads the State table by key, never with
a scan, however many items it holds, and its notice reaches SNS and the event bus."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from webid_canary.local.seed import create_state_table, create_topic, read_messages
from webid_canary.settings import Settings
from webid_canary.wiring import build_refusals

RECORD = json.loads((Path(__file__).parents[1] / "unit" / "data" / "trail" / "eks-refused.json").read_text())


def _route_events(session: Any) -> str:
    """A rule on the default bus for the product's events, to a queue the test reads."""
    sqs = session.client("sqs")
    queue_url = str(sqs.create_queue(QueueName="bus-inbox")["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = session.client("events")
    events.put_rule(Name="notices", EventPattern=json.dumps({"source": ["webid-canary"]}))
    events.put_targets(Rule="notices", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    return queue_url


def test_a_delivery_reads_its_items_by_key_and_notifies_sns_and_the_bus(moto: None) -> None:
    session = boto3.session.Session()
    calls: Counter[str] = Counter()
    session.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    state_table = create_state_table(session.client)
    topic = create_topic(session.client)
    queue_url = _route_events(session)
    dynamodb = session.client("dynamodb")
    for index in range(30):  # the monitor's items: a delivery has no business reading them
        dynamodb.put_item(TableName=state_table, Item={"pk": {"S": f"target#t{index}"}, "version": {"N": "1"}})
    calls.clear()
    alerts = build_refusals(Settings("targets", state_table, topic.topic_arn, event_bus="default"), session)
    event = {"source": "aws.sts", "detail-type": "AWS API Call via CloudTrail", "detail": RECORD}

    summary = alerts.handle(event, now=datetime(2026, 11, 29, 8, 16, tzinfo=UTC))

    assert (summary.refusals, summary.notified) == (1, 1)
    assert calls["Scan"] == 0
    assert calls["BatchGetItem"] == 1
    (message,) = read_messages(session.client, topic)
    on_bus = session.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    (routed,) = [json.loads(m["Body"]) for m in on_bus]
    assert routed["detail-type"] == "Workload Refused"
    assert routed["detail"] == json.loads(message["Message"])
