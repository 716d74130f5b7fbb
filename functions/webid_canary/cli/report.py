"""`webid-canary report`: the fleet as one self-contained HTML page, from the State table or a probe file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from webid_canary import names
from webid_canary.cli.errors import OneLineCommand, OneLineError, fail, read_input
from webid_canary.core.fleet import STATUS_ORDER, FleetView, from_cycle, from_state, severity_rank
from webid_canary.core.model import InputError


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


def _from_probe(path: str) -> FleetView:
    from webid_canary.core.policy import load_json

    text = read_input(path, "probe")
    try:
        document = load_json(text)
    except (ValueError, RecursionError) as exc:
        fail("probe", f"not JSON ({exc})")
    return from_cycle(document, source=f"probe file {path}")


def _from_state(table_name: str) -> FleetView:
    import boto3

    from webid_canary.adapters.state_table import StateTable
    from webid_canary.app.ports import StateStoreError

    try:
        records = StateTable(boto3.client("dynamodb"), table_name).load_all()
    except StateStoreError as exc:
        fail("state_table", str(exc))
    except (KeyError, ValueError) as exc:
        fail("state_table", f"{table_name} holds an item that is not a state record ({exc})")
    return from_state(records.values(), now=datetime.now(UTC), source=f"State table {table_name}")


@click.command("report", cls=OneLineCommand)
@click.option("--html", "html_file", required=True, metavar="FILE", help="Write the page here.")
@click.option("--from-probe", metavar="FILE", help="A cycle report from `webid-canary probe --json`.")
@click.option("--state-table", envvar=names.ENV_STATE_TABLE, metavar="NAME", help="The monitor's State table.")
def report(html_file: str, from_probe: str | None, state_table: str | None) -> None:
    """Write the fleet as one HTML page: status and root causes, targets, providers, transitions.

    Reads the State table (--state-table, or WEBID_CANARY_STATE_TABLE) or a probe file (--from-probe).
    Exit status: 0 when the page is written, 2 when the input is unusable.
    """
    try:
        if from_probe:
            view = _from_probe(from_probe)
        elif state_table:
            view = _from_state(state_table)
        else:
            fail("input", "missing: --from-probe FILE or --state-table NAME")
    except InputError as exc:
        raise OneLineError(f"{exc.field}: {exc.reason}") from exc
    try:
        Path(html_file).write_text(render_html(view), encoding="utf-8")
    except OSError as exc:
        fail("html", f"cannot write {html_file}: {exc.strerror or exc}")
    click.echo(f"wrote {html_file}: {len(view.targets)} targets, {len(view.providers)} providers")
