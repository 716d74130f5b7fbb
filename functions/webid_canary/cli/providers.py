"""`webid-canary thumbprint` and `webid-canary drift`: inspect issuers, compare with IAM, render."""

from __future__ import annotations

import json
import sys
from collections import Counter
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
    check_issuer_url,
    inspect_issuer,
)
from webid_canary.app.drift import DriftRules, assess
from webid_canary.cli.errors import OneLineCommand, OneLineError, aws_failure
from webid_canary.cli.options import (
    PROBLEMS,
    allow_private_option,
    ca_file_option,
    checked_ca_file,
    format_option,
    output_format,
    parse_statuses,
)
from webid_canary.cli.output import fitted_console, print_json
from webid_canary.core.catalogue import SEVERITY_ORDER, Severity
from webid_canary.core.drift import (
    DEFAULT_SLOW_SECONDS,
    DriftFinding,
    ProviderBaseline,
    aws_uses_thumbprint,
    provider_report,
    thumbprint_command,
)
from webid_canary.core.inspection import Failure, Fetch, HostFacts, IssuerInspection
from webid_canary.core.state import Status
from webid_canary.wiring import build_reader

COLOURS: Mapping[Severity, str] = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _fail(message: str) -> NoReturn:
    raise OneLineError(message)


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
@allow_private_option
@ca_file_option
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
    ca_file = checked_ca_file(ca_file)
    now = datetime.now(UTC)
    try:
        seen = inspect_issuer(url, allow_private=allow_private, ca_file=ca_file, timeout=timeout, now=now)
    except IssuerUrlError as exc:
        _fail(f"URL: {exc}")
    except CaFileError as exc:
        _fail(f"--ca-file: {exc}")
    document = seen.to_json()
    provider_url = seen.url.removeprefix("https://")
    for host, facts in zip(document["hosts"], seen.hosts, strict=True):
        host["aws_uses_thumbprint"] = aws_uses_thumbprint(provider_url, facts, now) if facts.chain else None
        # A private chain that --ca-file verifies is what was asked for: outside the system store, not an error.
        host["public_trust_error"] = host["error"] if facts.chain and facts.verified_by_ca_file else None
        host["error"] = None if host["public_trust_error"] else host["error"]
    complete = seen.discovery.ok and seen.jwks_ok and all(h.thumbprint for h in seen.hosts)
    # The exit status and the JSON agree: a document that carries an error exits 1.
    complete = complete and not _errors_in(document)
    if as_json:
        print_json("thumbprint", document)
    else:
        _print_thumbprints(seen, now)
    sys.exit(0 if complete else 1)


def _errors_in(value: Any) -> bool:
    """Whether a JSON document carries an error anywhere (an `error` key with a value)."""
    if isinstance(value, Mapping):
        return bool(value.get("error")) or any(_errors_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_errors_in(v) for v in value)
    return False


def _print_thumbprints(seen: IssuerInspection, now: datetime) -> None:
    console = fitted_console()
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


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A spinner with a count of inspected issuers on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
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
        task = progress.add_task("inspect", total=None)
        yield lambda _url: progress.advance(task)


@click.command(cls=OneLineCommand)
@click.option("--issuer", "issuer", default=None, help="Only the provider for this issuer URL.")
@click.option("--all", "all_providers", is_flag=True, help="Every IAM OIDC provider of the account (the default).")
@click.option("--json", "as_json", is_flag=True, help="Print the drift contract's JSON.")
@format_option
@allow_private_option
@ca_file_option
@click.option("--expiry-days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--baseline", "baseline_path", default=None, help="JSON file of baselines, read and then updated.")
@click.option(
    "--accept",
    is_flag=True,
    help="Take what is seen now as the new baseline even where it drifts (after an intended change).",
)
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=5.0, show_default=True, help="Seconds per call.")
@click.option(
    "--slow-seconds",
    type=click.FloatRange(0.01, 60),
    default=DEFAULT_SLOW_SECONDS,
    show_default=True,
    help="Discovery + JWKS time above which jwks_slow is reported.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--show-all", is_flag=True, help="Every provider (on a terminal only problems are listed by default).")
