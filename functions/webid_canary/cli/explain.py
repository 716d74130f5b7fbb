"""`webid-canary explain`: parse the inputs, call the engine, render."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from webid_canary.cli.errors import OneLineCommand, OneLineError, fail, read_input
from webid_canary.core.case import (
    Case,
    build_case,
    check_role_arn,
    parse_caller,
    parse_case,
    parse_instant,
    parse_provider,
)
from webid_canary.core.check import EMPTY_TRUST_POLICY
from webid_canary.core.claims import decode_token
from webid_canary.core.explain import explain as explain_case
from webid_canary.core.model import InputError, Token
from webid_canary.core.policy import load_json, parse_trust_policy
from webid_canary.core.render import verdict_lines
from webid_canary.core.sts import ROLE_MAX_SESSION_DEFAULT

EXIT_INDETERMINATE = 3
# `explain` options that give the caller's facts, by their name in the case file's `caller` object.
CALLER_OPTIONS = (
    "source_ip",
    "source_vpc",
    "source_vpce",
    "vpc_source_ip",
    "user_agent",
    "secure_transport",
    "requested_region",
)


def _json_file(path: str, field: str) -> object:
    text = read_input(path, field)
    try:
        return load_json(text)
    except (ValueError, RecursionError) as exc:
        fail(field, f"not JSON ({exc})")


def _now(value: str | None) -> datetime:
    return parse_instant(value, "now") if value is not None else datetime.now(UTC)


def _account_from(policy_text: str | Mapping[str, object]) -> str:
    try:
        policy = parse_trust_policy(policy_text)
    except InputError:
        return "000000000000"
    for name in policy.federated_principals():
        parts = name.split(":")
        if len(parts) > 5 and parts[0] == "arn" and parts[4]:
            return parts[4]
    return "000000000000"


def _checked_arn(role_arn: str) -> None:
    """Refuse a role ARN of the wrong shape before any AWS call."""
    try:
        check_role_arn(role_arn)
    except InputError as exc:
        fail(exc.field, exc.reason)


def _caller_flags(options: Mapping[str, Any]) -> dict[str, object]:
    """The caller facts given on the command line (explain only)."""
    return {name: options[name] for name in CALLER_OPTIONS if options.get(name) is not None}


def _from_aws(
    role_arn: str,
    token_file: str,
    now: datetime,
    session_name: str | None,
    duration: int | None,
    caller: Mapping[str, object],
) -> Case:
    import boto3

    from webid_canary.adapters.iam import IamReader
    from webid_canary.app.ports import AwsError

    _checked_arn(role_arn)
    token = Token(read_input(token_file, "token_file").strip())
    claims = decode_token(token)
    try:
        reader = IamReader(boto3.client("iam"))
        role = reader.get_role(role_arn)
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else None
        provider = reader.find_provider(claims.iss, account) if claims.iss else None
    except AwsError as exc:
        fail("aws", str(exc))
    except Exception as exc:  # boto3 set-up (region, profile) fails with many types
        fail("aws", f"{type(exc).__name__}: {exc}")
    return build_case(
        role_arn=role_arn,
        trust_policy=role.trust_policy_document if role else EMPTY_TRUST_POLICY,
        provider=provider,
        token=token,
        now=now,
        session_name=session_name,
        duration_seconds=duration,
        role_max_session_duration=role.max_session_duration if role else ROLE_MAX_SESSION_DEFAULT,
        role_exists=role is not None,
        caller=parse_caller(caller or None),
    )


def _load_case(options: Mapping[str, Any]) -> Case:
    now = _now(options["now"])
    caller = _caller_flags(options)
    if options["case_file"]:
        doc = _json_file(options["case_file"], "case")
        if not isinstance(doc, Mapping):
            fail("case", "expected a JSON object")
        if caller:
            given = doc.get("caller")
            doc = {**doc, "caller": {**given, **caller} if isinstance(given, Mapping) else caller}
        return parse_case(doc, default_now=now)
    if options["token_file"] or (options["role_arn"] and not options["trust_policy"]):
        if not (options["role_arn"] and options["token_file"]):
            fail("role_arn", "--role-arn and --token-file go together")
        return _from_aws(
            options["role_arn"], options["token_file"], now, options["session_name"], options["duration"], caller
        )
    if not options["trust_policy"]:
        fail("trust_policy", "missing: give --case FILE, --trust-policy FILE or --role-arn ARN --token-file FILE")
    policy_doc = _json_file(options["trust_policy"], "trust_policy")
    if not isinstance(policy_doc, Mapping):
        fail("trust_policy", "expected a JSON object with a Statement")
    claims: Mapping[str, object] | None = None
    token = None
    if options["claims"]:
        loaded = _json_file(options["claims"], "token_claims")
        if not isinstance(loaded, Mapping):
            fail("token_claims", "expected a JSON object")
        claims = loaded
    elif options["token"]:
        token = Token(read_input(options["token"], "token").strip())
    else:
        fail("token_claims", "missing: give --claims FILE or --token FILE")
    provider = parse_provider(_json_file(options["provider"], "oidc_provider")) if options["provider"] else None
    role_arn = options["role_arn"] or f"arn:aws:iam::{_account_from(policy_doc)}:{UNNAMED_ROLE}"
    return build_case(
        role_arn=role_arn,
        trust_policy=policy_doc,
        provider=provider,
        claims=claims,
        token=token,
        now=now,
        session_name=options["session_name"],
        duration_seconds=options["duration"],
        role_max_session_duration=options["max_duration"],
        caller=parse_caller(caller or None),
    )


# The role ARN and the IAM provider decide the answer; when a command line leaves them out they are named as
# missing, not made up (the engine needs some role ARN: it gets one marked as a placeholder).
UNNAMED_ROLE = "role/NOT-GIVEN"
MISSING_WORDS: Mapping[str, str] = {
    "role_arn": "--role-arn not given: the role's account was taken from the trust policy's provider ARN",
    "oidc_provider": "--provider not given: the engine saw no IAM OIDC provider for the token's issuer",
}
# Root causes that only say the provider was not given, when it was not.
PROVIDER_CAUSES = frozenset({"provider_not_found"})


def _missing(options: Mapping[str, Any], role_arn: str) -> list[str]:
    if options["case_file"] or options["token_file"]:
        return []
    found = ["role_arn"] if role_arn.endswith(UNNAMED_ROLE) else []
    return found + ([] if options["provider"] else ["oidc_provider"])


def _unnamed[T](value: T, role_arn: str) -> T:
    """Text or JSON with the placeholder role ARN said as what it is: the role, not a made-up name."""
    if not role_arn.endswith(UNNAMED_ROLE):
        return value
    if isinstance(value, str):
        return value.replace(role_arn, "the role (no --role-arn given)")  # type: ignore[return-value]
    return json.loads(json.dumps(value).replace(role_arn, "the role (no --role-arn given)"))  # type: ignore[no-any-return]


def _inputs(command: Callable[..., None]) -> Callable[..., None]:
    options: Sequence[Callable[[Callable[..., None]], Callable[..., None]]] = (
        click.option(
            "--case",
            "case_file",
            metavar="FILE",
            help="A case file: role_arn, trust_policy, oidc_provider, token_claims or token, now, request.",
        ),
        click.option("--trust-policy", metavar="FILE", help="The role's trust policy (JSON)."),
        click.option("--claims", metavar="FILE", help="The token's decoded claims (JSON)."),
        click.option("--token", metavar="FILE", help="A raw JWT (decoded without verification)."),
        click.option("--provider", metavar="FILE", help="The IAM OIDC provider: {url, client_ids, thumbprints}."),
        click.option("--role-arn", metavar="ARN", help="The role; with --token-file, read from AWS."),
        click.option("--token-file", metavar="FILE", help="A raw JWT; the role and provider come from AWS."),
        click.option("--now", metavar="T", help="ISO-8601 instant of the request (default: now)."),
        click.option("--session-name", metavar="N", help="RoleSessionName."),
        click.option("--duration", type=int, metavar="S", help="DurationSeconds."),
        click.option(
            "--max-duration",
            type=int,
            default=ROLE_MAX_SESSION_DEFAULT,
            metavar="S",
            help="The role's MaxSessionDuration.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _echo_lines(lines: list[str], style: Callable[[str], str | None]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        for line in lines:
            chosen = style(line)
            console.print(f"[{chosen}]{escape(line)}[/]" if chosen else escape(line))
    else:
        click.echo("\n".join(lines))


def _verdict_style(line: str) -> str | None:
    for start, chosen in (
        ("ALLOW", "bold green"),
        ("DENY", "bold red"),
        ("UNKNOWN", "bold yellow"),
        ("hint", "yellow"),
        ("fix", "cyan"),
        ("key", "bold"),
        ("  expected", "green"),
        ("  actual", "red"),
    ):
        if line.startswith(start):
            return chosen
    return "dim" if line.startswith("  ") else None


def _guard(run: Callable[[], int]) -> None:
    try:
        code = run()
    except InputError as exc:
        raise OneLineError(f"{exc.field}: {exc.reason}") from exc
    sys.exit(code)


@click.command("explain", cls=OneLineCommand)
@_inputs
@click.option("--trace", is_flag=True, help="Show every check STS makes, in order.")
@click.option("--source-ip", metavar="ADDR", help="The caller's IP address (aws:SourceIp); one address.")
@click.option("--source-vpc", metavar="ID", help="The VPC the request came through (aws:SourceVpc).")
@click.option("--source-vpce", metavar="ID", help="The VPC endpoint the request came through (aws:SourceVpce).")
@click.option("--vpc-source-ip", metavar="ADDR", help="The caller's address inside the VPC (aws:VpcSourceIp).")
@click.option("--user-agent", metavar="UA", help="The caller's User-Agent (aws:UserAgent).")
@click.option(
    "--secure-transport/--insecure-transport",
    default=None,
    help="Whether the request is sent over TLS (aws:SecureTransport).",
)
@click.option("--requested-region", metavar="REGION", help="The Region of the STS endpoint (aws:RequestedRegion).")
def explain(trace: bool, as_json: bool, **options: Any) -> None:
    """Predict what STS answers to one AssumeRoleWithWebIdentity request, and why.

    Caller facts (--source-ip and the like) decide caller-side keys such as aws:SourceIp; without them a
    policy that tests such a key gives the answer `indeterminate`.

    Exit status: 0 when STS would allow, 1 when it would deny, 2 when the input is unusable, 3 when the
    answer is indeterminate (it depends on keys whose values were not given).
    """

    def run() -> int:
        case = _load_case(options)
        verdict = explain_case(case)
        missing = _missing(options, case.role_arn)
        # A denial that only says what was not given (no IAM provider, when none was given) is no answer.
        undecided = "oidc_provider" in missing and verdict.root_cause in PROVIDER_CAUSES
        if as_json:
            document = {**verdict.to_json(), "missing": missing}
            click.echo(json.dumps(_unnamed(document, case.role_arn), indent=2))
        else:
            lines = [_unnamed(line, case.role_arn) for line in verdict_lines(verdict, trace=trace)]
            lines += [f"missing {MISSING_WORDS[name]}" for name in missing]
            _echo_lines(lines, _verdict_style)
        if verdict.indeterminate or undecided:
            return EXIT_INDETERMINATE
        return 0 if verdict.allowed else 1

    _guard(run)
