"""The demo's organization part: three member accounts watched by one Step Functions execution per cycle.

It runs after the one-account story, in the same local AWS (moto over HTTP with the strict STS) and with the same
GitHub-style issuer. The monitor's account becomes the organization's management account; an OU holds three
member accounts, each with the issuer's OIDC provider, the reader role (trusting the monitor's account) and two
deploy roles registered as targets. The state machine is the one of the stack synthesized with
`-c organization=true -c org_units=<the OU>`: its DefinitionString, re-created in moto and executed for real
(webid_canary.local.stepfunctions), each step's handler called in this process; the alarms are that
template's, fed with the report step's metrics.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from webid_canary import names
from webid_canary.local.alarms import AlarmBoard, alarms_from_template, parse_emf
from webid_canary.local.npm_provider import repository_root
from webid_canary.local.seed import Seeder, oidc_trust_policy

ClientFactory = Callable[..., Any]

AUDIENCE = "sts.amazonaws.com"
PLAN_BUCKET = "webid-canary-demo-plan"
TARGETS_TABLE = "webid-canary-org-targets"
STATE_TABLE = "webid-canary-org-state"
MEMBERS = ("payments", "data", "web")
BROKEN_READER = "data"  # its reader role stops trusting the monitor
BROKEN_TARGET = "payments"  # one of its deploy roles' trust policy is edited to another repository


@dataclass
class Member:
    name: str
    account: str
    client: ClientFactory
    roles: dict[str, str] = field(default_factory=dict)


@dataclass
class Organization:
    monitor: str
    org_unit: str
    members: list[Member]
    template: dict[str, Any]
    issuer: Any
    provider_url: str

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)


def _infra_importable() -> None:
    """The CDK app (infra/) is imported from the checkout, as the one-account demo's synth does."""
    root = str(repository_root())
    if root not in sys.path:
        sys.path.insert(0, root)


def synth_organization_template(org_unit: str) -> dict[str, Any]:
    """The stack's template with `-c organization=true -c org_units=<org_unit>`, synthesized in this process."""
    _infra_importable()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    import aws_cdk as cdk

    from infra.app import STACK_ID, build_app
    from infra.config import from_context

    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context={"organization": "true", "org_units": org_unit})
        build_app(app, from_context(app.node.try_get_context))
        template: dict[str, Any] = app.synth().get_stack_by_name(STACK_ID).template
    return template


def member_client(client: ClientFactory, account: str) -> ClientFactory:
    """A client factory acting in a member account, through OrganizationAccountAccessRole (as an admin would)."""
    answer = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="demo-setup"
    )
    credentials = answer["Credentials"]

    def make(service: str, **kwargs: Any) -> Any:
        return client(
            service,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            **kwargs,
        )

    return make


def reader_trust(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ],
    }


def _sub(member: str, n: int) -> str:
    return f"repo:acme/{member}-service-{n}:ref:refs/heads/main"


