"""`webid-canary demo`: run the story on the embedded local AWS and show each cycle."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status

from webid_canary import redaction
from webid_canary.cli.output import print_json

DEMO_CLIENT_SECRET = "WEBID_CANARY_DEMO_CLIENT_SECRET"  # noqa: S105 - the name of a variable

STYLE = {"ok": "green", "failing": "bold red", "open": "bold magenta", "error": "yellow", "drift": "bold yellow"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of the whole story instead.")
@click.option("--no-live-probe", is_flag=True, help="Leave out the npm OpenID provider (no Node needed).")
@click.option("--no-rehearsal", is_flag=True, help="Create the stack's resources directly instead of `cdk deploy`.")
@click.option("--debug-logs", is_flag=True, help="Log everything at DEBUG to stderr (redacted, as the shells log).")
@click.option("--no-organization", is_flag=True, help="Leave out the organization's cycles at the end.")
# The live probe's client secret, random unless set (a test then knows what to look for in the logs).
@click.option("--client-secret", envvar=DEMO_CLIENT_SECRET, hidden=True, default=None)
def demo(
    as_json: bool,
    no_live_probe: bool,
    no_rehearsal: bool,
    debug_logs: bool,
    no_organization: bool,
    client_secret: str | None,
) -> None:
    """Break and repair a small fleet, one cycle at a time, through the real Lambda handler."""
    from webid_canary.local.demo import DemoError, run_demo
    from webid_canary.local.npm_provider import unavailable_reason

    if debug_logs:
        debug_to_stderr()

    console = Console(stderr=as_json, highlight=False)
    with_npm = not no_live_probe
    if with_npm and (reason := unavailable_reason()) is not None:
        console.print(f"[yellow]live probe left out: {escape(reason)}[/]")
        with_npm = False
    started = time.monotonic()
    shown = {"email": False}

    # A spinner while a set-up step runs (the stack deployment takes a while), so no step is silent.
    spinner: list[Status] = []

    def stop_spinner() -> None:
        while spinner:
            spinner.pop().stop()

    def step(text: str) -> None:
        stop_spinner()
        console.print(f"[dim]{escape(text)}[/]")
        spinner.append(console.status(escape(text)))
        spinner[0].start()

    def show(cycle: dict[str, Any]) -> None:
        stop_spinner()
        if not as_json:
            render_cycle(console, cycle, shown)

    if not as_json:
        console.print(
            "[bold]webid-canary demo[/]: local AWS (moto + strict STS), OIDC issuers on loopback, "
            "the stack's alarms from the synthesized template. Each cycle runs the real Lambda handler."
        )
    try:
        story = run_demo(
            emit=show,
            with_npm=with_npm,
            rehearsal=not no_rehearsal,
            progress=step,
            debug_logs=debug_logs,
            client_secret=client_secret or None,
            organization=not no_organization,
        )
    except DemoError as exc:
        stop_spinner()
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    stop_spinner()
    if as_json:
        print_json("demo", story)
        return
    cycles = len(story["cycles"]) + len(story["organization"] or [])
    console.print(
        f"\n[bold]{cycles} cycles in {time.monotonic() - started:.0f} s.[/] "
        "Each break was reported once with its root cause; each repair brought a recovery notice."
    )


def debug_to_stderr() -> None:
    """The root logger at DEBUG, to stderr, through the redaction filter (the SDK's loggers stay at WARNING)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    redaction.install(handler)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)


def render_cycle(console: Console, cycle: dict[str, Any], shown: dict[str, bool]) -> None:
    console.print()
    console.rule(f"[bold]Cycle {cycle['cycle']}[/]: {escape(cycle['title'])}", align="left")
    if "execution" in cycle:
        render_execution(console, cycle)
    for target_id, entry in cycle["targets"].items():
        console.print(_line(f"target {target_id}", entry))
        if detail := _detail(entry):
            console.print(f"          [dim]{escape(detail)}[/]")
    for url, entry in cycle.get("providers", {}).items():
        console.print(_line(f"provider {url}", entry))
    for change in cycle["alarm_changes"]:
        colour = "red" if change["to"] == "ALARM" else "green"
        console.print(f"  [bold]alarm[/] {change['alarm']}: {change['from']} -> [{colour}]{change['to']}[/]")
    for note in cycle["notifications"]:
        who = f"target {note['target_id']}" if note["target_id"] else f"provider {note['provider_url']}"
        console.print(f"  [bold]notice[/] {note['event']}: {who} ({note['root_cause']}, {note['severity']})")
    first_failure = next((n for n in cycle["notifications"] if n["event"] == "failing"), None)
    if first_failure is not None and not shown["email"]:
        shown["email"] = True
        console.print(
            Panel(
                escape(first_failure["text"]), title=escape(f"e-mail: {first_failure['email_subject']}"), expand=False
            )
        )


def render_execution(console: Console, cycle: dict[str, Any]) -> None:
    """An organization cycle: the execution, its steps, then each account's counts or why it was not read."""
    execution = cycle["execution"]
    output = execution.get("output") or {}
    steps = ", ".join(f"{step} x{n}" if n > 1 else step for step, n in _counted(execution["steps"]))
    colour = "green" if execution["status"] == "SUCCEEDED" else "bold red"
    console.print(
        f"  [bold]execution[/] [{colour}]{execution['status']}[/]: {escape(steps)}; shards {output.get('shards')}, "
        f"ShardsFailed {output.get('shards_failed')}, heartbeat {'sent' if output.get('heartbeat') else 'not sent'}"
    )
    for account, entry in cycle["accounts"].items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(entry["targets"].items())) or "no targets"
        if entry.get("failed"):
            console.print(f"  [yellow]account[/] {entry['name']} ({account}): [yellow]not read[/]")
            console.print(f"          [dim]{escape(str(entry['failed']))}[/]")
        else:
            console.print(f"  [green]account[/] {entry['name']} ({account}): {escape(counts)}")


def _counted(steps: list[str]) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    for step in steps:
        found[step] = found.get(step, 0) + 1
    return list(found.items())


def _line(subject: str, entry: dict[str, Any]) -> str:
    status = entry["status"]
    cause = "" if entry["root_cause"] == "none" else f"  [bold]{escape(entry['root_cause'])}[/]"
    return f"  [{STYLE.get(status, 'white')}]{status:<8}[/]{escape(subject)}{cause}"


def _detail(entry: dict[str, Any]) -> str:
    if entry.get("error"):
        return str(entry["error"])
    if entry.get("open_to"):
        return "trust policy also accepts: " + "; ".join(entry["open_to"])
    if entry.get("condition_key"):
        return f"{entry['condition_key']}: expected {entry['expected']}, actual {entry['actual']}"
    if entry.get("findings"):
        return ", ".join(entry["findings"])
    return ""
