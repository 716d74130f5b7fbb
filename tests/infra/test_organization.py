"""Organization mode's template: the state machine, the step functions and their least privilege, the reader
StackSet and the management account's reader stack; and the default template left exactly as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.orchestration import HANDLERS, SHARD_FUNCTION, SUBSTITUTIONS
from infra.organization import READER_ACTIONS, reader_template, step_timeout
from tests.infra.conftest import Synthesis
from tests.infra.test_template import actions_of
from webid_canary import names

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
ORG_TYPES = {
    "AWS::StepFunctions::StateMachine",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::CloudFormation::StackSet",
}


def statements_of(synth: Synthesis, prefix: str) -> list[dict[str, Any]]:
    """The statements of the one role policy whose logical id starts with `prefix`."""
    (policy,) = [p for i, p in synth.resources("AWS::IAM::Policy").items() if i.startswith(prefix)]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


actions = actions_of


def with_action(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    (statement,) = [s for s in statements if action in actions([s])]
    return statement


def function_by_handler(synth: Synthesis, handler: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (i, f) for i, f in synth.resources("AWS::Lambda::Function").items() if f["Properties"]["Handler"] == handler
    ]
    return found


def state_machine(synth: Synthesis) -> tuple[str, dict[str, Any]]:
    ((logical_id, machine),) = synth.resources("AWS::StepFunctions::StateMachine").items()
    return logical_id, machine["Properties"]


def maps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Map"}


CYCLE_OBJECTS = "/cycles/*"
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
READ_TABLE = {
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
}
WRITE_TABLE = {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
NOTIFY = {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "events:PutEvents"}
ORGANIZATIONS = {
    "organizations:ListAccounts",
    "organizations:ListParents",
    "organizations:ListPoliciesForTarget",
    "organizations:DescribePolicy",
}
ACCOUNT_CHECKS = {
    "iam:GetRole",
    "iam:GetOpenIDConnectProvider",
    "iam:ListRoles",
    "iam:ListOpenIDConnectProviders",
    "secretsmanager:GetSecretValue",
}


# --- the default stack is untouched -----------------------------------------------------------------------


def test_the_default_template_keeps_exactly_its_resources(default_synth: Synthesis) -> None:
    """The one-account stack's resources (logical id and type), as before organization mode existed. A change
    here changes every existing deployment: update data/default_resources.json only on purpose."""
    expected = json.loads((DATA / "default_resources.json").read_text())
    found = {
        logical_id: resource["Type"]
        for logical_id, resource in default_synth.template["Resources"].items()
        if resource["Type"] != "AWS::CDK::Metadata"  # added by the CLI's synth only
    }
    assert found == expected


def test_the_default_template_has_nothing_of_organization_mode(default_synth: Synthesis) -> None:
    types = {resource["Type"] for resource in default_synth.template["Resources"].values()}
    assert not types & ORG_TYPES
    assert default_synth.reader_template is None
    text = json.dumps(default_synth.template)
    for marker in (names.ENV_PLAN_BUCKET, names.READER_ROLE_NAME, names.METRIC_SHARDS_FAILED, "org_plan_handler"):
        assert marker not in text, marker
    function_by_handler(default_synth, "webid_canary.handler.lambda_handler")


# --- the state machine ------------------------------------------------------------------------------------


def test_the_cycle_is_a_standard_state_machine_with_distributed_maps_reading_s3(org_synth: Synthesis) -> None:
    _, machine = state_machine(org_synth)
    assert machine["StateMachineType"] == "STANDARD"
    definition = json.loads(machine["DefinitionString"])
    found = maps(definition)
    assert set(found) == {"Issuers", "Accounts"}
    for name, state in found.items():
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED", name
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject", name
        assert state["MaxConcurrency"] == 20, name  # -c map_concurrency=20


def test_each_placeholder_is_substituted_by_the_function_with_its_handler(org_synth: Synthesis) -> None:
    _, machine = state_machine(org_synth)
    placeholders = set(re.findall(r"\$\{(\w+)\}", machine["DefinitionString"]))
    substitutions = machine["DefinitionSubstitutions"]
    assert placeholders == set(substitutions) == set(SUBSTITUTIONS)
    for placeholder, handler in HANDLERS.items():
        function_id, _ = function_by_handler(org_synth, handler)
        assert substitutions[placeholder] == {"Fn::GetAtt": [function_id, "Arn"]}, placeholder


def test_the_state_machine_logs_everything_and_is_traced(org_synth: Synthesis) -> None:
    _, machine = state_machine(org_synth)
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_the_state_machine_may_invoke_its_four_steps_read_the_plan_and_run_its_own_children(
    org_synth: Synthesis,
) -> None:
    _, machine = state_machine(org_synth)
    statements = statements_of(org_synth, "OrganizationStateMachineRole")
    invoke = with_action(statements, "lambda:InvokeFunction")
    functions = {function_by_handler(org_synth, handler)[0] for handler in HANDLERS.values()}
    assert sorted(invoke["Resource"], key=str) == sorted(({"Fn::GetAtt": [f, "Arn"]} for f in functions), key=str)
    assert with_action(statements, "s3:GetObject")["Resource"]["Fn::Join"][1][-1] == CYCLE_OBJECTS
    name = machine["StateMachineName"]
    start = with_action(statements, "states:StartExecution")["Resource"]
    assert start["Fn::Join"][1][-1] == f":stateMachine:{name}"
    children = with_action(statements, "states:DescribeExecution")
    assert actions([children]) == {"states:DescribeExecution", "states:StopExecution"}
    assert children["Resource"]["Fn::Join"][1][-1] == f":execution:{name}/*"
    assert {a for a in actions(statements) if a.startswith("states:")} == {
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
    }
    assert machine["RoleArn"]["Fn::GetAtt"][0].startswith("OrganizationStateMachineRole")


# --- the schedule and the monitor function ----------------------------------------------------------------


def test_the_schedule_starts_the_state_machine_and_there_is_no_monitor_function(org_synth: Synthesis) -> None:
    machine_id, _ = state_machine(org_synth)
    (rule,) = [r for r in org_synth.resources("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": machine_id}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    handlers = {f["Properties"]["Handler"] for f in org_synth.resources("AWS::Lambda::Function").values()}
    assert handlers == {*HANDLERS.values(), "webid_canary.handler.refusal_handler"}
    assert "StateMachineArn" in org_synth.template["Outputs"]
    assert "FunctionName" not in org_synth.template["Outputs"]


# --- the step functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("placeholder", "timeout"),
    [("PlanFunctionArn", 120), ("IssuerFunctionArn", 60), ("ShardFunctionArn", 240), ("ReportFunctionArn", 120)],
)
def test_each_step_function_is_arm64_python_313_traced_with_its_own_logs_and_no_reserved_concurrency(
    org_synth: Synthesis, placeholder: str, timeout: int
) -> None:
    _, function = function_by_handler(org_synth, HANDLERS[placeholder])
    props = function["Properties"]
    assert (props["Runtime"], props["Architectures"], props["TracingConfig"]) == (
        "python3.13",
        ["arm64"],
        {"Mode": "Active"},
    )
    assert props["Timeout"] == timeout
    assert "ReservedConcurrentExecutions" not in props  # the plan step's lease keeps cycles apart
    (log_group,) = props["LoggingConfig"]["LogGroup"].values()
    assert org_synth.template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    variables = props["Environment"]["Variables"]
    assert variables[names.ENV_READER_ROLE_NAME] == names.READER_ROLE_NAME
    assert variables[names.ENV_ACCOUNT_METRICS] == "111122223333"
    assert variables[names.ENV_SHARD_MAX_TARGETS] == str(names.SHARD_MAX_TARGETS)
    assert variables[names.ENV_SHARD_MAX_ACCOUNTS] == str(names.SHARD_MAX_ACCOUNTS)
    (bucket_id,) = org_synth.resources("AWS::S3::Bucket")
    assert variables[names.ENV_PLAN_BUCKET] == {"Ref": bucket_id}
    assert {names.ENV_STATE_TABLE, names.ENV_TARGETS_TABLE, names.ENV_TOPIC_ARN, names.ENV_EVENT_BUS} <= set(variables)


def test_step_timeouts_never_exceed_the_schedule_interval() -> None:
    assert step_timeout(SHARD_FUNCTION, 60) == 60
    assert step_timeout(SHARD_FUNCTION, 3600) == 240


def test_each_role_has_exactly_its_steps_actions(org_synth: Synthesis) -> None:
    assert actions(statements_of(org_synth, "OrganizationPlanRole")) == (
        LOGS | XRAY | READ_TABLE | WRITE_TABLE | {"s3:PutObject"} | ORGANIZATIONS
    )
    assert actions(statements_of(org_synth, "OrganizationIssuerRole")) == LOGS | XRAY | {"s3:PutObject"}
    assert actions(statements_of(org_synth, "OrganizationShardRole")) == (
        LOGS | XRAY | READ_TABLE | WRITE_TABLE | NOTIFY | ACCOUNT_CHECKS | {"s3:GetObject", "sts:AssumeRole"}
    )
    assert actions(statements_of(org_synth, "OrganizationReportRole")) == (
        LOGS | XRAY | READ_TABLE | WRITE_TABLE | NOTIFY | {"s3:GetObject"}
    )


def test_only_the_plan_step_writes_the_targets_table_never(org_synth: Synthesis) -> None:
    """The plan reads the registry; it writes only the State table (its lease)."""
    (targets_id,) = [
        i
        for i, t in org_synth.resources("AWS::DynamoDB::Table").items()
        if t["Properties"]["KeySchema"][0]["AttributeName"] == names.TARGETS_KEY
    ]
    for prefix in ("OrganizationPlanRole", "OrganizationShardRole", "OrganizationReportRole"):
        on_targets = [s for s in statements_of(org_synth, prefix) if targets_id in json.dumps(s["Resource"])]
        assert not actions(on_targets) & WRITE_TABLE, prefix


def test_objects_are_reached_under_the_cycles_prefix_only(org_synth: Synthesis) -> None:
    for prefix in ("OrganizationPlanRole", "OrganizationIssuerRole", "OrganizationShardRole", "OrganizationReportRole"):
        for statement in statements_of(org_synth, prefix):
            if any(a.startswith("s3:") for a in actions([statement])):
                assert statement["Resource"]["Fn::Join"][1][-1] == CYCLE_OBJECTS, prefix


def test_the_shard_assumes_only_reader_roles_of_the_organization(org_synth: Synthesis) -> None:
    assume = with_action(statements_of(org_synth, "OrganizationShardRole"), "sts:AssumeRole")
    assert assume["Resource"]["Fn::Join"][1][-1] == f":iam::*:role/{names.READER_ROLE_NAME}"
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-abcdefghij"}}
    for prefix in ("OrganizationPlanRole", "OrganizationIssuerRole", "OrganizationReportRole"):
        assert not [a for a in actions(statements_of(org_synth, prefix)) if a.startswith("sts:")], prefix


def _identity_policies(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every identity policy of a template: policy resources and roles' inline policies."""
    found: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            found.append(resource["Properties"]["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            found.extend(policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", []))
    return found


