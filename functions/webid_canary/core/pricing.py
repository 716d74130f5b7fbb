"""Monthly cost of the stack at list prices (dated data), beside one Synthetics canary per target."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from webid_canary.core.model import InputError

# Metrics every cycle emits with the `service` dimension, plus Powertools' ColdStart metric.
FLEET_METRICS = 8 + 1
# Fleet alarms of the stack: targets failing, provider drift, trust open, targets in error, heartbeat,
# function errors, near deadline (infra/alarms.py), and real refusals (infra/refusals.py); a test keeps them in step.
FLEET_ALARMS = 8
DASHBOARDS = 1
TOPIC_KEYS = 1
GB = 1024**3
# Organization mode (docs/organization.md): the alarms it adds (shards failed, executions failed and timed out),
# the metric it adds (ShardsFailed), and how targets are grouped (names.SHARD_MAX_TARGETS/SHARD_MAX_ACCOUNTS).
ORG_ALARMS = 3
ORG_METRICS = 1
SHARD_MAX_TARGETS = 2000
SHARD_MAX_ACCOUNTS = 10
# State transitions of one execution outside its maps (Plan, Leased, Issuers, Accounts, Report), and of one map
# child (its start and its task); Standard workflows bill every transition, map children's included:
# https://aws.amazon.com/step-functions/pricing/
ORG_TOP_TRANSITIONS = 5
ORG_CHILD_TRANSITIONS = 2

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class PriceTableError(Exception):
    """The price table is missing a row or has a malformed one."""


@dataclass(frozen=True)
class Price:
    """One list price: what it is for, its unit, and where and when it was read."""

    id: str
    title: str
    unit: str
    usd: float
    source: str
    seen_in: str | None
    read_on: str


@dataclass(frozen=True)
class PriceTable:
    """The dated list prices of one region."""

    region: str
    currency: str
    hours_per_month: int
    prices: dict[str, Price]

    def __getitem__(self, price_id: str) -> Price:
        try:
            return self.prices[price_id]
        except KeyError as exc:
            raise PriceTableError(f"no price {price_id!r} in the {self.region} table") from exc

    @property
    def read_on(self) -> str:
        """The oldest date a price of the table was read: the table is as fresh as its stalest row."""
        return min(price.read_on for price in self.prices.values())


@dataclass(frozen=True)
class Assumptions:
    """What the estimate assumes about one cycle; each figure can be replaced by a measured one."""

    memory_gb: float = 0.5
    base_seconds: float = 1.0
    seconds_per_target: float = 0.02
    seconds_per_provider: float = 0.3
    log_bytes_per_cycle: int = 3_000
    log_bytes_per_target: int = 600
    log_bytes_per_provider: int = 800
    state_item_kb: int = 2
    target_item_kb: int = 1
    # State is written only when something changes (status, reason, reminder): about once a day per item.
    state_writes_per_item_per_month: int = 30
    notifications_per_month: int = 100
    log_retention_days: int = 30
    # Organization mode: assuming an account's reader role and listing its roles and providers.
    seconds_per_account: float = 0.5
    # A step of the state machine as its log group keeps it (level ALL): about a kilobyte per history event.
    log_bytes_per_transition: int = 1_000
    # Organization mode logs healthy targets at DEBUG only: the targets' log lines are the problem targets'.
    share_not_ok: float = 0.05


@dataclass(frozen=True)
class CostInputs:
    """The size of the fleet and how often it is checked."""

    targets: int
    providers: int
    alarmed: int
    period_seconds: int
    # 0: the one-account stack; N >= 1: organization mode over N accounts (a Step Functions cycle).
    accounts: int = 0

    @property
    def organization(self) -> bool:
        return self.accounts > 0

    @property
    def shards(self) -> int:
        """Map children of the accounts step: at most SHARD_MAX_TARGETS targets and SHARD_MAX_ACCOUNTS accounts each."""
        if not self.organization:
            return 0
        return max(1, math.ceil(self.targets / SHARD_MAX_TARGETS), math.ceil(self.accounts / SHARD_MAX_ACCOUNTS))

    def __post_init__(self) -> None:
        if self.targets < 0:
            raise InputError("targets", "must be zero or more")
        if self.providers < 0:
            raise InputError("providers", "must be zero or more")
        if not 0 <= self.alarmed <= self.targets:
            raise InputError("alarmed", f"must be between 0 and the number of targets ({self.targets})")
        if self.period_seconds < 60:
            raise InputError("schedule", "must be at least one minute")
        if self.accounts < 0:
            raise InputError("accounts", "must be zero (one account) or more")


@dataclass(frozen=True)
class CostLine:
    """One priced quantity of the monthly bill."""

    service: str
    item: str
    quantity: float
    unit: str
    unit_usd: float

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_usd


@dataclass(frozen=True)
class CostEstimate:
    """The stack's monthly lines and the Synthetics comparison, with the price table they came from."""

    inputs: CostInputs
    cycles_per_month: float
    lines: tuple[CostLine, ...]
    canary_lines: tuple[CostLine, ...]
    region: str
    prices_read_on: str

    @property
    def total_usd(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    @property
    def canary_total_usd(self) -> float:
        return sum(line.monthly_usd for line in self.canary_lines)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, amounts rounded to the cent's hundredth."""

        def line(item: CostLine) -> dict[str, Any]:
            return {
                "service": item.service,
                "item": item.item,
                "quantity": round(item.quantity, 4),
                "unit": item.unit,
                "unit_usd": item.unit_usd,
                "monthly_usd": round(item.monthly_usd, 4),
            }

        return {
            "region": self.region,
            "prices_read_on": self.prices_read_on,
            "targets": self.inputs.targets,
            "providers": self.inputs.providers,
            "alarmed": self.inputs.alarmed,
            "accounts": self.inputs.accounts,
            "shards": self.inputs.shards,
            "period_seconds": self.inputs.period_seconds,
            "cycles_per_month": round(self.cycles_per_month, 2),
            "stack": [line(item) for item in self.lines],
            "stack_total_usd": round(self.total_usd, 2),
            "synthetics": [line(item) for item in self.canary_lines],
            "synthetics_total_usd": round(self.canary_total_usd, 2),
        }


def rate_seconds(expression: str) -> int:
    """The interval of an EventBridge rate expression, in seconds; the stack and the estimate share it."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise InputError(
            "schedule", f"{expression!r} is not a rate expression such as 'rate(5 minutes)' or 'rate(1 hour)'"
        )
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise InputError("schedule", "the rate must be at least 1")
    if (value == 1) != (not unit.endswith("s")):
        raise InputError("schedule", f"EventBridge wants 'rate(1 {unit.rstrip('s')})' for one, plural above one")
    return value * _UNIT_SECONDS[unit.rstrip("s")]


def parse_prices(document: dict[str, Any]) -> PriceTable:
    """Turn the price document into a table, naming the row and field that is wrong."""
    try:
        rows = document["prices"]
        prices = {
            row["id"]: Price(
                id=str(row["id"]),
                title=str(row["title"]),
                unit=str(row["unit"]),
                usd=float(row["usd"]),
                source=str(row["source"]),
                seen_in=None if row.get("seen_in") is None else str(row["seen_in"]),
                read_on=str(row["read_on"]),
            )
            for row in rows
        }
        return PriceTable(
            region=str(document["region"]),
            currency=str(document["currency"]),
            hours_per_month=int(document["hours_per_month"]),
            prices=prices,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceTableError(f"malformed price table: {exc!r}") from exc


def load_prices() -> PriceTable:
    """The packaged us-east-1 price table (core/data/prices.json)."""
    text = resources.files("webid_canary.core").joinpath("data/prices.json").read_text("utf-8")
    return parse_prices(json.loads(text))


def estimate(inputs: CostInputs, prices: PriceTable, assumptions: Assumptions | None = None) -> CostEstimate:
    """Price one month of the stack at the given fleet size and schedule, and N canaries at the same schedule.

    In organization mode (`accounts` >= 1) a cycle is one Step Functions execution: one plan, one issuer child per
    provider, one shard child per SHARD_MAX_TARGETS targets or SHARD_MAX_ACCOUNTS accounts, one report; the
    per-provider metrics are off (only alarmed targets keep their own), and the plan, issuer results and shard
    items go through S3.
    """
    a = assumptions or Assumptions()
    n, m, k = inputs.targets, inputs.providers, inputs.alarmed
    org, shards, accounts = inputs.organization, inputs.shards, inputs.accounts
    seconds_per_month = prices.hours_per_month * 3600
    cycles = seconds_per_month / inputs.period_seconds
    cycle_seconds = a.base_seconds + a.seconds_per_target * n + a.seconds_per_provider * m
    invocations = 1.0
    transitions = 0
    if org:
        # Plan and report each start a function; every account is entered once; base time per invocation.
        invocations = 2 + m + shards
        cycle_seconds += a.seconds_per_account * accounts + a.base_seconds * (invocations - 1)
        transitions = ORG_TOP_TRANSITIONS + ORG_CHILD_TRANSITIONS * (m + shards)
    logged_targets = n * a.share_not_ok if org else n
    log_bytes = a.log_bytes_per_cycle + a.log_bytes_per_target * logged_targets + a.log_bytes_per_provider * m
    log_bytes += a.log_bytes_per_transition * transitions
    log_gb = cycles * log_bytes / GB
    # Each cycle reads Targets and State with strongly consistent reads (one unit per 4 KB read); State items
    # are written only when they change (and the organization cycle's lease twice a cycle).
    scan_rru = math.ceil(n * a.target_item_kb / 4) + math.ceil((n + m) * a.state_item_kb / 4)
    state_wru_per_month = float((n + m) * a.state_writes_per_item_per_month * a.state_item_kb)
    if org:
        state_wru_per_month += cycles * 2
    table_gb = (n * a.target_item_kb + (n + m) * a.state_item_kb) * 1024 / GB
    metrics = FLEET_METRICS + k + (ORG_METRICS if org else m)
    alarms = FLEET_ALARMS + k + (ORG_ALARMS if org else 0)

    def line(service: str, item: str, quantity: float, price_id: str) -> CostLine:
        price = prices[price_id]
        return CostLine(service, item, quantity, price.unit, price.usd)

    lines: tuple[CostLine, ...] = (
        line(
            "CloudWatch",
            "custom metrics (fleet, ColdStart, alarmed targets, " + ("shards failed)" if org else "providers)"),
            metrics,
            "cloudwatch.custom_metric",
        ),
        line(
            "CloudWatch",
            "alarms (fleet, " + ("orchestration, " if org else "") + "and alarmed targets)",
            alarms,
            "cloudwatch.alarm_standard",
        ),
        line("CloudWatch", "dashboard", DASHBOARDS, "cloudwatch.dashboard"),
        line("CloudWatch Logs", "ingestion (logs and EMF)", log_gb, "logs.ingestion_standard"),
        line(
            "CloudWatch Logs",
            f"storage ({a.log_retention_days}-day retention)",
            log_gb * a.log_retention_days / 30,
            "logs.storage",
        ),
        line("Lambda", "arm64 duration", cycles * cycle_seconds * a.memory_gb, "lambda.arm64_gb_second"),
        line("Lambda", "requests", cycles * invocations, "lambda.request"),
        line(
            "DynamoDB",
            "reads (by key, per shard)" if org else "reads (two scans a cycle)",
            cycles * scan_rru,
            "dynamodb.read_request_unit",
        ),
        line(
            "DynamoDB",
            "writes (state changes, the lease)" if org else "writes (state changes)",
            state_wru_per_month,
            "dynamodb.write_request_unit",
        ),
        line("DynamoDB", "storage", table_gb, "dynamodb.storage"),
        line("DynamoDB", "point-in-time recovery", table_gb, "dynamodb.pitr"),
        line("SNS", "publishes", a.notifications_per_month, "sns.publish"),
        line("SNS", "e-mail deliveries", a.notifications_per_month, "sns.email_delivery"),
        line("KMS", "topic key", TOPIC_KEYS, "kms.customer_managed_key"),
        line("X-Ray", "traces", cycles, "xray.trace_recorded"),
    )
    if org:
        # Writes: the plan's two lists and one item file per shard, one result per issuer; reads: the two lists
        # (the maps' item readers), each shard its items and at most every issuer's result.
        puts = 2 + shards + m
        gets = 2 + shards * (1 + m)
        lines += (
            line(
                "Step Functions",
                f"state transitions ({shards} shard{'s' if shards != 1 else ''}, {m} issuer children)",
                cycles * transitions,
                "stepfunctions.state_transition",
            ),
            line("S3", "PUT requests (plan, issuer results)", cycles * puts, "s3.put_request"),
            line("S3", "GET requests (map readers, shards)", cycles * gets, "s3.get_request"),
        )
    canary_lines = (
        line("Synthetics", f"{n} canaries, one run per target per cycle", cycles * n, "synthetics.canary_run"),
    )
    return CostEstimate(
        inputs=inputs,
        cycles_per_month=cycles,
        lines=lines,
        canary_lines=canary_lines,
        region=prices.region,
        prices_read_on=prices.read_on,
    )
