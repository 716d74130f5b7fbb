"""The Lambda shell: Powertools set-up, one cycle within the invocation's deadline, a small summary back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from webid_canary import names, redaction
from webid_canary.adapters.metrics import EmfMetrics
from webid_canary.wiring import monitor, organization, refusals

logger = Logger(service=names.SERVICE_NAME)
metrics = Metrics(namespace=names.METRIC_NAMESPACE, service=names.SERVICE_NAME)
tracer = Tracer(service=names.SERVICE_NAME)
emf = EmfMetrics(metrics)
# The SDK's loggers never log bodies or headers, whatever ApplicationLogLevel says; ours and the runtime's
# handlers redact what gets through anyway.
redaction.install(logger.registered_handler, *logging.getLogger().handlers)

# Stop starting new work this long before Lambda's own timeout, so the report, state and metrics get out.
DEADLINE_MARGIN = timedelta(seconds=20)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    deadline = now + timedelta(milliseconds=context.get_remaining_time_in_millis()) - DEADLINE_MARGIN
    result = monitor(emf).run(now=now, deadline=deadline)
    summary = result.summary()
    logger.info("cycle finished", extra={"summary": summary})
    return summary


# The refused calls CloudTrail delivers through EventBridge, explained and announced (app/refusals.py).
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=False)
def refusal_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = refusals().handle(event, now=datetime.now(UTC))
    metrics.add_metric(name=names.METRIC_REAL_REFUSALS, unit=MetricUnit.Count, value=result.refusals)
    summary = result.summary()
    logger.info("refusal explained", extra={"summary": summary})
    return summary


# ----- organization mode: the four steps of the state machine (infra/orchestration.py; payloads documented there)


def _deadline(now: datetime, context: LambdaContext) -> datetime:
    return now + timedelta(milliseconds=context.get_remaining_time_in_millis()) - DEADLINE_MARGIN


def _account_of(context: LambdaContext) -> str | None:
    """The monitor's own account, from the function's ARN (arn:aws:lambda:region:account:function:name)."""
    parts = str(getattr(context, "invoked_function_arn", "")).split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def _started(event: dict[str, Any], now: datetime) -> datetime:
    raw = str(event.get("started") or "")
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return now


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def org_plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    planned = (
        organization()
        .planner()
        .plan(
            str(event["cycle_id"]),
            str(event.get("started") or now.isoformat()),
            now=now,
            deadline=_deadline(now, context),
        )
    )
    logger.info("cycle planned", extra={"summary": planned})
    return planned


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def org_issuer_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    return (
        organization().issuer_step().run(str(event["cycle_id"]), str(event["issuer"]), deadline=_deadline(now, context))
    )


# The shard's only metrics are the alarmed targets' own series, each flushed as it is made (single_metric).
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def org_shard_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    cycle_id = str(event["cycle_id"])
    step = organization().shard_step(cycle_id, _account_of(context), emf)
    summary = step.run(cycle_id, event["shard"], now=now, deadline=_deadline(now, context))
    logger.info("shard checked", extra={"summary": summary})
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=False)
def org_report_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    step = organization().report_step(emf)
    summary = step.run(str(event["cycle_id"]), _started(event, now), event.get("state") or {}, now=now)
    logger.info("cycle reported", extra={"summary": summary})
    return summary
