"""LookupEvents through the reader: every page read, paced to 2 requests a second, AWS errors translated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.doubles import SteppingClock
from webid_canary.adapters.cloudtrail import CloudTrailReader
from webid_canary.app.ports import AwsThrottledError

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class _Pages:
    """A CloudTrail client stand-in answering LookupEvents from a list of pages."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return self.pages[len(self.requests) - 1]


def _event(role: str) -> dict[str, str]:
    return {
        "CloudTrailEvent": f'{{"eventName": "AssumeRoleWithWebIdentity", "requestParameters": {{"roleArn": "{role}"}}}}'
    }


def test_pages_are_followed_at_most_two_requests_a_second_with_progress() -> None:
    client = _Pages(
        [
            {"Events": [_event("arn:aws:iam::1:role/a")], "NextToken": "t1"},
            {"Events": [_event("arn:aws:iam::1:role/b")], "NextToken": "t2"},
            {"Events": [_event("arn:aws:iam::1:role/a")]},
        ]
    )
    clock = SteppingClock(100.0)
    seen: list[tuple[int, int]] = []
    reader = CloudTrailReader(client, progress=lambda p, e: seen.append((p, e)), sleep=clock.sleep, clock=clock)

    texts = list(reader.lookup(start=END - timedelta(hours=24), end=END, role_arn="arn:aws:iam::1:role/a"))

    assert len(texts) == 2
    assert [r.get("NextToken") for r in client.requests] == [None, "t1", "t2"]
    assert client.requests[0]["LookupAttributes"] == [
        {"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}
    ]
    assert clock.slept == [0.5, 0.5]
    assert seen == [(1, 1), (2, 1), (3, 2)]


def test_throttling_is_the_port_error() -> None:
    class _Throttled:
        def lookup_events(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "LookupEvents")

    with pytest.raises(AwsThrottledError) as caught:
        list(CloudTrailReader(_Throttled()).lookup(start=END - timedelta(hours=1), end=END))
    assert caught.value.operation == "LookupEvents"
