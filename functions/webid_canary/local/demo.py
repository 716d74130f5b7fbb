"""`webid-canary demo`: the whole story on one machine, through the real Lambda handler.

It starts the local AWS (moto over HTTP with the strict STS), three OIDC issuers on loopback (an EKS-style and a
GitHub-style issuer with their own private CA, and the npm `oidc-provider` for a live probe), creates the
stack's tables and topic, registers targets, then breaks and repairs things one cycle at a time. Each cycle
runs the handler as Lambda would, turns its EMF output into CloudWatch metrics, evaluates the alarms of the
synthesized template, and reads back what SNS delivered. Then, unless left out, the same AWS becomes an
organization of three member accounts watched through the organization stack's state machine (two cycles: see
local/demo_organization.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from webid_canary import names
from webid_canary.local import moto_extras
from webid_canary.local.alarms import AlarmBoard, Datapoint, alarms_from_template
from webid_canary.local.aws import LocalMotoServer, local_strict_sts
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.lambda_runtime import cloudtrail_event, deliver, environment, invoke
from webid_canary.local.npm_provider import NpmOpenIdProvider, repository_root, unavailable_reason
from webid_canary.local.pki import Pki
from webid_canary.local.seed import Seeder, Topic, oidc_trust_policy

ACCOUNT = "123456789012"
EKS_CLUSTER = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
AUDIENCE = "sts.amazonaws.com"
POOL = "us-east-1:7d3e2c10-5b7a-4f0e-9a61-2c4b8e1f0d93"
NPM_SECRET = "webid-canary/batch-client"


class DemoError(RuntimeError):
    """The local environment could not be set up."""


@dataclass
class World:
    """Everything the story touches: the local AWS, the issuers, and the resources it created."""

    server: LocalMotoServer
    seed: Seeder
    eks: LocalIssuer
    github: LocalIssuer
    npm: NpmOpenIdProvider | None
    topic: Topic
    targets_table: str
    state_table: str
    ca_file: str
    template: dict[str, Any]
    function_environment: dict[str, str]
    deployed: str
    providers: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    # An SQS queue behind an EventBridge rule on `source: webid-canary`: what a rule of the user's would see.
    events: Topic | None = None
    # The CloudTrail records the local STS writes, and how many of them EventBridge has delivered.
    trail: list[Mapping[str, object]] = field(default_factory=list)
    delivered_records: int = 0

    def iam(self) -> Any:
        return self.server.client("iam")


# ----- the story ---------------------------------------------------------------------------------------------


def eks_trust(world: World, service_account: str) -> dict[str, Any]:
    return oidc_trust_policy(
        world.providers["eks"],
        world.eks.provider_url,
        sub=f"system:serviceaccount:billing:{service_account}",
        aud=AUDIENCE,
    )


def github_trust(world: World, sub: str, operator: str = "StringLike") -> dict[str, Any]:
    return oidc_trust_policy(
        world.providers["github"], world.github.provider_url, sub=sub, aud=AUDIENCE, operator=operator
    )


def set_trust(world: World, role: str, policy: dict[str, Any]) -> None:
    world.iam().update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(policy))


@dataclass(frozen=True)
class Chapter:
    title: str
    action: Callable[[World], None] | None


def _noop(world: World) -> None:
    return None


def _break_sa(world: World) -> None:
    set_trust(world, "invoice-worker", eks_trust(world, "invoice-wroker"))


def _fix_sa(world: World) -> None:
    set_trust(world, "invoice-worker", eks_trust(world, "invoice-worker"))


def _drop_client_id(world: World) -> None:
    world.iam().remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=world.providers["github"], ClientID=AUDIENCE
    )


def _restore_client_id(world: World) -> None:
    world.iam().add_client_id_to_open_id_connect_provider(
        OpenIDConnectProviderArn=world.providers["github"], ClientID=AUDIENCE
    )


def _rotate_intermediate(world: World) -> None:
    world.eks.rotate_intermediate()


def _pin_new_thumbprint(world: World) -> None:
    world.iam().update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=world.providers["eks"], ThumbprintList=[world.eks.thumbprint]
    )


def _delete_eks_provider(world: World) -> None:
    world.iam().delete_open_id_connect_provider(OpenIDConnectProviderArn=world.providers["eks"])


def _recreate_eks_provider(world: World) -> None:
    answer = world.iam().create_open_id_connect_provider(
        Url=f"https://{world.eks.provider_url}", ClientIDList=[AUDIENCE], ThumbprintList=[world.eks.thumbprint]
    )
    world.providers["eks"] = answer["OpenIDConnectProviderArn"]


def _open_to_any_repository(world: World) -> None:
    set_trust(world, "deploy", github_trust(world, "repo:*"))


def _pin_repository(world: World) -> None:
    set_trust(world, "deploy", github_trust(world, "repo:acme/payments:ref:refs/heads/main", "StringEquals"))


def _break_secret(world: World) -> None:
    world.server.client("secretsmanager").put_secret_value(
        SecretId=NPM_SECRET, SecretString=json.dumps({"client_secret": "rotated-by-someone-else"})
    )


def _repair_secret(world: World) -> None:
    assert world.npm is not None
    world.server.client("secretsmanager").put_secret_value(
        SecretId=NPM_SECRET, SecretString=json.dumps({"client_secret": world.npm.client_secret})
    )


def _refuse_real_workload(world: World) -> None:
    """The trust policy moves to another namespace; the invoice worker's own job presents its token and is
    refused; CloudTrail's record reaches the refusal handler through EventBridge before the next cycle runs."""
    set_trust(
        world,
        "invoice-worker",
        oidc_trust_policy(
            world.providers["eks"],
            world.eks.provider_url,
            sub="system:serviceaccount:billing-v2:invoice-worker",
            aud=AUDIENCE,
        ),
    )
    token = world.eks.mint({"sub": "system:serviceaccount:billing:invoice-worker", "aud": AUDIENCE})
    with contextlib.suppress(ClientError):  # the refusal is the point: the job fails, and CloudTrail logs why
        world.server.client("sts").assume_role_with_web_identity(
            RoleArn=world.roles["invoice-worker"], RoleSessionName="invoice-run-1842", WebIdentityToken=token
        )
    deliver_trail(world)


