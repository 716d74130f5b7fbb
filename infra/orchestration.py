"""The organization cycle's state machine: plan, issuers, accounts, report (Amazon States Language).

One execution is one cycle. The definition is plain ASL with `${...}` placeholders that CloudFormation fills
(`DefinitionSubstitutions`): the stack deploys it, and the local environment re-creates it in moto from the
synthesized template, so the definition tested is the one deployed.

What moves between the steps is small: the plan and the per-issuer and per-shard results live in S3 and in the
State table; the map states only read item lists from S3 and return summaries (Step Functions' 256 KiB limit on a
state's input and output). Distributed Map features moto does not run (ItemBatcher, ResultWriter,
ToleratedFailurePercentage, Express children) are not used: a shard that fails is caught inside its own
iteration and comes back as a failed summary, so one bad account never fails the map.

Payloads (JSON objects; every step's handler is in webid_canary.handler):

- plan      in:  {"cycle_id", "started"}
            out: {"cycle_id", "started", "skipped": bool, "bucket", "issuers_key", "shards_key",
                  "issuers": int, "shards": int, "accounts": int, "targets": int}
                  (skipped: another cycle holds the lease; the execution ends at once)
- issuer    in:  {"cycle_id", "bucket", "issuer"}          (one item of the issuers list: an issuer URL)
            out: {"issuer", "ok": bool, "error": str|null}   (the inspection itself is written to S3)
- shard     in:  {"cycle_id", "started", "bucket", "shard"} (one item of the shards list: {"shard", "accounts",
                  "key", "targets"}; `key` is the S3 object with the shard's target items)
            out: {"shard", "ok": bool, "accounts", "targets", "by_status": {status: n},
                  "by_account": {account: {status: n}}, "failed_accounts": {account: reason}, "providers",
                  "drifting", "notifications", "error": str|null, "seconds"}
                  (an account that could not be read is in failed_accounts and its targets are `error`: the shard
                  still answers ok; ok is false only from ShardFailed, when the shard's function itself failed)
- report    in:  {"cycle_id", "started", "state": <the execution's state: "planned", "shards" and "failure"
                  when present>}
            out: {"cycle_id", "shards", "shards_failed", "targets", "heartbeat": bool, "lease_released": bool}
"""

from __future__ import annotations

import json
from typing import Any, Final

# The placeholders CloudFormation substitutes (DefinitionSubstitutions), and what each stands for.
PLAN_FUNCTION: Final = "PlanFunctionArn"
ISSUER_FUNCTION: Final = "IssuerFunctionArn"
SHARD_FUNCTION: Final = "ShardFunctionArn"
REPORT_FUNCTION: Final = "ReportFunctionArn"
SUBSTITUTIONS: Final = (PLAN_FUNCTION, ISSUER_FUNCTION, SHARD_FUNCTION, REPORT_FUNCTION)

# Each step's handler in the function asset.
HANDLERS: Final = {
    PLAN_FUNCTION: "webid_canary.handler.org_plan_handler",
    ISSUER_FUNCTION: "webid_canary.handler.org_issuer_handler",
    SHARD_FUNCTION: "webid_canary.handler.org_shard_handler",
    REPORT_FUNCTION: "webid_canary.handler.org_report_handler",
}

DEFAULT_MAP_CONCURRENCY: Final = 50
# Lambda's own transient faults are retried; a handler's error is not (the handlers catch what they can).
LAMBDA_TRANSIENT: Final = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _invoke(placeholder: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A Lambda task that hands back only the function's answer (not the invocation's metadata)."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{placeholder}}}", "Payload": payload},
        "ResultSelector": {"result.$": "$.Payload"},
        "Retry": [{"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}],
    }


def _reader(key_path: str) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.planned.result.bucket", "Key.$": key_path},
    }


