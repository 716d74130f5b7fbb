"""CloudTrail's event history (LookupEvents) for AssumeRoleWithWebIdentity, paced to its request limit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from webid_canary.adapters.aws import call

EVENT_NAME = "AssumeRoleWithWebIdentity"
# LookupEvents takes 2 requests per second per account per Region
# (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html).
MIN_INTERVAL_SECONDS = 0.5
PAGE_SIZE = 50


class CloudTrailReader:
    """Pages through LookupEvents, one request per half second at most, reporting progress after each page."""

    def __init__(
        self,
        client: Any,
        *,
        progress: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._progress = progress
        self._sleep = sleep
        self._clock = clock

    def lookup(self, *, start: datetime, end: datetime, role_arn: str | None = None) -> Iterator[str]:
        """The CloudTrailEvent JSON of each AssumeRoleWithWebIdentity event in [start, end]; a role ARN narrows
        the records at the caller (LookupEvents takes one attribute, the event name here)."""
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": EVENT_NAME}],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": PAGE_SIZE,
        }
        pages = events = 0
        last: float | None = None
        while True:
            if last is not None and (wait := MIN_INTERVAL_SECONDS - (self._clock() - last)) > 0:
                self._sleep(wait)
            last = self._clock()
            answer = call("LookupEvents", lambda: self._client.lookup_events(**request))
            pages += 1
            for event in (answer or {}).get("Events", []):
                text = event.get("CloudTrailEvent")
                if isinstance(text, str) and (role_arn is None or role_arn in text):
                    events += 1
                    yield text
            if self._progress is not None:
                self._progress(pages, events)
            token = (answer or {}).get("NextToken")
            if not token:
                return
            request["NextToken"] = token
