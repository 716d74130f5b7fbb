"""`webid-canary lint`: risky shapes in trust policies read from a file, a template or plan, or IAM."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any

import click

from webid_canary.cli.errors import OneLineCommand, OneLineError, fail, read_input
from webid_canary.core.catalogue import SEVERITY_ORDER, Kind, Severity, entry
from webid_canary.core.iac import Anchor, FoundPolicy, extract, find, line_at
from webid_canary.core.lint import LintFinding, PlacedFinding, lint, worst_first
from webid_canary.core.model import InputError
from webid_canary.core.policy import parse_trust_policy
from webid_canary.core.render import finding_lines

JSON_SCHEMA = "webid-canary/lint/v1"
STYLES = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "blue", "INFO": "dim"}


def _placed(
    findings: Iterable[LintFinding], artifact: str | None, address: str | None, line: int | None
) -> Iterator[PlacedFinding]:
    return (PlacedFinding(finding, artifact, address, line) for finding in findings)


def _from_trust_policy(path: str) -> tuple[list[PlacedFinding], int]:
    from webid_canary.core.policy import load_json

    text = read_input(path, "trust_policy")
    try:
        document = load_json(text)
    except (ValueError, RecursionError) as exc:
        fail("trust_policy", f"not JSON ({exc})")
    if not isinstance(document, dict):
        fail("trust_policy", "expected a JSON object with a Statement")
    policy = parse_trust_policy(document)
    placed = [
        PlacedFinding(f, path, None, _line_of_key(text, f.evidence.get("key"), 0, None) or 1) for f in lint(policy)
    ]
    return placed, 1


def _line_of_key(text: str, key: object, start: int, end: int | None) -> int | None:
    """The line where a finding's condition key is written, between `start` and `end`; None if it is not."""
    if not isinstance(key, str):
        return None
    offset = find(text, (Anchor(key),), start, end)
    return None if offset is None else line_at(text, offset)


def _from_template(path: str) -> tuple[list[PlacedFinding], int]:
    from webid_canary.cli.documents import parse_document

    text = read_input(path, "template")
    _, policies = extract(parse_document(text, "template"))
    starts = [find(text, policy.anchors) for policy in policies]
    placed: list[PlacedFinding] = []
    for policy, start in zip(policies, starts, strict=True):
        findings = _lint_found(policy)
        if start is None:
            placed += _placed(findings, path, policy.address, None)
            continue
        # A finding's key is looked for within this policy's part of the file: up to where the next one starts.
        end = min((s for s in starts if s is not None and s > start), default=None)
        for finding in findings:
            line = _line_of_key(text, finding.evidence.get("key"), start, end) or line_at(text, start)
            placed.append(PlacedFinding(finding, path, policy.address, line))
    return placed, len(policies)


def _lint_found(policy: FoundPolicy) -> tuple[LintFinding, ...]:
    try:
        return lint(parse_trust_policy(policy.document))
    except InputError as exc:
        fail("template", f"{policy.address}: {exc.reason}")


def _from_iam(role_arn: str | None) -> tuple[list[PlacedFinding], int]:
    import boto3

    from webid_canary.adapters.iam import IamReader
    from webid_canary.app.ports import AwsError
    from webid_canary.core.case import check_role_arn

    if role_arn is not None:
        check_role_arn(role_arn)
    try:
        reader = IamReader(boto3.client("iam"))
        if role_arn is None:
            roles = list(reader.list_roles())
        else:
            role = reader.get_role(role_arn)
            if role is None:
                fail("role_arn", f"no such role: {role_arn}")
            roles = [role]
    except AwsError as exc:
        fail("aws", str(exc))
    except OneLineError:
        raise
    except Exception as exc:  # boto3 set-up (region, profile) fails with many types
        fail("aws", f"{type(exc).__name__}: {exc}")
    placed: list[PlacedFinding] = []
    for role in roles:
        try:
            findings = lint(parse_trust_policy(role.trust_policy_document))
        except InputError as exc:
            fail("trust_policy", f"{role.arn}: {exc.reason}")
        placed += _placed(findings, None, role.arn, None)
    return placed, len(roles)


