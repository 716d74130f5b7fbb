"""`webid-canary report`: the fleet as one self-contained HTML page, from the State table or a probe file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from webid_canary import names
from webid_canary.cli.errors import OneLineCommand, OneLineError, fail, read_input
from webid_canary.core.fleet import STATUS_ORDER, FleetView, from_cycle, from_state, severity_rank
from webid_canary.core.model import InputError
from webid_canary.core.state import StateRecord


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_html(view: FleetView) -> str:
    """The page: summary, targets, providers and transitions; inline CSS and script, nothing fetched."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("webid_canary.cli", "templates"), autoescape=True, undefined=StrictUndefined
    )
    environment.filters["instant"] = _instant
    template = environment.get_template("report.html.j2")
    return template.render(view=view, status_rank=STATUS_ORDER, severity_rank=severity_rank)


def _read_probe(path: str, field: str = "probe") -> dict[str, object]:
    from webid_canary.core.policy import load_json

    text = read_input(path, field)
    try:
        document = load_json(text)
    except (ValueError, RecursionError) as exc:
        fail(field, f"not JSON ({exc})")
    if not isinstance(document, dict):
        fail(field, "expected a cycle report (webid-canary probe --json)")
    return document


def _read_state(table_name: str) -> list[StateRecord]:
    import boto3

    from webid_canary.adapters.state_table import StateTable
    from webid_canary.app.ports import StateStoreError

    try:
        records = StateTable(boto3.client("dynamodb"), table_name).load_all()
    except StateStoreError as exc:
        fail("state_table", str(exc))
    except (KeyError, ValueError) as exc:
        fail("state_table", f"{table_name} holds an item that is not a state record ({exc})")
    return list(records.values())


def _write(path: str, text: str, field: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(field, f"cannot write {path}: {exc.strerror or exc}")


@click.command("report", cls=OneLineCommand)
@click.option("--html", "html_file", metavar="FILE", help="Write the page here.")
@click.option(
    "--ocsf",
    "ocsf_file",
    metavar="FILE",
    help="Write the problems here as OCSF Detection Findings (a JSON array, docs/ocsf.md).",
)
@click.option("--from-probe", metavar="FILE", help="A cycle report from `webid-canary probe --json`.")
@click.option("--state-table", envvar=names.ENV_STATE_TABLE, metavar="NAME", help="The monitor's State table.")
@click.option(
    "--previous",
    metavar="FILE",
    help="An earlier cycle report: its problems that no longer hold are written to --ocsf as Resolved.",
)
def report(
    html_file: str | None,
    ocsf_file: str | None,
    from_probe: str | None,
    state_table: str | None,
    previous: str | None,
) -> None:
    """Write the fleet as one HTML page (status and root causes, targets, providers, transitions), or its
    problems as OCSF findings, or both.

    Reads the State table (--state-table, or WEBID_CANARY_STATE_TABLE) or a probe file (--from-probe).
    Exit status: 0 when the files are written, 2 when the input is unusable.
    """
    if not html_file and not ocsf_file:
        fail("output", "missing: --html FILE or --ocsf FILE")
    if previous and not ocsf_file:
        fail("previous", "only with --ocsf FILE (it resolves the findings of an earlier cycle)")
    now = datetime.now(UTC)
    try:
        if from_probe:
            document = _read_probe(from_probe)
            view = from_cycle(document, source=f"probe file {from_probe}")
        elif state_table:
            records = _read_state(state_table)
            view = from_state(records, now=now, source=f"State table {state_table}")
        else:
            fail("input", "missing: --from-probe FILE or --state-table NAME")
        if ocsf_file:
            from webid_canary.cli import ocsf

            problems = ocsf.cycle_problems(document, view.as_of) if from_probe else ocsf.state_problems(records, now)
            if previous:
                earlier = _read_probe(previous, "previous")
                try:
                    from_cycle(earlier, source=previous)
                    before = ocsf.cycle_problems(earlier, view.as_of)
                except InputError as exc:
                    raise InputError("previous", exc.reason) from exc
                problems += ocsf.resolved_since(before, problems)
            findings = ocsf.detection_findings(problems, now=view.as_of, region=ocsf.current_region())
    except InputError as exc:
        raise OneLineError(f"{exc.field}: {exc.reason}") from exc
    if html_file:
        _write(html_file, render_html(view), "html")
        click.echo(f"wrote {html_file}: {len(view.targets)} targets, {len(view.providers)} providers")
    if ocsf_file:
        _write(ocsf_file, ocsf.to_json(findings) + "\n", "ocsf")
        resolved = sum(1 for f in findings if f.status == "Resolved")
        click.echo(f"wrote {ocsf_file}: {len(findings)} OCSF findings ({resolved} resolved)")
