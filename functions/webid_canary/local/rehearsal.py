"""The deploy rehearsal: `cdk bootstrap` and `cdk deploy` against a moto server on 127.0.0.1.

moto's CloudFormation creates most of the stack (tables, key, topic, role, policy, function, log group, rule,
dashboard) and skips the resource types it does not implement. The rehearsal then creates those itself from
the deployed template (alarms, the topic policy, the e-mail subscription, the function's async settings), so
that the demo can run against a deployed stack, and reports for every resource who created it.

What it does not prove: IAM is not enforced by moto, so least privilege is asserted by the template tests, not
exercised; the function is not invoked (moto would need Docker) and its aarch64 wheels are not loaded; alarms
are stored but never evaluated; the e-mail subscription is never confirmed; CloudFormation's ordering,
rollback and update behaviour are moto's, not AWS's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

from webid_canary.local.aws import DEFAULT_ACCOUNT, DEFAULT_REGION, LocalMotoServer

ROOT: Final = Path(__file__).resolve().parents[3]
STACK_NAME: Final = "WebIdCanary"
CDK_TIMEOUT_SECONDS: Final = 600
# Never reach the internet: no notices download, no telemetry, no version check.
CDK_QUIET_ENV: Final[Mapping[str, str]] = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "true",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CDK_QUIET_ARGS: Final = ("--no-notices", "--no-version-reporting", "--ci")


class RehearsalError(Exception):
    """A step of the rehearsal failed; the message names the step and carries the tool's last lines."""


@dataclass(frozen=True)
class ResourceOutcome:
    """One resource of the deployed template and who created it."""

    logical_id: str
    resource_type: str
    created_by: str  # "cloudformation", "rehearsal" or "nobody"
    physical_id: str | None = None
    note: str = ""


@dataclass
class RehearsalReport:
    """What the rehearsal did, step by step, and the deployed stack's names for the demo."""

    endpoint_url: str
    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    resources: list[ResourceOutcome] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    corrections: list[Correction] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.steps) and all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "ok": self.ok,
            "steps": [{"step": s, "ok": ok, "detail": d} for s, ok, d in self.steps],
            "resources": [r.__dict__ for r in self.resources],
            "outputs": self.outputs,
            "corrections": [c.__dict__ for c in self.corrections],
            "checks": self.checks,
        }


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_cdk(args: Sequence[str], *, environment: Mapping[str, str], root: Path = ROOT) -> str:
    """Run the pinned CDK CLI from node_modules with the emulator's environment; raise with its last lines."""
    cdk = root / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise RehearsalError(f"{cdk} is missing: run `make setup` (npm ci) first")
    env = {**os.environ, **CDK_QUIET_ENV, **environment}
    result = subprocess.run(
        [str(cdk), *args, *CDK_QUIET_ARGS],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=CDK_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RehearsalError(f"cdk {args[0]} failed (exit {result.returncode}):\n{_tail(result.stderr)}")
    return result.stdout + result.stderr


class Resolver:
    """Resolves the template's Ref, Fn::GetAtt and Fn::Join against what the emulator holds."""

    def __init__(
        self,
        physical: Mapping[str, str],
        types: Mapping[str, str],
        arn_of: Callable[[str, str], str],
        region: str,
        account: str,
    ) -> None:
        self._physical = physical
        self._types = types
        self._arn_of = arn_of
        self._pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_NAME,
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name in self._pseudo:
                return self._pseudo[name]
            if name not in self._physical:
                raise RehearsalError(f"Ref to {name}, which the emulator did not create")
            return self._physical[name]
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise RehearsalError(f"Fn::GetAtt {logical_id}.{attribute} is not resolved by the rehearsal")
            return self._arn_of(logical_id, self._types[logical_id])
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, replacement in self._pseudo.items():
                text = text.replace("${" + name + "}", replacement)
            return text
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self(part)) for part in parts)
        return {key: self(item) for key, item in value.items()}


