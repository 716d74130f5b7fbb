"""`webid-canary thumbprint` and `webid-canary drift`: inspect issuers, compare with IAM, render."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from webid_canary.adapters.issuer import (
    CaFileError,
    IssuerUrlError,
    check_ca_file,
    check_issuer_url,
    inspect_issuer,
    inspect_issuers,
)
from webid_canary.cli.errors import OneLineCommand, OneLineError
from webid_canary.core.catalogue import SEVERITY_ORDER, Severity
from webid_canary.core.drift import (
    DEFAULT_SLOW_SECONDS,
    DriftFinding,
    ProviderBaseline,
    aws_uses_thumbprint,
    baseline_from,
    check_drift,
    federated_principals,
    missing_providers,
    provider_report,
    provider_url_of,
    trusting_roles,
)
from webid_canary.core.inspection import Failure, Fetch, HostFacts, IssuerInspection
from webid_canary.core.model import ProviderRecord

COLOURS: Mapping[Severity, str] = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _fail(message: str) -> NoReturn:
    raise OneLineError(message)


def _ca_file(path: str | None) -> str | None:
    """The --ca-file path once it is known to hold PEM certificates; else one line naming the file and why."""
    if path is None:
        return None
    try:
        check_ca_file(path)
    except CaFileError as exc:
        _fail(f"--ca-file: {exc}")
    return path


def _issuer_url(url: str, argument: str) -> str:
    """The issuer URL once it is an https://host[:port][/path] URL; else one line naming the argument and why."""
    try:
        check_issuer_url(url)
    except IssuerUrlError as exc:
        _fail(f"{argument}: {exc}")
    return url


def _trust(host: HostFacts) -> str:
    if host.trusted_root_ca:
        return "public root CA"
    if host.verified_by_ca_file:
        return "CA file only (not a public root)"
    if host.chain:
        return "not verified"
    return "unknown"


def _fetch_line(name: str, fetch: Fetch | None) -> str:
    if fetch is None:
        return f"{name}: not fetched"
    if fetch.ok:
        return f"{name}: {fetch.url} HTTP {fetch.status} in {fetch.seconds or 0:.3f} s"
    return f"{name}: {fetch.url}: {fetch.error}"


# ----- thumbprint


@click.command(cls=OneLineCommand)
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--allow-private", is_flag=True, help="Allow loopback, private and link-local addresses.")
@click.option("--ca-file", type=str, default=None, help="PEM roots for a private issuer (not public roots).")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=5.0,
    show_default=True,
    help="Seconds per request, all reads included; the whole inspection gets three times that.",
)
def thumbprint(url: str, as_json: bool, allow_private: bool, ca_file: str | None, timeout: float) -> None:
    """Show each issuer host's certificate chain, AWS thumbprint, and whether AWS would use it.

    Exit status: 0 when discovery, JWKS and every host's chain were read, 1 when something failed (said on
    the output), 2 when the URL or an option is unusable.
    """
    url = _issuer_url(url, "URL")
    ca_file = _ca_file(ca_file)
    now = datetime.now(UTC)
    try:
        seen = inspect_issuer(url, allow_private=allow_private, ca_file=ca_file, timeout=timeout, now=now)
    except IssuerUrlError as exc:
        _fail(f"URL: {exc}")
    except CaFileError as exc:
        _fail(f"--ca-file: {exc}")
    complete = seen.discovery.ok and seen.jwks_ok and all(h.thumbprint for h in seen.hosts)
    if as_json:
        document = seen.to_json()
        provider_url = seen.url.removeprefix("https://")
        for host, facts in zip(document["hosts"], seen.hosts, strict=True):
            host["aws_uses_thumbprint"] = aws_uses_thumbprint(provider_url, facts, now) if facts.chain else None
        click.echo(json.dumps(document, indent=2))
    else:
        _print_thumbprints(seen, now)
    sys.exit(0 if complete else 1)