@click.option("--status", metavar="STATUS,...", help="Only providers in these statuses, e.g. drift,error.")
def drift(
    issuer: str | None,
    all_providers: bool,
    as_json: bool,
    output: str | None,
    allow_private: bool,
    ca_file: str | None,
    expiry_days: int,
    baseline_path: str | None,
    accept: bool,
    timeout: float,
    slow_seconds: float,
    concurrency: int,
    show_all: bool,
    status: str | None,
) -> None:
    """Compare IAM OIDC providers with their live issuers and the last baseline.

    The same drift pass as the scheduled monitor: the baseline moves on only while nothing serious differs from
    it, so a drift is reported again on every run until it is put right or accepted with --accept.

    Exit status: 0 with no finding above info, 1 otherwise, 2 when the input is unusable or IAM cannot be read.
    """
    fmt = output_format(as_json, output)
    if issuer is not None and all_providers:
        _fail("usage: give --issuer URL or --all, not both")
    if show_all and status is not None:
        _fail("usage: give --show-all or --status, not both")
    chosen = parse_statuses(status)
    issuer = _issuer_url(issuer, "--issuer") if issuer is not None else None
    ca_file = checked_ca_file(ca_file)
    now = datetime.now(UTC)
    wanted_url = issuer.removeprefix("https://") if issuer is not None else None
    baselines = _read_baselines(baseline_path)
    in_scope = {u: b for u, b in baselines.items() if wanted_url is None or u == wanted_url}
    reader = build_reader(allow_private=allow_private, ca_file=ca_file, timeout=timeout, concurrency=concurrency)
    with _progress() as advance:
        reads = reader.read(now=now, issuers=[issuer] if issuer else [], only_provider=wanted_url, progress=advance)
    if "providers" in reads.errors:
        raise aws_failure(reads.errors["providers"]) from reads.errors["providers"]
    if "providers" in reads.failures:
        _fail(f"aws: {reads.failures['providers']}")
    if issuer is not None:
        seen = reads.inspections.get(f"https://{wanted_url}")
        if seen is not None and seen.discovery.failure is Failure.REFUSED:
            _fail(f"--issuer: {seen.discovery.error}")
    if "roles" in reads.failures:
        click.echo(f"note: {reads.failures['roles']}; provider_unused and provider_missing not checked", err=True)
    rules = DriftRules(expiry_days=expiry_days, slow_seconds=slow_seconds, accept=accept)
    results = [
        r
        for r in assess(reads, in_scope, now, rules, issuers_without_provider=(issuer,) if issuer else ())
        if wanted_url is None or r.url == wanted_url
    ]
    results.sort(key=lambda r: (-SEVERITY_ORDER[r.severity], r.url))

    if baseline_path is not None:
        updated = dict(baselines)
        for result in results:
            if result.baseline is not None:
                updated[result.url] = result.baseline
            elif accept:
                updated.pop(result.url, None)
        _write_baselines(baseline_path, updated)
    reports = [{**provider_report(r.url, r.arn, r.hosts, r.findings), "status": r.status.value} for r in results]
    if fmt == "json":
        print_json("drift", {"providers": reports})
    elif fmt == "ocsf":
        from webid_canary.cli import ocsf

        found = (ocsf.provider_problem(r.to_json(), f"providers[{i}]", now) for i, r in enumerate(results))
        problems = [p for p in found if p is not None]
        click.echo(ocsf.to_json(ocsf.detection_findings(problems, now=now, region=ocsf.current_region())))
    else:
        out = fitted_console()
        if chosen is None and not show_all and out.is_terminal:
            chosen = PROBLEMS
        _print_drift(out, reports, [f for r in results for f in r.findings], chosen)
    sys.exit(1 if any(r.status is not Status.OK for r in results) else 0)


def _print_drift(
    console: Console,
    reports: Sequence[Mapping[str, Any]],
    findings: Sequence[DriftFinding],
    statuses: frozenset[Status] | None,
) -> None:
    from webid_canary.core.catalogue import Kind, entry

    if not reports:
        console.print("no IAM OIDC providers found")
        return
    by_status = Counter(str(r["status"]) for r in reports)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items(), key=lambda s: s[0] == "ok"))
    console.print(f"[bold]webid-canary drift[/]: {len(reports)} providers ({counts})")
    for code, n in Counter(f.code for f in findings if f.serious).most_common():
        console.print(f"  {n:>5}  [bold]{code}[/]: {escape(entry(Kind.DRIFT, code).title)}")
    shown = [r for r in reports if statuses is None or Status(r["status"]) in statuses]
    hidden = len(reports) - len(shown)
    reports = shown
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
                command = thumbprint_command(
                    report["arn"], DriftFinding(finding["code"], severity, finding["evidence"])
                )
                if command is not None:
                    console.print(f"           run: {escape(command)}", soft_wrap=True)
    if hidden:
        console.print(f"\n[dim]{hidden} provider(s) not shown: --show-all shows every one, --status picks statuses[/]")
    serious = sorted({f.severity for f in findings if f.serious}, key=SEVERITY_ORDER.__getitem__, reverse=True)
    console.print()
    console.print(f"{len(findings)} finding(s)" + (f", worst {serious[0].value}" if serious else ", none above info"))
