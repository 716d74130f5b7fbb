"""The piece of Lambda the local environment plays: invoke the handler on the schedule's event with a context
that counts down the function's timeout, and read back the EMF lines it printed (moto runs no Lambda without
Docker, so the handler runs in this process)."""

from __future__ import annotations

import contextlib
import io
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from webid_canary.local.alarms import Datapoint, parse_emf

FUNCTION_TIMEOUT_SECONDS = 120.0


class LocalContext:
    """The invocation's context: its id and the time left before the function's timeout."""

    def __init__(self, account: str, timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS) -> None:
        self.function_name = "webid-canary"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{account}:function:webid-canary"
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def schedule_event(account: str) -> dict[str, Any]:
    """What the EventBridge schedule delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{account}:rule/webid-canary-schedule"],
        "detail": {},
    }


def invoke(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], *, account: str
) -> tuple[dict[str, Any], list[Datapoint]]:
    """Run the handler once as the schedule would; its stdout (EMF) becomes datapoints."""
    return deliver(handler, schedule_event(account), account=account)


def cloudtrail_event(record: Mapping[str, Any], account: str) -> dict[str, Any]:
    """What EventBridge delivers for one CloudTrail record (an "AWS API Call via CloudTrail" event)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.sts",
        "account": account,
        "time": record.get("eventTime"),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": dict(record),
    }


def deliver(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any], *, account: str
) -> tuple[dict[str, Any], list[Datapoint]]:
    """Run the handler once on `event`; its stdout (EMF) becomes datapoints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary = handler(event, LocalContext(account))
    return summary, parse_emf(out.getvalue().splitlines())


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """The function's environment variables set for one invocation, the process's own restored after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