class Completion:
    """Creates, through the emulator's APIs, the resources its CloudFormation skipped."""

    def __init__(self, server: LocalMotoServer, resolve: Resolver) -> None:
        self._server = server
        self._resolve = resolve

    def create(self, resource_type: str, properties: Mapping[str, Any]) -> tuple[str, str]:
        """Create one skipped resource; returns its physical id and a note."""
        props = self._resolve(dict(properties))
        handler = {
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Lambda::EventInvokeConfig": self._event_invoke_config,
        }.get(resource_type)
        if handler is None:
            raise RehearsalError(f"{resource_type} is neither created by moto nor by the rehearsal")
        return handler(props)

    def _alarm(self, props: dict[str, Any]) -> tuple[str, str]:
        keys = (
            "AlarmName",
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
            "OKActions",
        )
        self._server.client("cloudwatch").put_metric_alarm(**{k: props[k] for k in keys if k in props})
        return props["AlarmName"], "put_metric_alarm"

    def _topic_policy(self, props: dict[str, Any]) -> tuple[str, str]:
        sns = self._server.client("sns")
        for topic_arn in props["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )
        return ",".join(props["Topics"]), "set_topic_attributes Policy"

    def _subscription(self, props: dict[str, Any]) -> tuple[str, str]:
        answer = self._server.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )
        return str(answer["SubscriptionArn"]), "subscribe (never confirmed: no e-mail leaves this machine)"

    def _event_invoke_config(self, props: dict[str, Any]) -> tuple[str, str]:
        arguments = {"FunctionName": props["FunctionName"], "Qualifier": props.get("Qualifier", "$LATEST")}
        if "MaximumRetryAttempts" in props:
            arguments["MaximumRetryAttempts"] = props["MaximumRetryAttempts"]
        if "MaximumEventAgeInSeconds" in props:
            arguments["MaximumEventAgeInSeconds"] = props["MaximumEventAgeInSeconds"]
        self._server.client("lambda").put_function_event_invoke_config(**arguments)
        return props["FunctionName"], "put_function_event_invoke_config"


def _arn_lookup(server: LocalMotoServer, physical: Mapping[str, str]) -> Callable[[str, str], str]:
    def arn_of(logical_id: str, resource_type: str) -> str:
        name = physical[logical_id]
        if resource_type == "AWS::Lambda::Function":
            return str(server.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])
        if resource_type == "AWS::KMS::Key":
            return str(server.client("kms").describe_key(KeyId=name)["KeyMetadata"]["Arn"])
        if resource_type == "AWS::DynamoDB::Table":
            return str(server.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"])
        if resource_type == "AWS::IAM::Role":
            return str(server.client("iam").get_role(RoleName=name)["Role"]["Arn"])
        if name.startswith("arn:"):
            return name
        raise RehearsalError(f"no ARN lookup for {resource_type} {logical_id}")

    return arn_of


def stack_outputs(server: LocalMotoServer) -> dict[str, str]:
    """The deployed stack's outputs, as CloudFormation reports them."""
    (stack,) = server.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def complete_stack(server: LocalMotoServer, template: Mapping[str, Any], report: RehearsalReport) -> Resolver:
    """Create what moto's CloudFormation skipped and record, per resource, who created it."""
    cloudformation = server.client("cloudformation")
    listed = cloudformation.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    # moto lists the resources it skipped too, without a logical id.
    created = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in listed if "LogicalResourceId" in r}
    physical = {logical_id: value for logical_id, value in created.items() if value}
    resources = template["Resources"]
    types = {logical_id: r["Type"] for logical_id, r in resources.items()}
    resolve = Resolver(physical, types, _arn_lookup(server, physical), server.region, DEFAULT_ACCOUNT)
    completion = Completion(server, resolve)
    if not report.outputs:
        report.outputs = {key: str(resolve(o["Value"])) for key, o in template.get("Outputs", {}).items()}
        report.steps.append(("resolve the stack outputs (moto reports none)", True, ", ".join(report.outputs)))
    for logical_id, resource in resources.items():
        resource_type = resource["Type"]
        if resource_type == "AWS::CDK::Metadata":
            continue
        if logical_id in created:
            report.resources.append(
                ResourceOutcome(logical_id, resource_type, "cloudformation", physical.get(logical_id))
            )
            continue
        try:
            physical_id, note = completion.create(resource_type, resource.get("Properties", {}))
        except RehearsalError as exc:
            report.resources.append(ResourceOutcome(logical_id, resource_type, "nobody", note=str(exc)))
            continue
        report.resources.append(ResourceOutcome(logical_id, resource_type, "rehearsal", physical_id, note))
    return resolve


