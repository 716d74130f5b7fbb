"""`webid-canary cost`: the stack's monthly cost at list prices, beside one Synthetics canary per target."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from webid_canary.cli.output import print_json
from webid_canary.core.model import InputError
from webid_canary.core.pricing import CostEstimate, CostInputs, estimate, load_prices, rate_seconds


class CostInputError(click.ClickException):
    """Unusable input: one line on stderr naming the option, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else "<$0.01"


def _unit_price(usd: float) -> str:
    return "$" + f"{usd:.10f}".rstrip("0").rstrip(".")


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.4g}"


def render_table(result: CostEstimate) -> Table:
    """One row per priced quantity, the stack's total, then the Synthetics comparison."""
    inputs = result.inputs
    accounts = (
        f", organization mode over {inputs.accounts} account{'s' if inputs.accounts != 1 else ''}"
        if inputs.organization
        else ""
    )
    table = Table(
        title=(
            f"webid-canary monthly cost: {inputs.targets} targets, {inputs.providers} providers, "
            f"{inputs.alarmed} alarmed{accounts}, a cycle every {inputs.period_seconds // 60} min"
        ),
        caption=(
            f"{result.region} list prices read on {result.prices_read_on}, before free tier; "
            f"{result.cycles_per_month:,.0f} cycles a month. Synthetics excludes the canaries' own Lambda, "
            "S3 and alarm costs."
        ),
    )
    for column, justify in (("Service", "left"), ("Item", "left"), ("Quantity", "right"), ("Unit", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("Unit price", justify="right")
    table.add_column("Per month", justify="right")
    for line in result.lines:
        table.add_row(
            line.service,
            line.item,
            _quantity(line.quantity),
            line.unit,
            _unit_price(line.unit_usd),
            _money(line.monthly_usd),
        )
    table.add_section()
    table.add_row("[b]webid-canary[/b]", "[b]total[/b]", "", "", "", f"[b]{_money(result.total_usd)}[/b]")
    table.add_section()
    for line in result.canary_lines:
        table.add_row(
            line.service,
            line.item,
            _quantity(line.quantity),
            line.unit,
            _unit_price(line.unit_usd),
            _money(line.monthly_usd),
        )
    table.add_row(
        "[b]Synthetics[/b]", "[b]total, for comparison[/b]", "", "", "", f"[b]{_money(result.canary_total_usd)}[/b]"
    )
    return table


@click.command(name="cost")
@click.option("--targets", type=int, required=True, help="Registered targets.")
@click.option("--providers", type=int, required=True, help="Distinct OIDC providers (issuers).")
@click.option("--alarmed", type=int, default=0, show_default=True, help="Targets with their own alarm.")
@click.option("--schedule", default="rate(5 minutes)", show_default=True, help="EventBridge rate expression.")
@click.option(
    "--accounts",
    type=int,
    default=0,
    show_default=True,
    help="Accounts watched in organization mode (0: the one-account stack).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cost(targets: int, providers: int, alarmed: int, schedule: str, accounts: int, as_json: bool) -> None:
    """Estimate the monthly cost of the stack, beside one CloudWatch Synthetics canary per target.

    With --accounts, the organization mode's: a Step Functions cycle over the accounts, its S3 plan, and no
    per-provider metrics."""
    try:
        inputs = CostInputs(
            targets=targets,
            providers=providers,
            alarmed=alarmed,
            period_seconds=rate_seconds(schedule),
            accounts=accounts,
        )
    except InputError as exc:
        raise CostInputError(str(exc)) from exc
    result = estimate(inputs, load_prices())
    if as_json:
        print_json("cost", result.as_dict())
        return
    Console(width=140).print(render_table(result))
