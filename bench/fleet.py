"""Benchmark: one organization cycle, 10,000 targets over 50 accounts, through the real state machine definition.

The definition is infra/orchestration.py's text (what the synthesized template's DefinitionString carries),
run by moto's Step Functions with the step handlers called in this process (webid_canary.local.stepfunctions).
moto's Organizations holds the organization: the monitor's (management) account and the member accounts, each
with its own IAM, the reader role, its OIDC providers and one web-identity role per target. A handful of
issuers (one shared CI issuer, as GitHub's, and a few clusters' issuers) are real TLS servers on loopback, in a
child process, answering each request after 50 ms; each account registers the CI issuer and one cluster's.

What stands for AWS:
- every AWS call made through botocore waits AWS_LATENCY first (20 ms, as bench/cycle.py), and is counted;
- IAM refuses, with `Throttling`, any call past 15 a second per account (a token bucket per account in front
  of moto's IAM, burst 15; the SDK retries a refused call). The runtime paces each account's reads with its
  own per-account rate limit (WEBID_CANARY_IAM_RATE, 15 a second), so `iam_throttled_calls` says whether that
  limit held, and `iam_rate_wait_seconds_summed_max` how long it made an account's calls wait. One account
  carries 60 targets whose role was deleted (GetRole for each, after the listing): the calls that exercise
  the limit.
- the skew of a real organization: the first member account holds 1,200 roles (two ListRoles pages).

Figures (bench/results/fleet.json): targets, accounts, targets_reported (target results in the State table
after the cycle), IAM calls per account (at the wire, throttled ones included) against the goal
ceil(roles/1000) + providers + 2, roles and providers per account, peak_rss_mb (the largest process:
getrusage RUSAGE_SELF / RUSAGE_CHILDREN maxrss), the steps' times and shard_seconds_p50/p100.

The projection of a 100,000-target, 500-account cycle in AWS (PROJECTION below, also written in the JSON):

    shards_100k     = len(plan_shards(200 targets in each of 500 accounts, 2,000 targets / 10 accounts a shard))
    per_target      = max over measured shards of (shard seconds / shard targets)
    shard_100k      = per_target * max targets of a shard at 100k
    projected       = (plan_seconds - plan_emulator_scan_seconds) * (100,000 / targets)
                                                                   # one scan of the Targets table, linear
                    + issuers_seconds                              # a handful of issuers: independent of size
                    + ceil(shards_100k / map_concurrency) * shard_100k
                    + report_seconds * (shards_100k / shards)      # reads the shards' summaries

plan_emulator_scan_seconds is the time moto spent building the Targets scan's pages (measured apart, as
bench/cycle.py does: the plan step runs alone, and each page's injected latency stays in);
projected_seconds_100k_500_with_emulator_scan keeps it in. The plan step holds every target item, so its memory
is projected too: its peak growth (StepMemory) * 100,000 / targets.

In AWS the shards run side by side (MaxConcurrency, default 50); here the local hook runs them one at a time, so
each shard's time is measured alone. Each measured shard time includes moto's own CPU for its answers (in the
same process), so the per-target cost, and the projection, overstate AWS's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fleet.json"
AWS_LATENCY = 0.020
ISSUER_LATENCY = 0.050
IAM_RATE = 15.0  # IAM's requests a second per account (emulated here; the runtime's own limit has the same value)
ISSUERS = 5  # one shared CI issuer and four clusters' issuers
BIG_ACCOUNT_ROLES = 1200  # the first member account: more roles than one ListRoles page
STALE_TARGETS = 60  # targets of the second member account whose role was deleted (GetRole each)
FAILING_EVERY = 97  # one target in 97 expects a `sub` its role does not trust
PROJECT_TARGETS = 100_000
PROJECT_ACCOUNTS = 500
FUNCTION_TIMEOUT = 900  # Lambda's maximum: the bench measures, the deadline must not cut a shard short here
BUCKET = "webid-canary-plan"
AUDIENCE = "sts.amazonaws.com"
PROJECTION = (
    "(plan_seconds - plan_emulator_scan_seconds) * (100000 / targets) + issuers_seconds + "
    "ceil(shards_100k / map_concurrency) * "
    "(max over shards of shard_seconds / shard_targets) * max_shard_targets_100k + report_seconds * "
    "(shards_100k / shards)"
)


def serve(directory: str, delay: float, pipe: Connection) -> None:
    """Child process: the issuers under one PKI, each answering after `delay` seconds."""
    from webid_canary.local.issuer import LocalIssuer
    from webid_canary.local.pki import Pki

    pki = Pki(Path(directory))
    names = ["ci", *(f"cluster-{n}" for n in range(1, ISSUERS))]
    issuers = [LocalIssuer(pki, path=name).start() for name in names]
    for issuer in issuers:
        issuer.set_mode(delay=delay)
    pipe.send((str(pki.ca_file), [(i.url, i.provider_url, i.thumbprint) for i in issuers]))
    pipe.recv()
    for issuer in issuers:
        issuer.stop()


class Wire:
    """What AWS's distance and IAM's per-account limit do: latency on every botocore call, counted by
    operation; IAM refusing calls past IAM_RATE a second per account (counted by account, refusals too)."""

    def __init__(self) -> None:
        self.latency = 0.0
        self.calls: Counter[str] = Counter()
        self.iam_calls: Counter[str] = Counter()
        self.iam_throttled: Counter[str] = Counter()
        # Time spent inside the emulator's answers (after the injected latency), by operation.
        self.emulator: Counter[str] = Counter()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        from botocore.client import BaseClient
        from moto.iam.responses import IamResponse

        make_api_call = BaseClient._make_api_call
        call_action = IamResponse.call_action
        wire = self

        def delayed(client: Any, operation: str, params: Any) -> Any:
            if not wire.latency:
                return make_api_call(client, operation, params)
            name = f"{client.meta.service_model.service_name}.{operation}"
            with wire._lock:
                wire.calls[name] += 1
            time.sleep(wire.latency)
            began = time.perf_counter()
            try:
                return make_api_call(client, operation, params)
            finally:
                with wire._lock:
                    wire.emulator[name] += time.perf_counter() - began

        def paced(response: Any) -> Any:
            account = str(response.current_account)
            if wire.latency and not wire._admit(account):
                return 400, {"status": 400, "Content-Type": "text/xml"}, THROTTLED_BODY
            return call_action(response)

        BaseClient._make_api_call = delayed  # type: ignore[method-assign]
        IamResponse.call_action = paced  # type: ignore[method-assign]
        self._undo = [
            lambda: setattr(BaseClient, "_make_api_call", make_api_call),
            lambda: setattr(IamResponse, "call_action", call_action),
        ]

    def uninstall(self) -> None:
        for undo in self._undo:
            undo()

    def _admit(self, account: str) -> bool:
        """A token bucket per account (IAM_RATE a second, burst IAM_RATE): False when the call is over the rate."""
        with self._lock:
            self.iam_calls[account] += 1
            now = time.monotonic()
            tokens, last = self._buckets.get(account, (IAM_RATE, now))
            tokens = min(IAM_RATE, tokens + (now - last) * IAM_RATE)
            if tokens < 1:
                self._buckets[account] = (tokens, now)
                self.iam_throttled[account] += 1
                return False
            self._buckets[account] = (tokens - 1, now)
            return True


# IAM's answer to a call over its rate (the Query API's error shape); botocore's retries back off on it.
THROTTLED_BODY = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class RateWaits:
    """How long the runtime's per-account rate limit made each reader wait (its `waited`, summed per account)."""

    def __init__(self) -> None:
        self.by_account: dict[str, list[Any]] = {}

    def install(self) -> None:
        from webid_canary.adapters.organizations import ReaderRoles

        original = ReaderRoles.iam_for
        waits = self

        def recorded(roles: Any, account_id: str) -> Any:
            reader = original(roles, account_id)
            waits.by_account.setdefault(account_id, []).append(reader._limit)
            return reader

        ReaderRoles.iam_for = recorded  # type: ignore[method-assign]

    def seconds(self) -> dict[str, float]:
        return {a: sum(limit.waited for limit in limits if limit) for a, limits in self.by_account.items()}


