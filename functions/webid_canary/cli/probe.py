"""`webid-canary probe`: the monitor's cycle, run from a laptop, printed instead of reported."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from webid_canary.app.cycle import Cycle
from webid_canary.cli.errors import OneLineCommand, OneLineError, aws_errors
from webid_canary.cli.options import (
    PROBLEMS,
    allow_private_option,
    ca_file_option,
    checked_ca_file,
    format_option,
    output_format,
    parse_statuses,
    table_name,
    targets_table_option,
)
from webid_canary.cli.output import fitted_console, print_block, print_json
from webid_canary.core.fleet import from_cycle
from webid_canary.core.report import CycleReport
from webid_canary.core.state import Status
from webid_canary.settings import Settings

STYLE = {"ok": "green", "failing": "red", "open": "magenta", "error": "yellow", "drift": "yellow"}
# A cause with more distinct details than this is summarised by its count alone.
MAX_REASONS = 3


@click.command(cls=OneLineCommand)
@click.argument("target_ids", nargs=-1)
@click.option("--all", "all_targets", is_flag=True, help="Every enabled target (the default when no ID is given).")
@click.option("--json", "as_json", is_flag=True, help="Print the cycle report as JSON.")
@format_option
@targets_table_option
@allow_private_option
@ca_file_option
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--show-all", is_flag=True, help="Every row (on a terminal only problems are listed by default).")
@click.option("--status", metavar="STATUS,...", help="Only rows in these statuses, e.g. failing,error.")
def probe(
    target_ids: tuple[str, ...],
    all_targets: bool,
    as_json: bool,
    output: str | None,
    targets_table: str | None,
    allow_private: bool,
    ca_file: str | None,
    concurrency: int,
    show_all: bool,
    status: str | None,
) -> None:
    """Check targets now, the way the scheduled monitor does, without touching its state or notifying."""
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.wiring import build_cycle

    fmt = output_format(as_json, output)
    if all_targets and target_ids:
        raise OneLineError("usage: give target IDs or --all, not both")
    if show_all and status is not None:
        raise OneLineError("usage: give --show-all or --status, not both")
    parse_statuses(status)
    table_in_use = table_name(targets_table)
    settings = Settings(
        targets_table=table_in_use,
        state_table="-",
        topic_arn=None,
        concurrency=concurrency,
        allow_private_issuers=allow_private,
        ca_file=checked_ca_file(ca_file),
    )
    cycle = build_cycle(settings)
    err = Console(stderr=True)
    # Exit 1 means the probe found a problem; anything that keeps it from telling is 2.
    with aws_errors():
        table = cycle.targets
        registered = table.existing(target_ids) if target_ids and isinstance(table, TargetsTable) else set(target_ids)
        unknown = sorted(set(target_ids) - registered)
        if unknown:
            raise OneLineError(f"target_id: not registered in {table_in_use}: {', '.join(unknown)}")
        report = run(cycle, err, target_ids, show_progress=err.is_terminal and fmt == "text")
    if fmt == "json":
        print_json("probe", report.to_json())
    elif fmt == "ocsf":
        from webid_canary.cli import ocsf

        problems = ocsf.cycle_problems(report.to_json(), report.finished)
        findings = ocsf.detection_findings(problems, now=report.finished, region=ocsf.current_region())
        click.echo(ocsf.to_json(findings))
    else:
        out = fitted_console()
        chosen = parse_statuses(status) if status is not None else None
        if chosen is None and not show_all and out.is_terminal:
            chosen = PROBLEMS
        render(report, out, chosen)
    bad = report.count(Status.FAILING) + report.count(Status.OPEN) + report.count(Status.ERROR)
    bad += sum(1 for p in report.providers if p.status is not Status.OK)
    sys.exit(1 if bad or report.notes else 0)


def run(cycle: Cycle, err: Console, target_ids: tuple[str, ...], *, show_progress: bool) -> CycleReport:
    now = datetime.now(UTC)
    if show_progress:
        with Progress(
            TextColumn("[bold]probing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=err,
        ) as bar:
            task = bar.add_task("", total=None)

            def advance(target_id: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=target_id)

            return cycle.run(now, only=target_ids, progress=advance)
    return cycle.run(now, only=target_ids)


def render(report: CycleReport, out: Console, statuses: frozenset[Status] | None) -> None:
    """The summary by status and root cause first, then the rows asked for (None: every row), worst first."""
    view = from_cycle(report.to_json(), source="probe")
    counts = ", ".join(f"[{STYLE[c.key]}]{c.count} {c.key}[/]" for c in view.by_status)
    out.print(f"[bold]webid-canary probe[/]: {len(view.targets)} targets ({counts}), {len(view.providers)} providers")
    for cause in view.by_root_cause:
        details = Counter(row.detail for row in view.targets if row.root_cause == cause.key)
        out.print(f"  {cause.count:>5}  [bold]{escape(cause.key)}[/]: {escape(cause.title)}")
        if len(details) <= MAX_REASONS:
            for detail, count in details.most_common():
                if detail:
                    out.print(f"         {count:>5} x {escape(detail)}")
    shown = [row for row in view.targets if statuses is None or row.status in statuses]
    if shown:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("target", "status", "root cause"):
            table.add_column(column, no_wrap=True)
        table.add_column("detail", overflow="fold")
        for row in shown:
            status = row.status.value
            cells = (escape(row.target_id), f"[{STYLE[status]}]{status}[/]", row.root_cause or "", escape(row.detail))
            table.add_row(*cells)
        out.print()
        print_block(out, table)
    hidden = len(view.targets) - len(shown)
    if hidden:
        out.print(f"[dim]{hidden} target(s) not shown: --show-all shows every row, --status picks statuses[/]")
    for provider in report.providers:
        if provider.status is not Status.OK:
            codes = ", ".join(sorted({f.code for f in provider.serious}))
            out.print(f"[yellow]provider {escape(provider.url)}: {provider.status.value} ({codes})[/]")
    for note in report.notes:
        out.print(f"[yellow]{escape(note)}[/]")
    if report.skipped:
        out.print(f"[yellow]deadline reached: {len(report.skipped)} targets not checked[/]")