def deliver_trail(world: World) -> None:
    """EventBridge's part: each new refused record to the refusal handler (the rule matches errorCode only)."""
    from webid_canary import handler

    for record in world.trail[world.delivered_records :]:
        if record.get("errorCode"):
            deliver(handler.refusal_handler, cloudtrail_event(record, ACCOUNT), account=ACCOUNT)
    world.delivered_records = len(world.trail)


def story(world: World) -> list[Chapter]:
    chapters = [
        Chapter("All healthy", _noop),
        Chapter("A trust policy is edited to the wrong service account", _break_sa),
        Chapter("The trust policy is put back", _fix_sa),
        Chapter("A real workload is refused: the trust policy now names another namespace", _refuse_real_workload),
        Chapter("The trust policy is put back again", _fix_sa),
        Chapter("The GitHub-style provider's client ID sts.amazonaws.com is removed", _drop_client_id),
        Chapter("The client ID is added back", _restore_client_id),
        Chapter("The EKS-style issuer's intermediate certificate is rotated (private CA)", _rotate_intermediate),
        Chapter("The provider is updated with the new thumbprint", _pin_new_thumbprint),
        Chapter("The EKS-style IAM OIDC provider is deleted", _delete_eks_provider),
        Chapter("The provider is created again as it was", _recreate_eks_provider),
        Chapter("The deploy role's trust policy is opened to any repository", _open_to_any_repository),
        Chapter("The trust policy is pinned to one repository again", _pin_repository),
    ]
    if world.npm is not None:
        chapters += [
            Chapter("The live probe's client secret is changed under it", _break_secret),
            Chapter("The secret is repaired", _repair_secret),
        ]
    return chapters


# ----- setting the scene -------------------------------------------------------------------------------------


def register_targets(world: World) -> None:
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.targets import parse_target

    items: list[dict[str, Any]] = [
        {
            "target_id": "invoice-worker",
            "role_arn": world.roles["invoice-worker"],
            "issuer": world.eks.url,
            "claims": {"sub": "system:serviceaccount:billing:invoice-worker", "aud": AUDIENCE},
            "severity": "critical",
            "owner": "team-billing",
            "alarm": True,
        },
        {
            "target_id": "deploy",
            "role_arn": world.roles["deploy"],
            "issuer": world.github.url,
            "claims": {"sub": "repo:acme/payments:ref:refs/heads/main", "aud": AUDIENCE},
            "must_deny": [{"sub": "repo:acme/payments:pull_request"}],
            "severity": "high",
            "owner": "team-payments",
        },
        {
            "target_id": "mobile-app",
            "role_arn": world.roles["mobile-app"],
            "issuer": "https://cognito-identity.amazonaws.com",
            "claims": {
                "sub": "us-east-1:5f0c8a2e-91d4-4b6a-8e3f-0a7b6c5d4e21",
                "aud": POOL,
                "amr": ["authenticated", "cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"],
            },
            "severity": "medium",
            "owner": "team-mobile",
        },
    ]
    if world.npm is not None:
        items.append(
            {
                "target_id": "batch-job",
                "role_arn": world.roles["batch-job"],
                "issuer": world.npm.url,
                "token_source": {
                    "type": "client_credentials",
                    "token_endpoint": world.npm.token_endpoint,
                    "client_id": world.npm.client_id,
                    "secret_id": NPM_SECRET,
                    "resource": world.npm.resource,
                },
                "severity": "high",
                "owner": "team-data",
            }
        )
    table = TargetsTable(world.server.client("dynamodb"), world.targets_table)
    table.put_all([parse_target(item) for item in items])