@dataclass(frozen=True)
class Correction:
    """A property moto's CloudFormation dropped, as deployed, and whether the rehearsal set it."""

    resource: str
    setting: str
    deployed: str
    wanted: str
    corrected: bool
    note: str = ""


MONITOR_HANDLER = "webid_canary.handler.lambda_handler"


def _function_props(template: Mapping[str, Any]) -> dict[str, Any]:
    """The monitor function's properties (the refusal handler's function is reconciled by none of these)."""
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == MONITOR_HANDLER
    ]
    props: dict[str, Any] = function["Properties"]
    return props


def _pitr_status(dynamodb: Any, table: str) -> object:
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def _sse_status(dynamodb: Any, table: str) -> object:
    return (dynamodb.describe_table(TableName=table)["Table"].get("SSEDescription") or {}).get("Status")


def reconcile(
    server: LocalMotoServer, template: Mapping[str, Any], report: RehearsalReport, resolve: Resolver
) -> list[Correction]:
    """Set, through the service APIs, the properties moto's CloudFormation ignored; record each one."""
    corrections: list[Correction] = []
    outputs = report.outputs
    lam = server.client("lambda")
    name = outputs["FunctionName"]
    props = _function_props(template)

    def attempt(
        resource: str, setting: str, read: Callable[[], object], wanted: object, fix: Callable[[], object]
    ) -> None:
        deployed = read()
        if deployed == wanted:
            return
        note = ""
        try:
            fix()
        except Exception as exc:  # the emulator may not implement the call: report it
            note = f"the emulator refused the call: {str(exc)[:200]}"
        after = read()
        if after != wanted and not note:
            note = f"the emulator accepted the call but still answers {after!r}"
        corrections.append(Correction(resource, setting, repr(deployed), repr(wanted), after == wanted, note))

    def function_setting(key: str) -> Callable[[], object]:
        return lambda: lam.get_function_configuration(FunctionName=name).get(key)

    code = resolve(props["Code"])
    attempt(
        "function",
        "Architectures",
        function_setting("Architectures"),
        props["Architectures"],
        partial(
            lam.update_function_code,
            FunctionName=name,
            S3Bucket=code["S3Bucket"],
            S3Key=code["S3Key"],
            Architectures=props["Architectures"],
        ),
    )
    attempt(
        "function",
        "TracingConfig",
        function_setting("TracingConfig"),
        props["TracingConfig"],
        partial(lam.update_function_configuration, FunctionName=name, TracingConfig=props["TracingConfig"]),
    )
    wanted_group = resolve(props["LoggingConfig"])["LogGroup"]
    attempt(
        "function",
        "LoggingConfig.LogGroup",
        lambda: (lam.get_function_configuration(FunctionName=name).get("LoggingConfig") or {}).get("LogGroup"),
        wanted_group,
        partial(
            lam.update_function_configuration,
            FunctionName=name,
            LoggingConfig={"LogFormat": "Text", "LogGroup": wanted_group},
        ),
    )
    dynamodb = server.client("dynamodb")
    for key in ("TargetsTableName", "StateTableName"):
        table = outputs[key]
        attempt(
            key,
            "PointInTimeRecovery",
            partial(_pitr_status, dynamodb, table),
            "ENABLED",
            partial(
                dynamodb.update_continuous_backups,
                TableName=table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            ),
        )
        attempt(
            key,
            "SSESpecification",
            partial(_sse_status, dynamodb, table),
            "ENABLED",
            partial(dynamodb.update_table, TableName=table, SSESpecification={"Enabled": True, "SSEType": "KMS"}),
        )
    return corrections


