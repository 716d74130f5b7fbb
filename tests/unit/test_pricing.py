"""The cost estimate: arithmetic a person can check on the back of an envelope, and the dated price table."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner

from webid_canary.cli.cost import cost
from webid_canary.core.model import InputError
from webid_canary.core.pricing import (
    CostEstimate,
    CostInputs,
    PriceTableError,
    estimate,
    load_prices,
    parse_prices,
    rate_seconds,
)

FIVE_MINUTES = 300


def run(targets: int, providers: int, alarmed: int = 0, period: int = FIVE_MINUTES) -> CostEstimate:
    return estimate(CostInputs(targets, providers, alarmed, period), load_prices())


def line_usd(result: CostEstimate, service: str, item_start: str) -> float:
    (line,) = [x for x in result.lines if x.service == service and x.item.startswith(item_start)]
    return line.monthly_usd


def test_a_month_of_five_minute_cycles_is_8760_cycles() -> None:
    assert run(1, 1).cycles_per_month == 730 * 12 == 8760


def test_one_more_alarmed_target_adds_one_alarm_and_one_metric_forty_cents() -> None:
    without, with_one = run(10, 2, alarmed=0), run(10, 2, alarmed=1)
    assert line_usd(with_one, "CloudWatch", "alarms") - line_usd(without, "CloudWatch", "alarms") == pytest.approx(0.10)
    assert with_one.total_usd - without.total_usd == pytest.approx(0.10 + 0.30)


def test_eight_fleet_alarms_cost_eighty_cents() -> None:
    assert line_usd(run(50, 5), "CloudWatch", "alarms") == pytest.approx(0.80)


def test_fixed_lines_dashboard_three_dollars_topic_key_one_dollar() -> None:
    result = run(0, 0)
    assert line_usd(result, "CloudWatch", "dashboard") == pytest.approx(3.00)
    assert line_usd(result, "KMS", "topic key") == pytest.approx(1.00)


def test_each_provider_is_one_billed_metric() -> None:
    assert line_usd(run(10, 3), "CloudWatch", "custom metrics") - line_usd(
        run(10, 2), "CloudWatch", "custom metrics"
    ) == pytest.approx(0.30)


def test_one_canary_every_five_minutes_costs_ten_dollars_fifty_one_a_month() -> None:
    assert run(1, 1).canary_total_usd == pytest.approx(8760 * 0.0012) == pytest.approx(10.512)
    assert run(50, 5).canary_total_usd == pytest.approx(525.60)


def test_hourly_schedule_means_730_lambda_requests() -> None:
    result = run(5, 1, period=3600)
    (requests,) = [x for x in result.lines if x.item == "requests"]
    assert requests.quantity == pytest.approx(730)
    assert requests.monthly_usd == pytest.approx(730 * 0.20 / 1_000_000)


def test_state_writes_follow_changes_not_cycles() -> None:
    """One target and one provider, each 2 KB state item changing about once a day: 2 x 30 x 2 write units."""
    for period in (60, FIVE_MINUTES, 3600):
        (writes,) = [x for x in run(1, 1, period=period).lines if x.item.startswith("writes")]
        assert writes.quantity == 2 * 30 * 2


def test_scans_read_every_cycle() -> None:
    """100 targets of 1 KB and 100 state items of 2 KB: 25 + 50 read units per cycle."""
    (reads,) = [x for x in run(100, 0).lines if x.item.startswith("reads")]
    assert reads.quantity == pytest.approx(8760 * 75)


def test_stack_is_far_cheaper_than_a_canary_per_target_at_fleet_sizes() -> None:
    for targets, providers in ((50, 5), (500, 20)):
        result = run(targets, providers)
        assert result.total_usd * 10 < result.canary_total_usd


def test_cost_grows_with_targets() -> None:
    assert run(500, 20).total_usd > run(50, 20).total_usd


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["every 5 minutes", "rate(5 minute)", "rate(1 hours)", "cron(0 * * * ? *)"])
def test_bad_schedule_names_the_field(expression: str) -> None:
    with pytest.raises(InputError) as caught:
        rate_seconds(expression)
    assert caught.value.field == "schedule"


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ((-1, 0, 0, 300), "targets"),
        ((1, -1, 0, 300), "providers"),
        ((2, 1, 3, 300), "alarmed"),
        ((1, 1, 0, 30), "schedule"),
    ],
)
def test_bad_inputs_name_the_field(inputs: tuple[int, int, int, int], field: str) -> None:
    with pytest.raises(InputError) as caught:
        CostInputs(*inputs)
    assert caught.value.field == field


def test_every_price_is_dated_sourced_and_positive() -> None:
    table = load_prices()
    assert table.region == "us-east-1"
    for price in table.prices.values():
        assert price.usd > 0, price.id
        assert price.source.startswith("https://aws.amazon.com/"), price.id
        assert price.seen_in is None or price.seen_in.startswith("https://"), price.id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.read_on), price.id


def test_a_missing_price_row_is_reported_by_name() -> None:
    table = load_prices()
    incomplete = replace(table, prices={k: v for k, v in table.prices.items() if k != "cloudwatch.dashboard"})
    with pytest.raises(PriceTableError, match=re.escape("cloudwatch.dashboard")):
        estimate(CostInputs(1, 1, 0, 300), incomplete)


def test_a_malformed_price_table_is_refused() -> None:
    with pytest.raises(PriceTableError):
        parse_prices({"region": "us-east-1", "currency": "USD", "hours_per_month": 730, "prices": [{"id": "x"}]})


def test_cli_table_shows_the_total_and_the_synthetics_comparison() -> None:
    result = CliRunner().invoke(cost, ["--targets", "50", "--providers", "5"])
    assert result.exit_code == 0, result.output
    assert "$525.60" in result.output
    assert "total" in result.output
    assert "2026-11-22" in result.output


def test_cli_json_matches_the_estimate() -> None:
    result = CliRunner().invoke(cost, ["--targets", "500", "--providers", "20", "--alarmed", "10", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    expected = run(500, 20, alarmed=10)
    assert document["stack_total_usd"] == round(expected.total_usd, 2)
    assert document["synthetics_total_usd"] == round(8760 * 500 * 0.0012, 2)
    assert document["cycles_per_month"] == 8760


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--targets", "5", "--providers", "1", "--alarmed", "9"], "error: alarmed: must be between 0 and"),
        (["--targets", "5", "--providers", "1", "--schedule", "hourly"], "error: schedule: 'hourly' is not a rate"),
        (["--targets", "5", "--providers", "1", "--accounts", "-1"], "error: accounts: must be zero"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cost, args)
    assert result.exit_code == 2
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1


# --- organization mode ---------------------------------------------------------------------------------------


def org(targets: int, providers: int, accounts: int, alarmed: int = 0) -> CostEstimate:
    return estimate(CostInputs(targets, providers, alarmed, FIVE_MINUTES, accounts=accounts), load_prices())


def test_shards_hold_at_most_2000_targets_or_10_accounts() -> None:
    assert CostInputs(100_000, 40, 0, FIVE_MINUTES, accounts=500).shards == 50
    assert CostInputs(100_000, 40, 0, FIVE_MINUTES, accounts=20).shards == 50
    assert CostInputs(300, 4, 0, FIVE_MINUTES, accounts=35).shards == 4
    assert CostInputs(300, 4, 0, FIVE_MINUTES).shards == 0, "the one-account stack has no shards"


def test_an_organization_cycle_bills_its_state_transitions_and_s3_requests() -> None:
    """50 shards and 40 issuer children: 5 + 2 x (40 + 50) = 185 transitions a cycle, 8,760 cycles a month."""
    result = org(100_000, 40, 500)
    (transitions,) = [x for x in result.lines if x.service == "Step Functions"]
    assert transitions.quantity == 8760 * 185
    assert transitions.monthly_usd == pytest.approx(8760 * 185 * 0.000025)
    (puts,) = [x for x in result.lines if x.service == "S3" and x.item.startswith("PUT")]
    assert puts.quantity == 8760 * (2 + 50 + 40)


def test_organization_mode_drops_per_provider_metrics_and_adds_its_alarms() -> None:
    one_account, organization = run(1000, 40), org(1000, 40, 10)
    metrics = line_usd(one_account, "CloudWatch", "custom metrics") - line_usd(organization, "CloudWatch", "custom")
    assert metrics == pytest.approx((40 - 1) * 0.30), "40 provider metrics off, ShardsFailed on"
    assert line_usd(organization, "CloudWatch", "alarms") - line_usd(one_account, "CloudWatch", "alarms") == (
        pytest.approx(3 * 0.10)
    )


def test_a_hundred_thousand_targets_over_500_accounts_stay_far_below_synthetics() -> None:
    result = org(100_000, 40, 500, alarmed=20)
    assert result.total_usd < 1_000
    assert result.canary_total_usd > 1_000 * result.total_usd


def test_cli_prices_the_organization_mode() -> None:
    result = CliRunner().invoke(cost, ["--targets", "2000", "--providers", "5", "--accounts", "50", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["accounts"], document["shards"]) == (50, 5)
    assert any(line["service"] == "Step Functions" for line in document["stack"])
    table = CliRunner().invoke(cost, ["--targets", "2000", "--providers", "5", "--accounts", "50"])
    assert "organization mode over 50 accounts" in table.output
