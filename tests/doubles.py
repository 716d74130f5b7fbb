"""Test doubles: the Lambda context and the schedule's event as Lambda passes them, and a clock that sleeps at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

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