@dataclass(frozen=True)
class Stack:
    """Where the stack's resources came from: the deploy rehearsal, or created directly when it failed."""

    targets_table: str
    state_table: str
    topic: Topic
    template: dict[str, Any]
    function_environment: dict[str, str]
    how: str


def deploy(server: LocalMotoServer, seed: Seeder, rehearsal: bool) -> Stack:
    """`cdk bootstrap` + `cdk deploy` into the local AWS (the rehearsal); the seeded equivalent otherwise."""
    if rehearsal:
        from webid_canary.local.rehearsal import STACK_NAME, rehearse

        report = rehearse(server=server)
        failed = [f"{step}: {detail}" for step, ok, detail in report.steps if not ok]
        if not failed and report.outputs:
            outputs = report.outputs
            body = server.client("cloudformation").get_template(StackName=STACK_NAME)["TemplateBody"]
            template = body if isinstance(body, dict) else json.loads(body)
            function = server.client("lambda").get_function_configuration(FunctionName=outputs["FunctionName"])
            return Stack(
                outputs["TargetsTableName"],
                outputs["StateTableName"],
                subscribe_queue(server, outputs["TopicArn"]),
                template,
                dict(function.get("Environment", {}).get("Variables", {})),
                "cdk deploy (rehearsal)",
            )
        print(f"deploy rehearsal failed, creating the resources directly: {failed[:1]}", file=sys.stderr)
    targets_table, state_table = seed.tables()
    topic = seed.topic()
    environment = {
        names.ENV_TARGETS_TABLE: targets_table,
        names.ENV_STATE_TABLE: state_table,
        names.ENV_TOPIC_ARN: topic.topic_arn,
    }
    return Stack(targets_table, state_table, topic, synth_template(), environment, "created directly")


def subscribe_queue(server: LocalMotoServer, topic_arn: str) -> Topic:
    """An SQS queue subscribed to the deployed topic, standing in for the e-mail and chat subscriptions."""
    sqs = server.client("sqs")
    queue_url = str(sqs.create_queue(QueueName="webid-canary-demo-inbox")["QueueUrl"])
    queue_arn = str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    server.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(topic_arn=topic_arn, queue_url=queue_url, queue_arn=queue_arn)


def route_events(server: LocalMotoServer) -> Topic:
    """An EventBridge rule on the default bus for `source: webid-canary`, to an SQS queue the demo reads."""
    sqs = server.client("sqs")
    queue_url = str(sqs.create_queue(QueueName="webid-canary-demo-events")["QueueUrl"])
    queue_arn = str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    events = server.client("events")
    events.put_rule(Name="webid-canary-demo", EventPattern=json.dumps({"source": ["webid-canary"]}))
    events.put_targets(Rule="webid-canary-demo", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    return Topic(topic_arn="", queue_url=queue_url, queue_arn=queue_arn)


def start_local_aws(stack: contextlib.ExitStack, workdir: Path) -> tuple[Pki, LocalMotoServer, Seeder]:
    """The private CA and the local AWS (moto over HTTP with the strict STS), stopped when `stack` closes."""
    moto_extras.install()
    pki = Pki(workdir / "pki")
    stack.callback(pki.close)
    server = stack.enter_context(LocalMotoServer(local_strict_sts(str(pki.ca_file))))
    return pki, server, Seeder(server.client)


def start_issuers(stack: contextlib.ExitStack, pki: Pki) -> tuple[LocalIssuer, LocalIssuer]:
    """The EKS-style and the GitHub-style issuers on loopback, over TLS from the private CA."""
    eks = stack.enter_context(LocalIssuer(pki, path=f"id/{EKS_CLUSTER}"))
    github = stack.enter_context(LocalIssuer(pki, path="github"))
    return eks, github


def build_world(
    stack: contextlib.ExitStack,
    workdir: Path,
    with_npm: bool,
    rehearsal: bool = True,
    client_secret: str | None = None,
) -> World:
    pki, server, seed = start_local_aws(stack, workdir)
    deployed = deploy(server, seed, rehearsal)
    eks, github = start_issuers(stack, pki)
    npm = stack.enter_context(NpmOpenIdProvider(pki, client_secret=client_secret)) if with_npm else None
    world = World(
        server,
        seed,
        eks,
        github,
        npm,
        deployed.topic,
        deployed.targets_table,
        deployed.state_table,
        str(pki.ca_file),
        deployed.template,
        deployed.function_environment,
        deployed.how,
        trail=server.installation.trail_records if server.installation is not None else [],
    )
    world.events = route_events(server)
    server.client("securityhub").enable_security_hub()
    world.providers["eks"] = seed.provider(eks, client_ids=[AUDIENCE])
    world.providers["github"] = seed.provider(github, client_ids=[AUDIENCE])
    world.roles["invoice-worker"] = seed.role("invoice-worker", eks_trust(world, "invoice-worker"))
    world.roles["deploy"] = seed.role(
        "deploy", github_trust(world, "repo:acme/payments:ref:refs/heads/main", "StringEquals")
    )
    world.roles["mobile-app"] = seed.role(
        "mobile-app",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {"cognito-identity.amazonaws.com:aud": POOL},
                        "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
                    },
                }
            ],
        },
    )
    if npm is not None:
        world.providers["npm"] = seed.provider(npm, client_ids=[npm.audience])
        world.roles["batch-job"] = seed.web_identity_role(
            "batch-job", npm, world.providers["npm"], sub=npm.client_id, aud=npm.audience
        )
        seed.secret(NPM_SECRET, {"client_secret": npm.client_secret})
    register_targets(world)
    return world


