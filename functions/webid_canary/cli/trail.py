"""`webid-canary trail`: explain the AssumeRoleWithWebIdentity calls CloudTrail logged, one verdict per refusal."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from webid_canary.app.refusals import Facts, GivenFacts, IamFacts, TrailReport, explain_batch
from webid_canary.cli.errors import OneLineCommand, OneLineError, fail
from webid_canary.core.case import check_role_arn, parse_provider
from webid_canary.core.model import InputError
from webid_canary.core.policy import load_json
from webid_canary.core.render import verdict_lines
from webid_canary.core.trail import TrailBatch, TrailFinding, read_log, read_records

EXIT_NOTHING_READ = 2
_SINCE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _decompress(data: bytes) -> str:
    """A file's text; gzipped as CloudTrail writes them, a truncated gzip gives what it holds."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            data = zlib.decompressobj(wbits=31).decompress(data)
    return data.decode("utf-8", errors="replace")


def _read_events(path: str) -> TrailBatch:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail("event", f"cannot read {path}: {exc.strerror or exc}")
    return read_log(_decompress(data))


def _json_file(path: str, field: str) -> object:
    try:
        return load_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        fail(field, f"cannot read {path}: {exc.strerror or exc}")
    except (ValueError, RecursionError) as exc:
        fail(field, f"not JSON ({exc})")


def _since(value: str) -> timedelta:
    match = _SINCE.match(value.strip())
    if match is None:
        fail("since", f"expected a duration such as 90m, 24h or 7d, found {value!r}")
    amount = int(match.group(1))
    if amount <= 0:
        fail("since", "expected a positive duration")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def _lookup(since: timedelta, role_arn: str | None) -> TrailBatch:
    import boto3

    from webid_canary.adapters.cloudtrail import CloudTrailReader
    from webid_canary.app.ports import AwsError

    end = datetime.now(UTC)

    def progress(pages: int, events: int) -> None:
        click.echo(f"lookup: {pages} page(s), {events} event(s) so far", err=True)

    try:
        reader = CloudTrailReader(boto3.client("cloudtrail"), progress=progress)
        texts = list(reader.lookup(start=end - since, end=end, role_arn=role_arn))
    except AwsError as exc:
        fail("aws", str(exc))
    return read_records([{"CloudTrailEvent": text} for text in texts])


def _iam_facts(policy: object) -> Facts:
    import boto3

    from webid_canary.adapters.iam import IamReader

    return IamFacts(IamReader(boto3.client("iam")), trust_policy=policy)  # type: ignore[arg-type]


def _finding_lines(finding: TrailFinding, trace: bool) -> list[str]:
    event = finding.event()
    logged = event["error_code"] or "allowed"
    times = f"{event['first_time']}" + (f" .. {event['last_time']}" if event["count"] != 1 else "")
    head = [
        f"== {event['role_arn']}  {logged} x{event['count']}  {times}",
        f"   sub {event['sub']}  aud {event['aud']}  from {', '.join(event['source_ips']) or '?'}",  # type: ignore[arg-type]
    ]
    return head + ["   " + line for line in verdict_lines(finding.verdict, trace=trace)]


def _render(report: TrailReport, as_json: bool, trace: bool, echo: Callable[[str], None]) -> None:
    if as_json:
        echo(json.dumps([finding.to_json() for finding in report.findings], indent=2))
        return
    for finding in report.findings:
        echo("\n".join(_finding_lines(finding, trace)))
    refused = sum(len(f.requests) for f in report.refusals)
    echo(f"{report.read} record(s) read, {refused} refused in {len(report.refusals)} distinct refusal(s)")


@click.command("trail", cls=OneLineCommand)
@click.option("--event", "event_file", metavar="FILE", help="A record, a JSON list, a trail's file (.json.gz too).")
@click.option("--lookup", is_flag=True, help="Read CloudTrail's event history (LookupEvents) instead of a file.")
@click.option("--since", default="24h", show_default=True, help="With --lookup: how far back (90m, 24h, 7d).")
@click.option("--role-arn", metavar="ARN", help="Only records for this role.")
@click.option("--trust-policy", "policy_file", metavar="FILE", help="The trust policy to judge by (else from IAM).")
@click.option("--provider", "provider_file", metavar="FILE", help="The IAM OIDC provider record (else from IAM).")
@click.option("--refusals-only", is_flag=True, help="Leave out the calls STS allowed.")
@click.option("--trace", is_flag=True, help="Show every check, in order.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of verdicts, each with its `event`.")
def trail(
    event_file: str | None,
    lookup: bool,
    since: str,
    role_arn: str | None,
    policy_file: str | None,
    provider_file: str | None,
    refusals_only: bool,
    trace: bool,
    as_json: bool,
    **_: Any,
) -> None:
    """Explain the AssumeRoleWithWebIdentity calls CloudTrail logged, from what it logged.

    CloudTrail shows aud and sub, not the other claims, exp or the signature: a condition on another claim
    makes the verdict `indeterminate`, and most token-level failures are not logged at all, so the scheduled
    probes stay the first line. Records that cannot be used are counted on stderr with their reason.

    Exit status: 1 when any refusal is found, 2 when nothing usable was read, else 0.
    """
    if (event_file is None) == (not lookup):
        fail("event", "give --event FILE or --lookup (one of them)")
    if role_arn is not None:
        try:
            check_role_arn(role_arn)
        except InputError as exc:
            fail(exc.field, exc.reason)
    batch = _read_events(event_file) if event_file is not None else _lookup(_since(since), role_arn)
    if role_arn is not None:
        batch = TrailBatch(tuple(r for r in batch.requests if r.role_arn == role_arn), batch.skipped)
    policy = _json_file(policy_file, "trust_policy") if policy_file else None
    provider = None
    if provider_file:
        try:
            provider = parse_provider(_json_file(provider_file, "provider"), "provider")
        except InputError as exc:
            fail(exc.field, exc.reason)
    if policy is not None and provider_file:
        facts: Facts = GivenFacts(policy, provider)  # type: ignore[arg-type]
    else:
        facts = _iam_facts(policy)
    report = explain_batch(batch, facts, refusals_only=refusals_only)
    for skip in report.skipped:
        click.echo(f"skipped: {skip.reason}" + (f" (event {skip.event_id})" if skip.event_id else ""), err=True)
    if not report.findings and not (refusals_only and batch.requests):
        raise OneLineError(f"input: no usable AssumeRoleWithWebIdentity record among {report.read} read")
    _render(report, as_json, trace, click.echo)
    raise SystemExit(1 if report.refusals else 0)