def definition(*, map_concurrency: int = DEFAULT_MAP_CONCURRENCY) -> dict[str, Any]:
    """The cycle's state machine, with `${...}` placeholders for the four functions' ARNs."""
    to_report = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Report"}]
    issuer_task = _invoke(ISSUER_FUNCTION, {"cycle_id.$": "$.cycle_id", "bucket.$": "$.bucket", "issuer.$": "$.issuer"})
    issuer_task |= {"OutputPath": "$.result", "End": True}
    shard_task = _invoke(
        SHARD_FUNCTION,
        {"cycle_id.$": "$.cycle_id", "started.$": "$.started", "bucket.$": "$.bucket", "shard.$": "$.shard"},
    )
    shard_task |= {
        "OutputPath": "$.result",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "ShardFailed"}],
        "End": True,
    }
    distributed = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    return {
        "Comment": "webid-canary organization cycle: plan, issuers, accounts, report",
        "StartAt": "Plan",
        "States": {
            "Plan": _invoke(PLAN_FUNCTION, {"cycle_id.$": "$$.Execution.Name", "started.$": "$$.Execution.StartTime"})
            | {"ResultPath": "$.planned", "Catch": to_report, "Next": "Leased"},
            "Leased": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.planned.result.skipped", "BooleanEquals": True, "Next": "Skipped"}],
                "Default": "Issuers",
            },
            "Skipped": {"Type": "Succeed", "Comment": "another cycle holds the lease"},
            "Issuers": {
                "Type": "Map",
                "ItemReader": _reader("$.planned.result.issuers_key"),
                "ItemSelector": {
                    "cycle_id.$": "$.planned.result.cycle_id",
                    "bucket.$": "$.planned.result.bucket",
                    "issuer.$": "$$.Map.Item.Value",
                },
                "ItemProcessor": {
                    "ProcessorConfig": distributed,
                    "StartAt": "Inspect",
                    "States": {"Inspect": issuer_task},
                },
                "MaxConcurrency": map_concurrency,
                "ResultPath": None,
                # Shards judge without an issuer that was not inspected (its targets are `error`), never stop.
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.issuers_failure", "Next": "Accounts"}],
                "Next": "Accounts",
            },
            "Accounts": {
                "Type": "Map",
                "ItemReader": _reader("$.planned.result.shards_key"),
                "ItemSelector": {
                    "cycle_id.$": "$.planned.result.cycle_id",
                    "started.$": "$.planned.result.started",
                    "bucket.$": "$.planned.result.bucket",
                    "shard.$": "$$.Map.Item.Value",
                },
                "ItemProcessor": {
                    "ProcessorConfig": distributed,
                    "StartAt": "Judge",
                    "States": {
                        "Judge": shard_task,
                        "ShardFailed": {
                            "Type": "Pass",
                            "Parameters": {
                                "shard.$": "$.shard.shard",
                                "ok": False,
                                "accounts.$": "$.shard.accounts",
                                "targets.$": "$.shard.targets",
                                "error.$": "$.failure.Error",
                            },
                            "End": True,
                        },
                    },
                },
                "MaxConcurrency": map_concurrency,
                "ResultPath": "$.shards",
                "Catch": to_report,
                "Next": "Report",
            },
            "Report": _invoke(
                REPORT_FUNCTION,
                {"cycle_id.$": "$$.Execution.Name", "started.$": "$$.Execution.StartTime", "state.$": "$"},
            )
            | {"OutputPath": "$.result", "End": True},
        },
    }


def definition_string(*, map_concurrency: int = DEFAULT_MAP_CONCURRENCY) -> str:
    """The definition as the template carries it (DefinitionString)."""
    return json.dumps(definition(map_concurrency=map_concurrency), indent=1, sort_keys=True)


def substitute(text: str, arns: dict[str, str]) -> str:
    """The definition with the placeholders filled, as CloudFormation would (the local environment's use)."""
    for placeholder in SUBSTITUTIONS:
        text = text.replace(f"${{{placeholder}}}", arns[placeholder])
    if "${" in text:
        raise ValueError("definition has a placeholder left unfilled")
    return text
