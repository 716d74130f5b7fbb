"""The synthesized template: the properties a security review and an on-call engineer rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.conftest import Synthesis
from webid_canary import names

pytestmark = pytest.mark.slow

SERVICE_DIMENSION = [{"Name": "service", "Value": "webid-canary"}]


def only(synth: Synthesis, resource_type: str, **where: Any) -> tuple[str, dict[str, Any]]:
    found = [
        (logical_id, resource)
        for logical_id, resource in synth.resources(resource_type).items()
        if all(resource["Properties"].get(k) == v for k, v in where.items())
    ]
    assert len(found) == 1, f"expected one {resource_type} with {where}, found {len(found)}"
    return found[0]


def table_id(synth: Synthesis, key: str) -> str:
    logical_id, _ = only(synth, "AWS::DynamoDB::Table", KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    return logical_id


def policy_statements(synth: Synthesis, construct: str = "Canary") -> list[dict[str, Any]]:
    """The statements of one function's role policy: the cycle's (Canary) or the refusal handler's (Refusals)."""
    (policy,) = [p for i, p in synth.resources("AWS::IAM::Policy").items() if i.startswith(f"{construct}Role")]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def alarms_by_name(synth: Synthesis) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()}


# --- tables -------------------------------------------------------------------------------------------


def test_targets_table_survives_stack_deletion_with_pitr_and_encryption(default_synth: Synthesis) -> None:
    Template.from_json(default_synth.template).has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [{"AttributeName": names.TARGETS_KEY, "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_state_table_is_keyed_by_pk_encrypted_with_pitr_and_removable(default_synth: Synthesis) -> None:
    Template.from_json(default_synth.template).has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [{"AttributeName": names.STATE_PK, "KeyType": "HASH"}],
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                }
            ),
            "DeletionPolicy": "Delete",
        },
    )


# --- function -----------------------------------------------------------------------------------------