def build_organization(client: ClientFactory, seed: Seeder, monitor: str, issuer: Any) -> Organization:
    """The organization, its members' providers, reader roles and deploy roles, and the tables and bucket."""
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.targets import parse_target
    from webid_canary.local.seed import create_state_table, create_targets_table

    orgs = client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    unit = str(orgs.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"])
    members = []
    for name in MEMBERS:
        status = orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        account = str(status["AccountId"])
        orgs.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
        members.append(Member(name, account, member_client(client, account)))
    items = []
    for member in members:
        local = Seeder(member.client)
        provider = local.provider(issuer, client_ids=[AUDIENCE])
        # What the StackSet deploys to each account of the OU (moto does not run StackSets).
        local.role(names.READER_ROLE_NAME, reader_trust(monitor))
        for n in range(2):
            role = f"deploy-{n}"
            member.roles[role] = local.web_identity_role(role, issuer, provider, sub=_sub(member.name, n), aud=AUDIENCE)
            items.append(
                {
                    "target_id": f"{member.name}-deploy-{n}",
                    "role_arn": member.roles[role],
                    "issuer": issuer.url,
                    "claims": {"sub": _sub(member.name, n), "aud": AUDIENCE},
                    "owner": f"team-{member.name}",
                }
            )
    create_targets_table(client, TARGETS_TABLE)
    create_state_table(client, STATE_TABLE)
    client("s3").create_bucket(Bucket=PLAN_BUCKET)
    TargetsTable(client("dynamodb"), TARGETS_TABLE).put_all([parse_target(i) for i in items])
    template = synth_organization_template(unit)
    return Organization(monitor, unit, members, template, issuer, issuer.provider_url)


def break_one_account(org: Organization) -> None:
    """The data account's reader role now trusts another account; a payments deploy role trusts another repo."""
    data = org.member(BROKEN_READER)
    data.client("iam").update_assume_role_policy(
        RoleName=names.READER_ROLE_NAME, PolicyDocument=json.dumps(reader_trust("210987654321"))
    )
    payments = org.member(BROKEN_TARGET)
    provider = f"arn:aws:iam::{payments.account}:oidc-provider/{org.provider_url}"
    trust = oidc_trust_policy(provider, org.provider_url, sub=_sub("payments", 9), aud=AUDIENCE)
    payments.client("iam").update_assume_role_policy(RoleName="deploy-1", PolicyDocument=json.dumps(trust))


CHAPTERS: list[tuple[str, Callable[[Organization], None] | None]] = [
    ("Organization: three member accounts, one Step Functions execution", None),
    (
        f"Organization: the {BROKEN_READER} account's reader role stops trusting the monitor; "
        f"a {BROKEN_TARGET} deploy role's trust policy is edited",
        break_one_account,
    ),
]


def run_organization(
    client: ClientFactory,
    seed: Seeder,
    *,
    monitor: str,
    issuer: Any,
    topic: Any,
    environment: dict[str, str],
    first_cycle: int,
    emit: Callable[[dict[str, Any]], None],
    progress: Callable[[str], None],
    endpoint_url: str | None = None,
) -> list[dict[str, Any]]:
    """The organization's cycles; each is emitted as it completes and returned.

    `endpoint_url`: the local AWS's, when it is moto's server (its Step Functions calls Lambda over HTTP on the
    port named by MOTO_PORT; in-process moto intercepts the call instead)."""
    from webid_canary import wiring
    from webid_canary.local.lambda_runtime import environment as set_environment
    from webid_canary.local.stepfunctions import LocalStateMachine, definition_from_template

    _infra_importable()
    from infra import orchestration

    progress("organization: three member accounts, and the stack synthesized with -c organization=true")
    org = build_organization(client, seed, monitor, issuer)
    steps_environment = {
        **environment,
        names.ENV_TARGETS_TABLE: TARGETS_TABLE,
        names.ENV_STATE_TABLE: STATE_TABLE,
        names.ENV_TOPIC_ARN: topic.topic_arn,
        names.ENV_PLAN_BUCKET: PLAN_BUCKET,
        names.ENV_ACCOUNT_METRICS: ",".join(m.account for m in org.members),
    }
    board = AlarmBoard(alarms_from_template(org.template))
    cycles = []
    port = {"MOTO_PORT": str(urlsplit(endpoint_url).port)} if endpoint_url else {}
    with set_environment(steps_environment | port):
        wiring.organization.cache_clear()
        with LocalStateMachine(
            client,
            definition_from_template(org.template),
            orchestration.HANDLERS,
            environment=steps_environment,
            substitute=orchestration.substitute,
        ) as machine:
            for offset, (title, action) in enumerate(CHAPTERS):
                if action is not None:
                    action(org)
                seen = len(machine.invocations)
                execution = machine.run(timeout_seconds=120)
                invocations = machine.invocations[seen:]
                report_lines = [line for i in invocations if i.function.endswith("report") for line in i.stdout]
                changes = board.evaluate(parse_emf(report_lines))
                cycle = describe(org, first_cycle + offset, title, execution, invocations, client, changes, board)
                cycle["notifications"] = notices(seed, topic)
                cycles.append(cycle)
                emit(cycle)
        wiring.organization.cache_clear()
    return cycles


def notices(seed: Seeder, topic: Any) -> list[dict[str, Any]]:
    found = []
    for envelope in seed.messages(topic, max_messages=50):
        body = json.loads(envelope.get("Message", "{}"))
        found.append(
            {
                "event": body.get("event"),
                "target_id": body.get("target_id"),
                "provider_url": body.get("provider_url"),
                "root_cause": body.get("root_cause"),
                "severity": body.get("severity"),
                "email_subject": envelope.get("Subject"),
                "text": body.get("text"),
            }
        )
    return found


def describe(
    org: Organization,
    number: int,
    title: str,
    execution: Any,
    invocations: list[Any],
    client: ClientFactory,
    changes: list[tuple[str, str, str]],
    board: AlarmBoard,
) -> dict[str, Any]:
    """What a person sees of one organization cycle: the execution, each account, each target."""
    names_by_account = {m.account: m.name for m in org.members} | {org.monitor: "monitor"}
    accounts: dict[str, Any] = {}
    for invocation in invocations:
        answer = invocation.answer if isinstance(invocation.answer, dict) else {}
        if not invocation.function.endswith("shard"):
            continue
        for account, counts in (answer.get("by_account") or {}).items():
            accounts[account] = {"name": names_by_account.get(account, account), "targets": counts, "failed": None}
        for account, reason in (answer.get("failed_accounts") or {}).items():
            accounts.setdefault(account, {"name": names_by_account.get(account, account), "targets": {}})
            accounts[account]["failed"] = reason
    targets: dict[str, Any] = {}
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=STATE_TABLE)
    for item in (i for page in pages for i in page["Items"]):
        kind, _, subject = item[names.STATE_PK]["S"].partition("#")
        if kind != "target":
            continue
        result = json.loads(item.get("last_result", {}).get("S", "{}"))
        verdict = result.get("verdict") or {}
        targets[subject] = {
            "status": item["status"]["S"],
            "root_cause": result.get("root_cause") or "none",
            "condition_key": verdict.get("condition_key"),
            "expected": verdict.get("expected"),
            "actual": verdict.get("actual"),
            "error": result.get("error"),
        }
    return {
        "cycle": number,
        "title": title,
        "execution": {
            "status": execution.status,
            "steps": [i.function.removeprefix("webid-canary-") for i in invocations],
            "output": execution.output,
        },
        "accounts": dict(sorted(accounts.items(), key=lambda kv: str(kv[1]["name"]))),
        "targets": dict(sorted(targets.items())),
        "alarms": dict(sorted(board.states.items())),
        "alarm_changes": [{"alarm": a, "from": old, "to": new} for a, old, new in changes],
    }