def memory_mb(field: str) -> float:
    """A figure of /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


class StepMemory:
    """Each step's peak memory above what the process held when it began: the peak (VmHWM) is reset before each
    step (writing 5 to /proc/self/clear_refs), so a step's peak is its own, moto's growth during it included."""

    def __init__(self) -> None:
        self.growth: dict[str, list[float]] = {}

    def install(self) -> None:
        from webid_canary import handler

        for step in ("plan", "issuer", "shard", "report"):
            name = f"org_{step}_handler"
            setattr(handler, name, self._measured(step, getattr(handler, name)))

    def _measured(self, step: str, original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def measured(event: Any, context: Any) -> Any:
            before = memory_mb("VmRSS")
            # Where the peak cannot be reset, the figure is the process's peak so far.
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")
            try:
                return original(event, context)
            finally:
                self.growth.setdefault(step, []).append(memory_mb("VmHWM") - before)

        return measured

    def max(self, step: str) -> float:
        return round(max(self.growth.get(step, [0.0])), 1)


def spread(targets: int, accounts: int) -> list[int]:
    """Targets per account: the first member account holds BIG_ACCOUNT_ROLES, the rest share what is left."""
    if accounts == 1:
        return [targets]
    big = min(BIG_ACCOUNT_ROLES, targets // 2)
    rest = targets - big
    counts = [rest // (accounts - 1) + (1 if n < rest % (accounts - 1) else 0) for n in range(accounts - 1)]
    return [counts[0], big, *counts[1:]]


def seed(aws: Any, issuers: list[tuple[str, str, str]], targets: int, accounts: int) -> dict[str, Any]:
    """The organization in moto: accounts, providers, roles (straight into moto's IAM: fast), reader roles,
    the Targets and State tables, the topic and the plan bucket."""
    from moto.iam.models import iam_backends

    from webid_canary import names
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.targets import parse_target
    from webid_canary.local.aws import DEFAULT_ACCOUNT
    from webid_canary.local.seed import Seeder, oidc_trust_policy

    orgs = aws.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    ids = [DEFAULT_ACCOUNT]
    for n in range(accounts - 1):
        status = orgs.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")
        ids.append(str(status["CreateAccountStatus"]["AccountId"]))
    reader_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    items: list[dict[str, Any]] = []
    roles: dict[str, int] = {}
    providers: dict[str, int] = {}
    for index, (account, count) in enumerate(zip(ids, spread(targets, accounts), strict=True)):
        iam = iam_backends[account]["aws"]
        own = [issuers[0], issuers[1 + index % (len(issuers) - 1)]]
        arns = {}
        for url, provider_url, thumbprint in own:
            provider = iam.create_open_id_connect_provider(f"https://{provider_url}", [thumbprint], [AUDIENCE], [])
            arns[url] = (provider.arn, provider_url)
        providers[account] = len(own)

        def role(name: str, trust: str, iam: Any = iam) -> str:
            return str(iam.create_role(name, trust, "/", None, "", [], "3600").arn)

        if account != DEFAULT_ACCOUNT:
            role(names.READER_ROLE_NAME, reader_trust)
        stale = STALE_TARGETS if index == 2 else 0
        for n in range(count):
            issuer = own[n % 2][0]
            provider_arn, provider_url = arns[issuer]
            sub = f"system:serviceaccount:team-{n}:app" if n % 2 else f"repo:acme/app-{account[-4:]}-{n}:ref:main"
            name = f"app-{n:05d}"
            if n < count - stale:
                trust = oidc_trust_policy(provider_arn, provider_url, sub=sub, aud=AUDIENCE)
                arn = role(name, json.dumps(trust))
            else:
                arn = f"arn:aws:iam::{account}:role/{name}"  # deleted since it was registered
            wrong = (index * 31 + n) % FAILING_EVERY == 0
            items.append(
                {
                    "target_id": f"{account}-{name}",
                    "role_arn": arn,
                    "issuer": issuer,
                    "claims": {"sub": "repo:acme/other:ref:main" if wrong else sub, "aud": AUDIENCE},
                }
            )
        roles[account] = len(iam.roles)
    local = Seeder(aws.client)
    targets_table, state_table = local.tables()
    # BatchWriteItem, in the Targets table's own encoding: moto copies the whole table on every transaction
    # (put_all's TransactWriteItems), which is quadratic at this size.
    table = TargetsTable(aws.client("dynamodb"), targets_table)
    encoded = [table._encode(parse_target(i)) for i in items]
    dynamodb = aws.client("dynamodb")
    for start in range(0, len(encoded), 25):
        batch = [{"PutRequest": {"Item": item}} for item in encoded[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={targets_table: batch})
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return {
        "accounts": ids,
        "roles": roles,
        "providers": providers,
        "targets_table": targets_table,
        "state_table": state_table,
        "topic": local.topic().topic_arn,
    }


def targets_reported(aws: Any, table: str) -> Counter[str]:
    """Target results in the State table (one item per target, keyed `target#<id>`), by status."""
    from webid_canary import names
    from webid_canary.core.state import Subject, state_key

    prefix = state_key(Subject.TARGET, "")
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    items = (item for page in pages for item in page["Items"])
    return Counter(item["status"]["S"] for item in items if item[names.STATE_PK]["S"].startswith(prefix))


def project(
    *, targets: int, shards: list[tuple[float, int, int]], plan: float, issuers: float, report: float, concurrency: int
) -> dict[str, Any]:
    """The 100,000-target, 500-account cycle from the measured steps (see the module docstring)."""
    from webid_canary import names
    from webid_canary.app.organization import plan_shards

    per_account = PROJECT_TARGETS // PROJECT_ACCOUNTS
    planned = plan_shards(
        {f"{n:012d}": per_account for n in range(PROJECT_ACCOUNTS)},
        max_targets=names.SHARD_MAX_TARGETS,
        max_accounts=names.SHARD_MAX_ACCOUNTS,
    )
    shards_100k = len(planned)
    largest = max(len(s) for s in planned) * per_account
    per_target = max(seconds / max(count, 1) for seconds, count, _ in shards)
    shard_100k = per_target * largest
    waves = math.ceil(shards_100k / concurrency)
    total = plan * PROJECT_TARGETS / targets + issuers + waves * shard_100k + report * shards_100k / len(shards)
    return {
        "projected_seconds_100k_500": round(total, 1),
        "projection_formula": PROJECTION,
        "projection_inputs": {
            "shards_100k": shards_100k,
            "max_shard_targets_100k": largest,
            "map_concurrency": concurrency,
            "waves": waves,
            "per_target_seconds": round(per_target, 5),
            "shard_seconds_100k": round(shard_100k, 2),
        },
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args(argv)
    if args.accounts < 3 or args.targets < args.accounts * 2:
        parser.error("--accounts must be at least 3 and --targets at least twice the accounts")

    sys.path.insert(0, str(ROOT))  # infra/ (the state machine's definition) is not an installed package
    from infra import orchestration
    from webid_canary import names, wiring
    from webid_canary.local.aws import FAKE_CREDENTIALS, LocalAws, local_strict_sts
    from webid_canary.local.stepfunctions import LocalStateMachine

    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    began = time.monotonic()
    parent, child = multiprocessing.Pipe()
    spawn = multiprocessing.get_context("spawn")
    wire = Wire()
    waits = RateWaits()
    memory = StepMemory()
    with tempfile.TemporaryDirectory(prefix="webid-canary-fleet-") as directory:
        process = spawn.Process(target=serve, args=(directory, ISSUER_LATENCY, child), daemon=True)
        process.start()
        try:
            ca_file, issuers = parent.recv()
            with LocalAws(local_strict_sts(ca_file)) as aws:
                print(f"seeding {args.targets} targets over {args.accounts} accounts", flush=True)
                fleet = seed(aws, issuers, args.targets, args.accounts)
                print(f"seeded in {time.monotonic() - began:.0f} s; running one cycle", flush=True)
                environment = {
                    names.ENV_TARGETS_TABLE: fleet["targets_table"],
                    names.ENV_STATE_TABLE: fleet["state_table"],
                    names.ENV_TOPIC_ARN: fleet["topic"],
                    names.ENV_PLAN_BUCKET: BUCKET,
                    names.ENV_ALLOW_PRIVATE_ISSUERS: "true",
                    names.ENV_CA_FILE: ca_file,
                    names.ENV_IAM_RATE: str(IAM_RATE),
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    "POWERTOOLS_METRICS_NAMESPACE": names.METRIC_NAMESPACE,
                    "POWERTOOLS_LOG_LEVEL": "ERROR",
                }
                os.environ.update(environment)
                wiring.organization.cache_clear()
                wire.install()
                waits.install()
                memory.install()
                try:
                    with LocalStateMachine(
                        aws.client,
                        orchestration.definition_string(),
                        orchestration.HANDLERS,
                        environment=environment,
                        substitute=orchestration.substitute,
                        timeout_seconds=FUNCTION_TIMEOUT,
                    ) as machine:
                        wire.latency = AWS_LATENCY
                        progress = threading.Thread(target=report_progress, args=(machine,), daemon=True)
                        progress.start()
                        started = time.monotonic()
                        execution = machine.run(timeout_seconds=3600)
                        cycle_seconds = time.monotonic() - started
                        wire.latency = 0.0
                        invocations = list(machine.invocations)
                finally:
                    wire.uninstall()
                reported = targets_reported(aws, fleet["state_table"])
        finally:
            parent.send("stop")
            process.join(timeout=30)
    if execution.status != "SUCCEEDED":
        print(f"warning: the execution ended {execution.status}: {execution.error} {execution.cause}", file=sys.stderr)

    def seconds_of(step: str) -> list[float]:
        return [i.seconds for i in invocations if i.function.endswith(step)]

    shards = [
        (i.seconds, int(i.answer.get("targets", 0)), len(i.answer.get("accounts", [])))
        for i in invocations
        if i.function.endswith("shard") and isinstance(i.answer, dict)
    ]
    shard_times = sorted(s for s, _, _ in shards)
    roles, providers = fleet["roles"], fleet["providers"]
    stale = fleet["accounts"][2]
    goal = {a: math.ceil(roles[a] / 1000) + providers[a] + 2 for a in fleet["accounts"]}
    over = {
        a: {"calls": wire.iam_calls[a], "goal": goal[a], "roles": roles[a]}
        for a in fleet["accounts"]
        if wire.iam_calls[a] > goal[a]
    }
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    plan_s, issuer_s, report_s = sum(seconds_of("plan")), sum(seconds_of("issuer")), sum(seconds_of("report"))
    # The plan runs alone, so the emulator's time answering its Scan pages is measured apart (as bench/cycle.py):
    # moto builds each page in Python, far slower than DynamoDB; the injected latency of each page stays.
    scan_emulator = wire.emulator.get("dynamodb.Scan", 0.0)
    waited = waits.seconds()
    figures: dict[str, Any] = {
        "targets": args.targets,
        "accounts": args.accounts,
        "issuers": ISSUERS,
        "execution_status": execution.status,
        "targets_reported": sum(reported.values()),
        # Expected: `failing` for one target in FAILING_EVERY (a wrong sub) and for the deleted roles; no `error`.
        "targets_by_status": dict(sorted(reported.items())),
        "heartbeat": (execution.output or {}).get("heartbeat"),
        "shards": len(shards),
        "shards_failed": (execution.output or {}).get("shards_failed"),
        "iam_calls_per_account_max": max(wire.iam_calls.values(), default=0),
        "iam_calls_goal_max": max(goal.values()),
        # Every account but the one with deleted roles (its GetRole calls are beyond the goal by design).
        "iam_calls_per_account_max_others": max(
            (wire.iam_calls[a] for a in fleet["accounts"] if a != stale), default=0
        ),
        "iam_calls_over_goal": over,
        "iam_throttled_calls": sum(wire.iam_throttled.values()),
        # The runtime's limiter: the waits of one account's calls, summed (its calls wait side by side).
        "iam_rate_wait_seconds_summed_max": round(max(waited.values(), default=0.0), 3),
        "roles_per_account_max": max(roles.values()),
        "providers_per_account_max": max(providers.values()),
        "peak_rss_mb": round(rss / 1024, 1),
        "step_peak_growth_mb": {step: memory.max(step) for step in ("plan", "issuer", "shard", "report")},
        "cycle_seconds": round(cycle_seconds, 2),
        "plan_seconds": round(plan_s, 2),
        "plan_emulator_scan_seconds": round(scan_emulator, 2),
        "emulator_seconds_by_operation": {k: round(v, 2) for k, v in sorted(wire.emulator.items()) if v >= 0.05},
        "issuers_seconds": round(issuer_s, 2),
        "issuer_seconds_max": round(max(seconds_of("issuer"), default=0.0), 2),
        "report_seconds": round(report_s, 2),
        "shard_seconds_p50": round(statistics.median(shard_times), 2) if shard_times else None,
        "shard_seconds_p100": round(shard_times[-1], 2) if shard_times else None,
        "shard_targets_max": max((t for _, t, _ in shards), default=0),
        "aws_latency_seconds": AWS_LATENCY,
        "issuer_latency_seconds": ISSUER_LATENCY,
        "aws_calls": sum(wire.calls.values()),
        "aws_calls_by_operation": dict(sorted(wire.calls.items())),
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    if shards:
        measured = {"targets": args.targets, "shards": shards, "issuers": issuer_s, "report": report_s}
        concurrency = orchestration.DEFAULT_MAP_CONCURRENCY
        figures |= project(plan=plan_s - scan_emulator, concurrency=concurrency, **measured)
        raw = project(plan=plan_s, concurrency=concurrency, **measured)
        figures["projected_seconds_100k_500_with_emulator_scan"] = raw["projected_seconds_100k_500"]
        # The plan holds every target item: its memory grows with the targets (the shards' stays at 2,000 each).
        figures["projected_plan_memory_mb_100k"] = round(memory.max("plan") * PROJECT_TARGETS / args.targets, 1)
    figures["goals"] = {
        "every_target_reported": sum(reported.values()) == args.targets,
        "iam_calls_within_goal": not over,
        "projected_within_300_seconds": figures.get("projected_seconds_100k_500", math.inf) <= 300,
        "peak_rss_within_1_gb": figures["peak_rss_mb"] <= 1024,
        "projected_plan_memory_within_1_gb": figures.get("projected_plan_memory_mb_100k", math.inf) <= 1024,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    return figures


def report_progress(machine: Any) -> None:
    """Every 10 s: the steps done so far (a long run shows it is moving)."""
    shown = -1
    while True:
        time.sleep(10)
        done = Counter(i.function.removeprefix("webid-canary-") for i in machine.invocations)
        if sum(done.values()) != shown:
            shown = sum(done.values())
            # To the real stderr: the local Lambda hook redirects stdout while a step runs (its EMF lines).
            print(f"  steps done: {dict(done)}", file=sys.__stderr__, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
