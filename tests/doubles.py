"""Test doubles: the Lambda context and the schedule's event as Lambda passes them, a clock that sleeps at once, and
an in-memory State table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from webid_canary.core.state import StateRecord
from webid_canary.local.lambda_runtime import schedule_event

ACCOUNT = "123456789012"


@dataclass
class FakeLambdaContext:
    """A Lambda context whose remaining time is fixed (a deadline a test can reason about)."""

    function_name: str = "webid-canary"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:webid-canary"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_millis: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def scheduled_event() -> dict[str, Any]:
    """The event the schedule sends the function (the local environment's, which the demo uses too)."""
    return schedule_event(ACCOUNT)


class SteppingClock:
    """A monotonic clock whose sleep moves it on at once, keeping what was slept (for pacing and rate limits)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class MemoryState:
    """The State table in memory: conditional writes by version, as DynamoDB makes them; each keyed read kept."""

    def __init__(self) -> None:
        self.items: dict[str, StateRecord] = {}
        self.loads: list[list[str]] = []

    def load_all(self) -> dict[str, StateRecord]:
        return dict(self.items)

    def load(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        wanted = list(keys)
        self.loads.append(wanted)
        return {key: self.items[key] for key in wanted if key in self.items}

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        current = self.items.get(record.key)
        if (current.version if current else None) != expected_version:
            return False
        self.items[record.key] = record
        return True


class KeyedState(MemoryState):
    """A State table that may only be read by key: code that scans it fails here."""

    def load_all(self) -> dict[str, StateRecord]:
        raise AssertionError("the State table must be read by key here, not scanned")