def test_no_role_of_either_stack_is_granted_a_wildcard_action(org_synth: Synthesis) -> None:
    assert org_synth.reader_template is not None
    templates = (org_synth.template, org_synth.reader_template, json.loads(_stack_set(org_synth)["TemplateBody"]))
    for template in templates:
        policies = _identity_policies(template)
        assert policies
        for policy in policies:
            granted = actions(policy["Statement"])
            assert not [a for a in granted if "*" in a], granted


# --- the plan bucket --------------------------------------------------------------------------------------


def test_the_plan_bucket_is_private_encrypted_tls_only_and_expires_plans_after_a_day(org_synth: Synthesis) -> None:
    ((bucket_id, bucket),) = org_synth.resources("AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert (rule["ExpirationInDays"], rule["Status"]) == (1, "Enabled")
    (policy,) = org_synth.resources("AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}


# --- the reader role --------------------------------------------------------------------------------------


def _stack_set(synth: Synthesis) -> dict[str, Any]:
    (stack_set,) = synth.resources("AWS::CloudFormation::StackSet").values()
    properties: dict[str, Any] = stack_set["Properties"]
    return properties


def test_the_stack_set_is_service_managed_and_deploys_to_the_ous_and_their_new_accounts(org_synth: Synthesis) -> None:
    stack_set = _stack_set(org_synth)
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert stack_set["ManagedExecution"] == {"Active": True}
    assert stack_set["CallAs"] == "SELF"
    (group,) = stack_set["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": ["ou-ab12-cdefgh34", "r-ab12"]}
    assert group["Regions"] == [{"Ref": "AWS::Region"}]  # IAM is global: one Region
    preferences = stack_set["OperationPreferences"]
    assert 0 < preferences["FailureTolerancePercentage"] < preferences["MaxConcurrentPercentage"] <= 100
    assert stack_set["Parameters"] == [
        {"ParameterKey": "MonitorAccountId", "ParameterValue": {"Ref": "AWS::AccountId"}},
        {"ParameterKey": "MonitorRegion", "ParameterValue": {"Ref": "AWS::Region"}},
    ]


def _reader_role(template: dict[str, Any]) -> dict[str, Any]:
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    properties: dict[str, Any] = role["Properties"]
    return properties


def test_the_reader_role_only_reads_roles_and_providers_and_trusts_only_the_shard_role(org_synth: Synthesis) -> None:
    role = _reader_role(json.loads(_stack_set(org_synth)["TemplateBody"]))
    assert role["RoleName"] == names.READER_ROLE_NAME
    assert role["MaxSessionDuration"] == 3600
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert (
        set(statement["Action"])
        == set(READER_ACTIONS)
        == {
            "iam:GetRole",
            "iam:ListRoles",
            "iam:ListOpenIDConnectProviders",
            "iam:GetOpenIDConnectProvider",
        }
    )
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${MonitorAccountId}:root"}}
    assert trust["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": {
                "Fn::Sub": "arn:${AWS::Partition}:iam::${MonitorAccountId}:role/webid-canary-shard-${MonitorRegion}"
            }
        }
    }


def test_the_shard_role_has_the_name_the_reader_roles_trust(org_synth: Synthesis) -> None:
    """The trust names the shard role before it exists, so the two names must agree for any Region."""
    (shard_role,) = [
        r["Properties"]
        for i, r in org_synth.resources("AWS::IAM::Role").items()
        if i.startswith("OrganizationShardRole")
    ]
    assert shard_role["RoleName"] == {"Fn::Join": ["", ["webid-canary-shard-", {"Ref": "AWS::Region"}]]}
    trusted = _reader_role(reader_template())["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]
    assert trusted["aws:PrincipalArn"]["Fn::Sub"].endswith(":role/webid-canary-shard-${MonitorRegion}")


def test_the_management_account_stack_is_the_same_reader_role(org_synth: Synthesis) -> None:
    assert org_synth.reader_template is not None
    body = json.loads(_stack_set(org_synth)["TemplateBody"])
    assert _reader_role(org_synth.reader_template) == _reader_role(body)
    assert org_synth.reader_template["Parameters"] == body["Parameters"]
    # Deployable without a CDK bootstrap in the management account.
    assert "BootstrapVersion" not in org_synth.reader_template.get("Parameters", {})


# --- alarms and dashboard ---------------------------------------------------------------------------------


def test_organization_alarms_notify_the_topic(org_synth: Synthesis) -> None:
    from webid_canary.core.pricing import FLEET_ALARMS, ORG_ALARMS

    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in org_synth.resources("AWS::CloudWatch::Alarm").values()
    }
    assert len(alarms) == FLEET_ALARMS + ORG_ALARMS
    (topic_id,) = org_synth.resources("AWS::SNS::Topic")
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
    shards = alarms["WebIdCanary-ShardsFailed"]
    assert (shards["MetricName"], shards["Statistic"], shards["Threshold"]) == (names.METRIC_SHARDS_FAILED, "Sum", 1)
    assert shards["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    machine_id, _ = state_machine(org_synth)
    for name, metric in (("ExecutionsFailed", "ExecutionsFailed"), ("ExecutionsTimedOut", "ExecutionsTimedOut")):
        alarm = alarms[f"WebIdCanary-{name}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/States", metric, 1)
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]
    heartbeat = alarms["WebIdCanary-HeartbeatMissing"]
    assert (heartbeat["MetricName"], heartbeat["TreatMissingData"]) == (names.METRIC_CYCLE_COMPLETED, "breaching")
    report_id, _ = function_by_handler(org_synth, HANDLERS["ReportFunctionArn"])
    assert alarms["WebIdCanary-FunctionErrors"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": report_id}}]


def test_the_dashboard_shows_the_orchestration(org_synth: Synthesis) -> None:
    (dashboard,) = org_synth.resources("AWS::CloudWatch::Dashboard").values()
    text = json.dumps(dashboard["Properties"]["DashboardBody"])
    for marker in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsStarted", names.METRIC_SHARDS_FAILED):
        assert marker in text, marker