def _print_thumbprints(seen: IssuerInspection, now: datetime) -> None:
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]{escape(seen.url)}[/]")
    for host in seen.hosts:
        console.print()
        console.print(f"[bold]{escape(host.host)}[/] ({host.role.value})")
        if not host.chain:
            console.print(f"  [red]no certificate: {escape(host.error or 'not reached')}[/]")
            continue
        used = aws_uses_thumbprint(seen.url.removeprefix("https://"), host, now)
        console.print(f"  thumbprint  [bold green]{host.thumbprint}[/]")
        console.print(f"  trust       {_trust(host)}")
        console.print(
            "  AWS         "
            + (
                "checks this thumbprint against the provider's list"
                if used
                else "verifies the chain; the list is not used"
            )
        )
        console.print("  chain as presented (the last one is fingerprinted):")
        for index, cert in enumerate(host.chain):
            console.print(f"    {index}. {escape(cert.subject)}")
            console.print(f"       issuer {escape(cert.issuer)}")
            console.print(f"       expires {cert.not_after.isoformat()}  sha1 {cert.thumbprint}")
    console.print()
    console.print(escape(_fetch_line("discovery", seen.discovery)))
    console.print(escape(_fetch_line("jwks", seen.jwks)))


# ----- drift


def _read_baselines(path: str | None) -> dict[str, ProviderBaseline]:
    if path is None or not Path(path).exists():
        return {}
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _fail(f"--baseline: cannot read {path}: {exc}")
    entries = raw.get("providers") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        _fail(f'--baseline: {path} has no "providers" object')
    try:
        return {str(url): ProviderBaseline.from_json(entry) for url, entry in entries.items()}
    except (ValueError, AttributeError) as exc:
        _fail(f"--baseline: {path}: {exc}")


def _write_baselines(path: str, baselines: Mapping[str, ProviderBaseline]) -> None:
    document = {"providers": {url: b.to_json() for url, b in sorted(baselines.items())}}
    try:
        Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(f"--baseline: cannot write {path}: {exc.strerror or exc}")