def test_function_runs_python_313_on_arm64_one_cycle_at_a_time_traced(default_synth: Synthesis) -> None:
    _, function = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    props = function["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 240
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_function_environment_names_the_tables_topic_and_powertools_service(default_synth: Synthesis) -> None:
    _, function = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    assert function["Properties"]["Environment"]["Variables"] == {
        names.ENV_TARGETS_TABLE: {"Ref": table_id(default_synth, names.TARGETS_KEY)},
        names.ENV_STATE_TABLE: {"Ref": table_id(default_synth, names.STATE_PK)},
        names.ENV_TOPIC_ARN: {"Ref": topic_id},
        names.ENV_REMINDER_HOURS: "24",
        names.ENV_EVENT_BUS: "default",
        names.ENV_POWERTOOLS_SERVICE_NAME: names.SERVICE_NAME,
        names.ENV_POWERTOOLS_METRICS_NAMESPACE: names.METRIC_NAMESPACE,
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }


def test_reminder_hours_and_schedule_come_from_context(full_synth: Synthesis) -> None:
    _, function = only(full_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    assert function["Properties"]["Environment"]["Variables"][names.ENV_REMINDER_HOURS] == "6"
    only(full_synth, "AWS::Events::Rule", ScheduleExpression="rate(10 minutes)")  # exactly one such rule


def test_logs_are_kept_a_month_in_the_functions_own_log_group(default_synth: Synthesis) -> None:
    ((log_group_id, log_group),) = [
        (i, g) for i, g in default_synth.resources("AWS::Logs::LogGroup").items() if i.startswith("CanaryLogs")
    ]
    assert log_group["Properties"]["RetentionInDays"] == 30
    _, function = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    assert function["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}


def test_a_missed_cycle_is_not_retried(default_synth: Synthesis) -> None:
    (config,) = default_synth.resources("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    _, rule = only(default_synth, "AWS::Events::Rule", ScheduleExpression="rate(5 minutes)")
    assert rule["Properties"]["Targets"][0]["RetryPolicy"] == {"MaximumRetryAttempts": 0}


# --- schedule -----------------------------------------------------------------------------------------


def test_schedule_invokes_the_function_every_five_minutes_by_default(default_synth: Synthesis) -> None:
    function_id, _ = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    _, rule = only(default_synth, "AWS::Events::Rule", ScheduleExpression="rate(5 minutes)")
    assert rule["Properties"]["State"] == "ENABLED"
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}


# --- topic --------------------------------------------------------------------------------------------


def test_topic_is_encrypted_with_a_rotating_key_and_refuses_plain_http(default_synth: Synthesis) -> None:
    ((key_id, key),) = default_synth.resources("AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    (topic,) = default_synth.resources("AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    (policy,) = default_synth.resources("AWS::SNS::TopicPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudwatch_alarms_may_use_the_topic_key(default_synth: Synthesis) -> None:
    (key,) = default_synth.resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert [sorted(s["Action"]) for s in cloudwatch] == [["kms:Decrypt", "kms:GenerateDataKey"]]


def test_email_subscription_only_when_an_address_is_given(default_synth: Synthesis, full_synth: Synthesis) -> None:
    assert default_synth.resources("AWS::SNS::Subscription") == {}
    (subscription,) = full_synth.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


# --- permissions --------------------------------------------------------------------------------------

EXPECTED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "sns:Publish",
    "events:PutEvents",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "iam:GetRole",
    "iam:GetOpenIDConnectProvider",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "secretsmanager:GetSecretValue",
}


def test_role_has_exactly_the_actions_a_cycle_needs(default_synth: Synthesis) -> None:
    assert actions_of(policy_statements(default_synth)) == EXPECTED_ACTIONS


def test_events_go_to_the_default_bus_only(default_synth: Synthesis) -> None:
    statements = [s for s in policy_statements(default_synth) if "events:PutEvents" in str(s["Action"])]
    assert len(statements) == 1
    assert "event-bus/default" in json.dumps(statements[0]["Resource"])
    (monitor,) = [
        r
        for r in default_synth.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "webid_canary.handler.lambda_handler"
    ]
    assert monitor["Properties"]["Environment"]["Variables"][names.ENV_EVENT_BUS] == "default"


def test_cognito_tokens_and_security_hub_only_when_context_enables_them(full_synth: Synthesis) -> None:
    extra = actions_of(policy_statements(full_synth)) - EXPECTED_ACTIONS
    assert extra == {"cognito-identity:GetOpenIdTokenForDeveloperIdentity", "securityhub:BatchImportFindings"}
    (findings,) = [s for s in policy_statements(full_synth) if s["Action"] == "securityhub:BatchImportFindings"]
    assert ":product/" in json.dumps(findings["Resource"]) and findings["Resource"] != "*"
    (variables,) = [
        r["Properties"]["Environment"]["Variables"]
        for r in full_synth.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "webid_canary.handler.lambda_handler"
    ]
    assert names.ENV_SECURITY_HUB_PRODUCT_ARN in variables


def test_no_wildcard_action_and_no_sts_permission(full_synth: Synthesis) -> None:
    actions = actions_of(policy_statements(full_synth))
    assert not [a for a in actions if "*" in a]
    assert not [a for a in actions if a.startswith("sts:")]


def test_role_policy_uses_no_managed_policies(default_synth: Synthesis) -> None:
    roles = default_synth.resources("AWS::IAM::Role").values()
    assert [role for role in roles if "ManagedPolicyArns" in role["Properties"]] == []


def _statement_with(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    (statement,) = [s for s in statements if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    return statement


def test_writes_go_to_the_state_table_only(default_synth: Synthesis) -> None:
    statements = policy_statements(default_synth)
    state = {"Fn::GetAtt": [table_id(default_synth, names.STATE_PK), "Arn"]}
    assert _statement_with(statements, "dynamodb:PutItem")["Resource"] == [state]
    targets = {"Fn::GetAtt": [table_id(default_synth, names.TARGETS_KEY), "Arn"]}
    reads_on_targets = [s for s in statements if s["Resource"] == [targets]]
    assert reads_on_targets
    assert not actions_of(reads_on_targets) & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def test_secrets_are_readable_under_the_product_prefix_only(default_synth: Synthesis) -> None:
    statement = _statement_with(policy_statements(default_synth), "secretsmanager:GetSecretValue")
    parts = statement["Resource"]["Fn::Join"][1]
    assert parts[-1] == ":secret:webid-canary/*"


def test_publish_and_key_use_are_limited_to_the_topic_and_its_key(default_synth: Synthesis) -> None:
    statements = policy_statements(default_synth)
    (topic_id,) = default_synth.resources("AWS::SNS::Topic")
    (key_id,) = default_synth.resources("AWS::KMS::Key")
    assert _statement_with(statements, "sns:Publish")["Resource"] == {"Ref": topic_id}
    assert _statement_with(statements, "kms:Decrypt")["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_targets_own_topics_are_publishable_only_when_named_in_context(full_synth: Synthesis) -> None:
    (topic_id,) = full_synth.resources("AWS::SNS::Topic")
    resources = _statement_with(policy_statements(full_synth), "sns:Publish")["Resource"]
    assert resources == [{"Ref": topic_id}, "arn:aws:sns:eu-west-1:123456789012:team-payments"]


def test_role_and_provider_reads_are_scoped_to_this_account(default_synth: Synthesis) -> None:
    statement = _statement_with(policy_statements(default_synth), "iam:GetRole")
    tails = [resource["Fn::Join"][1][-1] for resource in statement["Resource"]]
    assert tails == [":role/*", ":oidc-provider/*"]
    assert {"Ref": "AWS::AccountId"} in statement["Resource"][0]["Fn::Join"][1]


# --- alarms -------------------------------------------------------------------------------------------

FLEET_ALARMS = {
    # alarm name suffix: (metric, statistic, operator, threshold, missing data, evaluation periods)
    "TargetsFailing": ("TargetsFailing", "Maximum", "GreaterThanOrEqualToThreshold", 1, "ignore", 1),
    "ProviderDrift": ("ProviderDrifts", "Maximum", "GreaterThanOrEqualToThreshold", 1, "ignore", 1),
    "TrustOpen": ("TargetsOpen", "Maximum", "GreaterThanOrEqualToThreshold", 1, "ignore", 1),
    "TargetsInError": ("TargetsInError", "Maximum", "GreaterThanOrEqualToThreshold", 1, "ignore", 1),
    "HeartbeatMissing": ("CycleCompleted", "Sum", "LessThanThreshold", 1, "breaching", 2),
    "CycleNearDeadline": ("CycleDeadlineHeadroom", "Minimum", "LessThanThreshold", 24, "ignore", 1),
}


def test_fleet_alarms_watch_the_emf_metrics_with_the_powertools_dimension(default_synth: Synthesis) -> None:
    alarms = alarms_by_name(default_synth)
    for suffix, (metric, statistic, operator, threshold, missing, periods) in FLEET_ALARMS.items():
        alarm = alarms[f"WebIdCanary-{suffix}"]
        assert alarm["Namespace"] == "WebIdentityCanary", suffix
        assert alarm["MetricName"] == metric, suffix
        assert alarm["Dimensions"] == SERVICE_DIMENSION, suffix
        assert alarm["Statistic"] == statistic, suffix
        assert alarm["ComparisonOperator"] == operator, suffix
        assert alarm["Threshold"] == threshold, suffix
        assert alarm["TreatMissingData"] == missing, suffix
        assert alarm["EvaluationPeriods"] == periods == alarm["DatapointsToAlarm"], suffix
        assert alarm["Period"] == 300, suffix


def test_the_cost_estimate_counts_the_stacks_fleet_alarms(default_synth: Synthesis) -> None:
    from webid_canary.core.pricing import FLEET_ALARMS

    assert len(alarms_by_name(default_synth)) == FLEET_ALARMS


def test_alarm_periods_follow_the_schedule(full_synth: Synthesis) -> None:
    assert {alarm["Period"] for alarm in alarms_by_name(full_synth).values()} == {600}


def test_function_errors_alarm_watches_the_lambda_errors_metric(default_synth: Synthesis) -> None:
    function_id, _ = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.lambda_handler")
    alarm = alarms_by_name(default_synth)["WebIdCanary-FunctionErrors"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(full_synth: Synthesis) -> None:
    (topic_id,) = full_synth.resources("AWS::SNS::Topic")
    alarms = alarms_by_name(full_synth)
    assert len(alarms) == 10
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["OKActions"] == [{"Ref": topic_id}], name


def test_alarmed_targets_get_their_own_alarm_on_target_failing(default_synth: Synthesis, full_synth: Synthesis) -> None:
    assert not [n for n in alarms_by_name(default_synth) if "TargetFailing-" in n]
    alarms = alarms_by_name(full_synth)
    for target in ("payments-api-prod", "deploy-from-github"):
        alarm = alarms[f"WebIdCanary-TargetFailing-{target}"]
        assert alarm["MetricName"] == "TargetFailing"
        dimensions = sorted(alarm["Dimensions"], key=lambda d: d["Name"])
        assert dimensions == [{"Name": "Target", "Value": target}, *SERVICE_DIMENSION]
        assert alarm["TreatMissingData"] == "ignore"


# --- dashboard ----------------------------------------------------------------------------------------


def _dashboard_text(synth: Synthesis) -> str:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return "".join(p if isinstance(p, str) else "<ref>" for p in parts)


def test_dashboard_shows_every_fleet_metric_and_the_alarm_states(default_synth: Synthesis) -> None:
    text = _dashboard_text(default_synth)
    for metric in (
        names.METRIC_TARGETS_PROBED,
        names.METRIC_TARGETS_FAILING,
        names.METRIC_TARGETS_IN_ERROR,
        names.METRIC_TARGETS_OPEN,
        names.METRIC_PROVIDER_DRIFTS,
        names.METRIC_CYCLE_DURATION,
        names.METRIC_CYCLE_COMPLETED,
        names.METRIC_CYCLE_DEADLINE_HEADROOM,
    ):
        assert f'"{metric}"' in text, metric
    assert '"type":"alarm"' in text
    for name in alarms_by_name(default_synth):
        assert f":alarm:{name}" in text, name


def test_dashboard_tables_the_failing_targets_and_the_providers_from_the_logs(default_synth: Synthesis) -> None:
    text = _dashboard_text(default_synth)
    assert '"type":"log"' in text
    assert 'filter message = \\"target checked\\" and status != \\"ok\\"' in text
    assert "dedup target_id" in text and "dedup provider" in text and "cert_days_left" in text
    assert "SEARCH(" in text and names.METRIC_TARGET_FAILING in text and names.METRIC_PROVIDER_DRIFTING in text
    assert '"type":"text"' in text and "webid-canary probe TARGET_ID" in text


# --- refusals from CloudTrail ---------------------------------------------------------------------------


def test_refused_calls_reach_the_refusal_handler_with_read_only_management_events(default_synth: Synthesis) -> None:
    function_id, function = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.refusal_handler")
    _, rule = only(default_synth, "AWS::Events::Rule", State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sts"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["sts.amazonaws.com"],
            "eventName": ["AssumeRoleWithWebIdentity"],
            "errorCode": [{"exists": True}],
        },
    }
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    variables = function["Properties"]["Environment"]["Variables"]
    assert set(variables) >= {names.ENV_STATE_TABLE, names.ENV_TOPIC_ARN, names.ENV_TARGETS_TABLE}


def test_the_refusal_handler_may_read_roles_and_providers_write_state_and_publish_only(
    default_synth: Synthesis,
) -> None:
    statements = policy_statements(default_synth, "Refusals")
    actions = actions_of(statements)
    assert {a for a in actions if a.startswith("iam:")} == {"iam:GetRole", "iam:GetOpenIDConnectProvider"}
    assert "sns:Publish" in actions
    assert not [a for a in actions if a.startswith(("sts:", "secretsmanager:", "cloudtrail:")) or "*" in a]
    # It reads the State items it needs by key and never scans or deletes.
    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:BatchGetItem", "dynamodb:PutItem"}
    put_events = _statement_with(statements, "events:PutEvents")
    assert put_events["Action"] == "events:PutEvents"
    assert json.dumps(put_events["Resource"]).endswith(':event-bus/default"]]}')


def test_refusal_notices_also_go_on_the_monitors_event_bus(default_synth: Synthesis) -> None:
    _, function = only(default_synth, "AWS::Lambda::Function", Handler="webid_canary.handler.refusal_handler")
    assert function["Properties"]["Environment"]["Variables"][names.ENV_EVENT_BUS] == "default"


def test_real_refusals_raise_an_alarm(default_synth: Synthesis) -> None:
    alarm = alarms_by_name(default_synth)["WebIdCanary-RealRefusals"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        names.METRIC_NAMESPACE,
        "RealRefusals",
        "Sum",
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