def _json(findings: Sequence[PlacedFinding], checked: int) -> dict[str, Any]:
    rows = []
    for placed in findings:
        rule = entry(Kind.LINT, placed.finding.code)
        rows.append(
            {
                "code": placed.finding.code,
                "severity": str(placed.finding.severity),
                "title": rule.title,
                "evidence": dict(placed.finding.evidence),
                "remedy": rule.remedy,
                "location": {"file": placed.artifact, "resource": placed.address, "line": placed.line},
            }
        )
    return {"schema": JSON_SCHEMA, "policies_checked": checked, "findings": rows}


def _text(findings: Sequence[PlacedFinding], checked: int) -> list[str]:
    if not findings:
        return [f"no findings ({checked} trust {'policy' if checked == 1 else 'policies'} checked)"]
    lines: list[str] = []
    for (artifact, address, line), group in groupby(findings, key=lambda p: (p.artifact, p.address, p.line)):
        where = ":".join(str(part) for part in (artifact, line) if part is not None)
        heading = " ".join(part for part in (where, address) if part)
        lines += ([heading] if heading else []) + finding_lines(p.finding for p in group)
    return lines


def _echo(lines: list[str]) -> None:
    if not sys.stdout.isatty():
        click.echo("\n".join(lines))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for line in lines:
        style = STYLES.get(line.split(" ", 1)[0])
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))


def _source(
    trust_policy: str | None, template: str | None, role_arn: str | None, every_role: bool
) -> Callable[[], tuple[list[PlacedFinding], int]]:
    """How to read the one input given: a policy file, a template or plan, or IAM."""
    options = (("--trust-policy", trust_policy), ("--template", template), ("--role-arn", role_arn))
    given = [name for name, value in (*options, ("--all", every_role)) if value]
    if len(given) != 1:
        reason = "missing" if not given else f"give one of them, not {' and '.join(given)}"
        fail("input", f"{reason}: --trust-policy FILE, --template FILE, --role-arn ARN or --all")
    if trust_policy:
        return lambda: _from_trust_policy(trust_policy)
    if template:
        return lambda: _from_template(template)
    return lambda: _from_iam(role_arn)


@click.command("lint", cls=OneLineCommand)
@click.option("--trust-policy", metavar="FILE", help="A role's trust policy (JSON).")
@click.option(
    "--template",
    metavar="FILE",
    help="A CloudFormation template (JSON or YAML, `cdk synth` output too) or a Terraform plan (terraform show -json).",
)
@click.option("--role-arn", metavar="ARN", help="A role, read from IAM.")
@click.option("--all", "every_role", is_flag=True, help="Every role of the account, read from IAM.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="text for people, json (schema webid-canary/lint/v1), sarif (SARIF 2.1.0, for code scanning).",
)
def lint_command(
    trust_policy: str | None, template: str | None, role_arn: str | None, every_role: bool, output: str
) -> None:
    """Report risky shapes in trust policies: no sub pin, sub wildcards across repositories, and more.

    Exit status: 0 with no finding above info, 1 otherwise, 2 when the input is unusable.
    """
    read = _source(trust_policy, template, role_arn, every_role)
    try:
        found, checked = read()
    except InputError as exc:
        raise OneLineError(f"{exc.field}: {exc.reason}") from exc
    findings = worst_first(found)
    if output == "json":
        click.echo(json.dumps(_json(findings, checked), indent=2, default=str))
    elif output == "sarif":
        from webid_canary.cli.sarif import sarif_log

        click.echo(json.dumps(sarif_log(findings), indent=2, default=str))
    else:
        _echo(_text(findings, checked))
    worst = max((SEVERITY_ORDER[p.finding.severity] for p in findings), default=0)
    sys.exit(1 if worst > SEVERITY_ORDER[Severity.INFO] else 0)