def synth_template() -> dict[str, Any]:
    """The stack's CloudFormation template, synthesized in this process (the alarms come from here)."""
    root = str(repository_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    # The jsii runtime warns about the machine's Node version on every synth; the demo is not the place.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    import aws_cdk as cdk

    from infra.app import STACK_ID, build_app
    from infra.config import from_context

    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir)
        build_app(app, from_context(app.node.try_get_context))
        template: dict[str, Any] = app.synth().get_stack_by_name(STACK_ID).template
    return template


# ----- running the handler as Lambda would --------------------------------------------------------------------


def function_environment(world: World, log_level: str = "ERROR") -> dict[str, str]:
    """The deployed function's environment, plus what only the local environment sets: the endpoint, fake
    credentials, loopback issuers allowed and the local CA."""
    return {
        **world.function_environment,
        **world.server.environment(),
        names.ENV_EVENT_BUS: world.function_environment.get(names.ENV_EVENT_BUS, "default"),
        # As `-c security_hub=true` would set it: findings go to the local Security Hub too.
        names.ENV_SECURITY_HUB_PRODUCT_ARN: f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default",
        names.ENV_ALLOW_PRIVATE_ISSUERS: "true",
        names.ENV_CA_FILE: world.ca_file,
        names.ENV_CONCURRENCY: "8",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # The function's own log lines would go to CloudWatch Logs; the demo shows what the monitor reports.
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_SERVICE_NAME": names.SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": names.METRIC_NAMESPACE,
    }


def put_metrics(world: World, points: list[Datapoint]) -> None:
    cloudwatch = world.server.client("cloudwatch")
    for point in points:
        cloudwatch.put_metric_data(
            Namespace=point.namespace,
            MetricData=[
                {
                    "MetricName": point.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in point.dimensions.items()],
                    "Value": point.value,
                    "Unit": point.unit,
                }
            ],
        )


# ----- the run -------------------------------------------------------------------------------------------------