def check_deployment(server: LocalMotoServer, template: Mapping[str, Any], report: RehearsalReport) -> None:
    """Read the deployed resources back and compare what matters with the template."""
    outputs = report.outputs
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    expected_env = functions[0]["Properties"]["Environment"]["Variables"] if functions else {}
    lam = server.client("lambda")
    config = lam.get_function_configuration(FunctionName=outputs["FunctionName"])
    env = config.get("Environment", {}).get("Variables", {})
    report.checks["function runtime python3.13"] = config.get("Runtime") == "python3.13"
    # Architectures and tracing are reported by the corrections: moto keeps its own values for them.
    report.checks["function reserved concurrency 1"] = (
        lam.get_function_concurrency(FunctionName=outputs["FunctionName"]).get("ReservedConcurrentExecutions") == 1
    )
    report.checks["function environment has every variable"] = set(env) == set(expected_env)
    report.checks["function environment names the deployed tables and topic"] = (
        env.get("WEBID_CANARY_TARGETS_TABLE") == outputs["TargetsTableName"]
        and env.get("WEBID_CANARY_STATE_TABLE") == outputs["StateTableName"]
        and env.get("WEBID_CANARY_TOPIC_ARN") == outputs["TopicArn"]
    )
    dynamodb = server.client("dynamodb")
    for key in ("TargetsTableName", "StateTableName"):
        table = dynamodb.describe_table(TableName=outputs[key])["Table"]
        report.checks[f"{key} exists"] = table["TableStatus"] == "ACTIVE"
        backups = dynamodb.describe_continuous_backups(TableName=outputs[key])["ContinuousBackupsDescription"]
        report.checks[f"{key} point-in-time recovery"] = (
            backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        )
    alarm_names = {
        r["Properties"]["AlarmName"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    found = {
        a["AlarmName"]
        for a in server.client("cloudwatch").describe_alarms(AlarmNames=sorted(alarm_names))["MetricAlarms"]
    }
    report.checks["every alarm exists"] = found == alarm_names
    report.checks["no resource left uncreated"] = all(r.created_by != "nobody" for r in report.resources)


def rehearse(
    context: Mapping[str, str] | None = None,
    *,
    root: Path = ROOT,
    server: LocalMotoServer | None = None,
) -> RehearsalReport:
    """Bootstrap and deploy the stack into a moto server, complete it, and check it; the server is left running
    when given (so that the demo can use the deployed stack) and stopped otherwise."""
    # moto warns for each resource type its CloudFormation skips; the rehearsal reports those itself.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
        return _rehearse(context, root=root, server=server)


def _rehearse(context: Mapping[str, str] | None, *, root: Path, server: LocalMotoServer | None) -> RehearsalReport:
    own_server = server is None
    server = server or LocalMotoServer(None).start()
    report = RehearsalReport(endpoint_url=server.endpoint_url)
    context_args = [arg for key, value in (context or {}).items() for arg in ("-c", f"{key}={value}")]
    try:
        # The SDK of the CDK CLI addresses S3 path-style for `localhost` (virtual-hosted for an IP address,
        # which moto cannot route): same loopback server, named as the issue asks.
        environment = {
            **server.environment(),
            "AWS_ENDPOINT_URL": server.endpoint_url.replace("://127.0.0.1:", "://localhost:"),
        }
        with tempfile.TemporaryDirectory(prefix="webid-canary-rehearsal-") as tmp:
            outdir = Path(tmp) / "cdk.out"
            outputs_file = Path(tmp) / "outputs.json"
            steps: list[tuple[str, list[str]]] = [
                ("cdk bootstrap", ["bootstrap", f"aws://{DEFAULT_ACCOUNT}/{DEFAULT_REGION}", "--output", str(outdir)]),
                (
                    "cdk deploy",
                    [
                        "deploy",
                        STACK_NAME,
                        "--require-approval",
                        "never",
                        "--output",
                        str(outdir),
                        "--outputs-file",
                        str(outputs_file),
                        *context_args,
                    ],
                ),
            ]
            for name, args in steps:
                try:
                    text = run_cdk(args, environment=environment, root=root)
                except (RehearsalError, subprocess.TimeoutExpired) as exc:
                    report.steps.append((name, False, str(exc)))
                    return report
                report.steps.append((name, True, _tail(text, 3)))
            written = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
            report.outputs = written.get(STACK_NAME) or stack_outputs(server)
            template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
        resolve = complete_stack(server, template, report)
        report.steps.append(("create what moto's CloudFormation skips", True, ""))
        report.corrections = reconcile(server, template, report, resolve)
        report.steps.append(("set the properties moto's CloudFormation ignores", True, ""))
        check_deployment(server, template, report)
        return report
    finally:
        if own_server:
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rehearsal and print its report as JSON; exit 0 only when every step and check passed."""
    args = list(sys.argv[1:] if argv is None else argv)
    context = dict(arg.split("=", 1) for arg in args if "=" in arg)
    report = rehearse(context)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
