"""EventBridge: every notice also goes on an event bus as `source: webid-canary`, for rules to route."""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary.adapters.aws import translate
from webid_canary.app.ports import BusEvent, PublishError

SOURCE: Final = "webid-canary"
# PutEvents: "The maximum number of entries per request is 10."
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
MAX_ENTRIES: Final = 10


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str = "default") -> None:
        self._client = client
        self._bus = bus_name

    def put(self, events: list[BusEvent]) -> None:
        """Put the events, ten a request; PublishError when any entry was refused (the caller keeps it)."""
        for start in range(0, len(events), MAX_ENTRIES):
            batch = events[start : start + MAX_ENTRIES]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": event.detail,
                    "Resources": list(event.resources),
                    "EventBusName": self._bus,
                }
                for event in batch
            ]
            try:
                answer = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise translate(f"PutEvents to {self._bus}", exc).as_kind(PublishError) from exc
            if answer.get("FailedEntryCount"):
                codes = sorted({str(e.get("ErrorCode")) for e in answer.get("Entries", []) if e.get("ErrorCode")})
                raise PublishError(f"PutEvents to {self._bus}", ", ".join(codes) or "FailedEntry", "entries refused")