def run_demo(
    *,
    emit: Callable[[dict[str, Any]], None],
    with_npm: bool | None = None,
    rehearsal: bool = True,
    progress: Callable[[str], None] = lambda _: None,
    debug_logs: bool = False,
    client_secret: str | None = None,
    organization: bool = True,
) -> dict[str, Any]:
    """Tell the story; `emit` receives each cycle as it completes. Returns the whole story as one document.

    `debug_logs`: the function logs at DEBUG too (the caller sets up the root logger); `client_secret`: the live
    probe's client secret instead of a random one; `organization`: end with the organization's cycles
    (local/demo_organization.py)."""
    if with_npm is None:
        with_npm = unavailable_reason() is None
    cycles: list[dict[str, Any]] = []
    organization_cycles: list[dict[str, Any]] | None = None
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="webid-canary-demo-") as tmp:
        progress(
            "deploying the stack into the local AWS (cdk bootstrap, cdk deploy) and starting the issuers"
            if rehearsal
            else "creating the stack's resources in the local AWS and starting the issuers"
        )
        world = build_world(stack, Path(tmp), with_npm, rehearsal, client_secret)
        board = AlarmBoard(alarms_from_template(world.template))
        progress(f"stack {world.deployed}; {len(board.alarms)} alarms from its template; targets registered")
        with environment(function_environment(world, "DEBUG" if debug_logs else "ERROR")):
            from webid_canary import handler

            for powertools_handler in logging.getLogger(names.SERVICE_NAME).handlers:
                if isinstance(powertools_handler, logging.StreamHandler):
                    powertools_handler.setStream(sys.stderr)
            for number, chapter in enumerate(story(world), start=1):
                if chapter.action is not None:
                    chapter.action(world)
                summary, points = invoke(handler.lambda_handler, account=ACCOUNT)
                put_metrics(world, points)
                alarm_changes = board.evaluate(points)
                delivered = world.seed.messages(world.topic, max_messages=50)
                routed = world.seed.messages(world.events, max_messages=50) if world.events else []
                cycle = describe_cycle(number, chapter, world, summary, alarm_changes, board, delivered, routed)
                cycles.append(cycle)
                emit(cycle)
            if organization:
                from webid_canary.local.demo_organization import run_organization

                organization_cycles = run_organization(
                    world.server.client,
                    world.seed,
                    monitor=ACCOUNT,
                    issuer=world.github,
                    topic=world.topic,
                    environment=function_environment(world, "DEBUG" if debug_logs else "ERROR"),
                    first_cycle=len(cycles) + 1,
                    emit=emit,
                    progress=progress,
                    endpoint_url=world.server.endpoint_url,
                )
        return {
            "cycles": cycles,
            "live_probe": with_npm,
            "stack": world.deployed,
            "organization": organization_cycles,
        }


def describe_cycle(
    number: int,
    chapter: Chapter,
    world: World,
    summary: dict[str, Any],
    alarm_changes: list[tuple[str, str, str]],
    board: AlarmBoard,
    delivered: list[dict[str, Any]],
    routed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    state = world.server.client("dynamodb")
    items = state.scan(TableName=world.state_table)["Items"]
    targets: dict[str, Any] = {}
    providers: dict[str, Any] = {}
    for item in items:
        key = item["pk"]["S"]
        result = json.loads(item.get("last_result", {}).get("S", "{}"))
        kind, _, subject = key.partition("#")
        if kind not in ("target", "provider"):
            continue  # the refusal handler's own items (refusal#...)
        entry = {"status": item["status"]["S"], "root_cause": result.get("root_cause") or "none"}
        if kind == "target":
            verdict = result.get("verdict") or {}
            entry["condition_key"] = verdict.get("condition_key")
            entry["expected"] = verdict.get("expected")
            entry["actual"] = verdict.get("actual")
            entry["error"] = result.get("error")
            entry["open_to"] = [n["label"] for n in result.get("open_to", [])]
            targets[subject] = entry
        else:
            entry["findings"] = sorted({f["code"] for f in result.get("findings", []) if f["severity"] != "info"})
            providers[subject] = entry
    notifications = []
    for envelope in delivered:
        body = json.loads(envelope.get("Message", "{}"))
        notifications.append(
            {
                "event": body.get("event"),
                "subject": body.get("subject"),
                "target_id": body.get("target_id"),
                "role_arn": body.get("role_arn"),
                "provider_url": body.get("provider_url"),
                "root_cause": body.get("root_cause"),
                "severity": body.get("severity"),
                "email_subject": envelope.get("Subject"),
                "text": body.get("text"),
                "transition_id": body.get("transition_id"),
            }
        )
    hub = world.server.client("securityhub").get_findings(MaxResults=100)["Findings"]
    findings = {
        f["Id"]: {
            "workflow": f.get("Workflow", {}).get("Status"),
            "record_state": f.get("RecordState"),
            "severity": f.get("Severity", {}).get("Label"),
            "updated_at": f.get("UpdatedAt"),
        }
        for f in hub
    }
    events = [
        {
            "detail_type": event.get("detail-type"),
            "event": event.get("detail", {}).get("event"),
            "root_cause": event.get("detail", {}).get("root_cause"),
            "transition_id": event.get("detail", {}).get("transition_id"),
        }
        for event in routed or []
    ]
    return {
        "cycle": number,
        "title": chapter.title,
        "summary": summary,
        "targets": dict(sorted(targets.items())),
        "providers": dict(sorted(providers.items())),
        "alarms": dict(sorted(board.states.items())),
        "alarm_changes": [{"alarm": a, "from": old, "to": new} for a, old, new in alarm_changes],
        "notifications": notifications,
        "events": events,
        "findings": dict(sorted(findings.items())),
    }