def _read_account() -> tuple[list[ProviderRecord], dict[str, tuple[str, ...]]]:
    """Providers and, per role, the OIDC providers its trust policy names; AWS failures are one line."""
    import boto3
    from botocore.exceptions import BotoCoreError

    from webid_canary.adapters.iam import AwsError, IamReader

    try:
        reader = IamReader(boto3.client("iam"))
        providers = reader.list_providers()
        trusts = {role.arn: federated_principals(role.trust_policy_document) for role in reader.list_roles()}
    except (AwsError, BotoCoreError) as exc:
        _fail(f"IAM: {exc}")
    return providers, trusts


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr when it is a terminal; otherwise nothing."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda _url: None
        return
    with Progress(
        TextColumn("inspecting issuers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("inspect", total=total)
        yield lambda _url: progress.advance(task)


def _refused(url: str, error: IssuerUrlError, now: datetime) -> IssuerInspection:
    discovery = Fetch(url=url, failure=Failure.REFUSED, error=error.reason)
    return IssuerInspection(url=url, inspected_at=now, discovery=discovery)


@click.command(cls=OneLineCommand)
@click.option("--issuer", "issuer", default=None, help="Only the provider for this issuer URL.")
@click.option("--all", "all_providers", is_flag=True, help="Every IAM OIDC provider of the account (the default).")
@click.option("--json", "as_json", is_flag=True, help="Print the drift contract's JSON.")
@click.option("--allow-private", is_flag=True, help="Allow loopback, private and link-local addresses.")
@click.option("--ca-file", type=str, default=None, help="PEM roots for private issuers (not public roots).")
@click.option("--expiry-days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--baseline", "baseline_path", default=None, help="JSON file of baselines, read and then updated.")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=5.0, show_default=True, help="Seconds per call.")
@click.option(
    "--slow-seconds",
    type=click.FloatRange(0.01, 60),
    default=DEFAULT_SLOW_SECONDS,
    show_default=True,
    help="Discovery + JWKS time above which jwks_slow is reported.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True)
def drift(
    issuer: str | None,
    all_providers: bool,
    as_json: bool,
    allow_private: bool,
    ca_file: str | None,
    expiry_days: int,
    baseline_path: str | None,
    timeout: float,
    slow_seconds: float,
    concurrency: int,
) -> None:
    """Compare IAM OIDC providers with their live issuers and the last baseline.

    Exit status: 0 with no finding above info, 1 otherwise, 2 when the input is unusable or IAM cannot be read.
    """
    if issuer is not None and all_providers:
        _fail("usage: give --issuer URL or --all, not both")
    issuer = _issuer_url(issuer, "--issuer") if issuer is not None else None
    ca_file = _ca_file(ca_file)
    now = datetime.now(UTC)
    wanted_url = issuer.removeprefix("https://") if issuer is not None else None
    baselines = _read_baselines(baseline_path)
    providers, trusts = _read_account()
    if wanted_url is not None:
        providers = [p for p in providers if p.url == wanted_url]
        trusts = {r: tuple(a for a in arns if provider_url_of(a) == wanted_url) for r, arns in trusts.items()}
        baselines_in_scope = {u: b for u, b in baselines.items() if u == wanted_url}
    else:
        baselines_in_scope = baselines
    urls = ["https://" + p.url for p in providers] or ([issuer] if issuer is not None else [])
    with _progress(len(urls)) as advance:
        try:
            results = inspect_issuers(
                urls,
                allow_private=allow_private,
                ca_file=ca_file,
                timeout=timeout,
                now=now,
                concurrency=concurrency,
                on_done=advance,
            )
        except CaFileError as exc:
            _fail(f"--ca-file: {exc}")
    if issuer is not None and isinstance(results.get(urls[0]), IssuerUrlError):
        _fail(f"--issuer: {results[urls[0]]}")
    inspections = {
        url: result if isinstance(result, IssuerInspection) else _refused(url, result, now)
        for url, result in results.items()
    }

    reports: list[dict[str, Any]] = []
    findings_all: list[DriftFinding] = []
    updated = dict(baselines)
    for provider in sorted(providers, key=lambda p: p.url):
        seen = inspections["https://" + provider.url]
        previous = baselines_in_scope.get(provider.url)
        findings = check_drift(
            provider,
            seen,
            previous,
            now=now,
            expiry_days=expiry_days,
            trusted_by_roles=bool(trusting_roles(provider, trusts)),
            slow_seconds=slow_seconds,
        )
        findings_all += findings
        reports.append(provider_report(provider.url, provider.arn, seen.hosts, findings))
        following = baseline_from(provider, seen, previous, now=now)
        if following is not None:
            updated[provider.url] = following
    if issuer is not None and not providers:
        seen = inspections[urls[0]]
        findings = check_drift(None, seen, baselines_in_scope.get(wanted_url or ""), now=now, expiry_days=expiry_days)
        findings_all += findings
        reports.append(provider_report(wanted_url or "", None, seen.hosts, findings))
    else:
        present = {p.url for p in providers}
        for url, previous in sorted(baselines_in_scope.items()):
            if url not in present:
                (gone,) = check_drift(None, None, previous, now=now)
                findings_all.append(gone)
                reports.append(provider_report(url, previous.arn, (), [gone]))
    for missing in missing_providers(providers, trusts):
        findings_all.append(missing)
        reports.append(provider_report(missing.evidence["url"], missing.evidence["arn"], (), [missing]))

    if baseline_path is not None:
        _write_baselines(baseline_path, updated)
    if as_json:
        click.echo(json.dumps({"providers": reports}, indent=2))
    else:
        _print_drift(reports, findings_all)
    sys.exit(1 if any(f.serious for f in findings_all) else 0)


def _print_drift(reports: Sequence[Mapping[str, Any]], findings: Sequence[DriftFinding]) -> None:
    from webid_canary.core.catalogue import Kind, entry

    console = Console(highlight=False, soft_wrap=True)
    if not reports:
        console.print("no IAM OIDC providers found")
        return
    for report in reports:
        console.print()
        console.print(f"[bold]{escape(report['url'])}[/]  {escape(report['arn'] or '(no IAM provider)')}")
        for host in report["hosts"]:
            trust = "public root" if host["trusted_root_ca"] else "no public root"
            console.print(f"  {escape(host['host'])} ({host['role']}): {host['thumbprint'] or '-'}  {trust}")
        if not report["findings"]:
            console.print("  [green]no drift[/]")
        for finding in report["findings"]:
            severity = Severity(finding["severity"])
            catalogued = entry(Kind.DRIFT, finding["code"])
            console.print(
                f"  [{COLOURS[severity]}]{severity.value:<8}[/] {finding['code']}: {escape(catalogued.title)}"
            )
            evidence = ", ".join(f"{k}={v}" for k, v in finding["evidence"].items() if v not in (None, [], ""))
            if evidence:
                console.print(f"           [dim]{escape(evidence)}[/]")
            if severity is not Severity.INFO:
                console.print(f"           fix: {escape(catalogued.remedy)}")
    serious = sorted({f.severity for f in findings if f.serious}, key=SEVERITY_ORDER.__getitem__, reverse=True)
    console.print()
    console.print(f"{len(findings)} finding(s)" + (f", worst {serious[0].value}" if serious else ", none above info"))
