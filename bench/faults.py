"""Benchmark: real monitor cycles through injected faults, and what a person would notice of them.

The production monitor (`wiring.build_monitor`) runs on the embedded local AWS (moto in-process, strict STS) against
real TLS issuers on loopback (webid_canary/local/faults.py builds the fleet). Each cycle has a short deadline;
each is hit by a few faults at once: throttling and 5xx on every AWS operation a cycle makes, KMS and Secrets
Manager refusals, a stalled or dripping issuer and token endpoint, broken issuer answers, the process killed
between two steps of the report, an issuer whose chain alternates per cycle, and a target whose result is too
large for one State item. Two targets are broken and repaired at known cycles; the others stay healthy.
Everything logged (root logger at DEBUG, the SDK's loggers too) and every message published is scanned for
secrets. Writes bench/results/faults.json.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from webid_canary.core.state import Subject, state_key
from webid_canary.local.aws import LocalAws, local_strict_sts
from webid_canary.local.faults import (
    BREAKABLE,
    CYCLE_OPERATIONS,
    FLAPPING,
    HEALTHY,
    HUGE,
    AwsFault,
    FaultFleet,
    LogCapture,
    Notice,
    item_bytes,
    server_error,
    throttled,
)
from webid_canary.local.pki import Pki

RESULTS = Path(__file__).resolve().parent / "results" / "faults.json"
CYCLE_SECONDS = 8.0
HUGE_MUST_DENY = 1300
ROUNDS = 9  # rounds over every AWS fault
FAULTS_PER_CYCLE = 4
STEP = timedelta(minutes=5)  # the schedule's period, as `now` advances from cycle to cycle
# Issuer faults on the slow issuer (discovery, JWKS and its token endpoint), one every few cycles.
ISSUER_FAULTS: list[dict[str, Any]] = [
    {"drip": 0.05},
    {"delay": 20.0},
    {"broken": "discovery", "failure": "500"},
    {"broken": "jwks", "failure": "not_json"},
    {"broken": "jwks", "failure": "oversized"},
    {"broken": "discovery", "failure": "deep_json"},
    {"broken": "discovery", "failure": "redirect"},
    {"broken": "jwks", "failure": "404"},
]
ISSUER_EVERY = 2
# Breaks and repairs by cycle (target, cycle broken, cycle repaired).
BREAKS = [
    ("break-sub", 3, 9),
    ("break-open", 6, 12),
    ("break-sub", 16, 22),
    ("break-open", 19, 25),
    ("break-sub", 29, 35),
    ("break-open", 32, 38),
    ("break-sub", 42, 48),
    ("break-open", 45, 51),
]
FLAP_CYCLES = 12
BREAK_CAUSES = {"break-sub": "trust_condition_mismatch", "break-open": "trust_open"}
# Root causes of an issuer that serves broken discovery or JWKS answers.
ISSUER_BROKEN = {"provider_keys_unreachable", "jwks_unreachable", "discovery_unreachable"}


def aws_faults(fleet: FaultFleet) -> list[AwsFault]:
    """Throttling and a 5xx on every operation of a cycle (each table apart), and KMS and secret refusals."""
    found: list[AwsFault] = []
    for service, operation in CYCLE_OPERATIONS:
        tables: list[str | None] = [None]
        if operation == "Scan":
            tables = [fleet.targets_table, fleet.state_table]
        elif operation == "PutItem":
            tables = [fleet.state_table]
        for table in tables:
            found += [throttled(service, operation, table=table), server_error(service, operation, table=table)]
    found += [
        AwsFault("sns", "Publish", "KMSDisabled"),
        AwsFault("sns", "Publish", "KMSThrottling"),
        AwsFault("sns", "Publish", "KMSAccessDenied"),
        AwsFault("secretsmanager", "GetSecretValue", "DecryptionFailure"),
        AwsFault("sts", "AssumeRoleWithWebIdentity", "IDPCommunicationError"),
        # Throttled on the first call only: the retry must go through.
        throttled("iam", "ListRoles", calls=1),
        throttled("sts", "AssumeRoleWithWebIdentity", calls=1),
    ]
    return found


def schedule(fleet: FaultFleet) -> list[dict[str, Any]]:
    """What each cycle gets: AWS faults, an issuer fault, breaks and repairs, a kill, the flapping chain."""
    specs = aws_faults(fleet)
    batches = [specs[i : i + FAULTS_PER_CYCLE] for i in range(0, len(specs), FAULTS_PER_CYCLE)]
    plan: list[dict[str, Any]] = [{}]  # a clean first cycle: the baseline
    for _ in range(ROUNDS):
        plan += [{"aws": batch} for batch in batches]
    for n, entry in enumerate(plan[1:], start=1):
        if n % ISSUER_EVERY == 0:
            entry["issuer"] = ISSUER_FAULTS[(n // ISSUER_EVERY) % len(ISSUER_FAULTS)]
    kills = 0
    for target, broken, repaired in BREAKS:
        for cycle, action in ((broken, "break"), (repaired, "repair")):
            plan[cycle].setdefault("actions", []).append((action, target))
            # The report dies at step 1, 2, 3 in turn: before the first write, the publish, the clearing write.
            plan[cycle]["kill"] = (state_key(Subject.TARGET, target), kills % 3 + 1)
            kills += 1
    plan += [{"flap": n % 2 == 0} for n in range(FLAP_CYCLES)]
    plan += [{"flap": False}, {}, {}]  # recovery: nothing injected
    return plan


def run(fleet: FaultFleet, plan: list[dict[str, Any]]) -> dict[str, Any]:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    injected: Counter[str] = Counter()
    transitions: list[tuple[str, str, int]] = []  # (target, expected event, cycle)
    for number, entry in enumerate(plan):
        for action, target in entry.get("actions", []):
            if action == "break":
                fleet.break_target(target)
                transitions.append((target, BREAKABLE[target], number))
            else:
                fleet.repair_target(target)
                transitions.append((target, "recovered", number))
        if "issuer" in entry:
            fleet.slow.set_mode(**entry["issuer"])
        if "flap" in entry:
            fleet.flap(entry["flap"])
            injected["flapping chain"] += entry["flap"]
        if "kill" in entry:
            fleet.killer.arm(*entry["kill"])
        fleet.faults.arm(*entry.get("aws", []))
        kills_before = fleet.killer.kills
        cycle = fleet.run_cycle(now + STEP * number)
        fired = fleet.faults.disarm()
        fleet.killer.disarm()
        fleet.slow.reset_mode()
        injected["aws"] += sum(1 for calls in fired.values() if calls)
        injected["issuer"] += "issuer" in entry
        injected["kill"] += fleet.killer.kills - kills_before
        state = "killed" if cycle.killed else f"{cycle.overrun_seconds:+.2f} s past its deadline"
        print(f"cycle {number:3d}: {state}; {cycle.summary.get('error', '-')} in error; notices {len(cycle.notices)}")
        sys.stdout.flush()
    injected["oversized result"] = 1 if any(HUGE in run.statuses for run in fleet.runs) else 0
    return {"injected": injected, "transitions": transitions}


def figures(
    fleet: FaultFleet, log: LogCapture, injected: Counter[str], transitions: list[Any], flap_from: int
) -> dict[str, Any]:
    runs = fleet.runs
    completed = [r for r in runs if not r.killed and r.summary]
    delivered = [(r.number, n) for r in runs for n in r.notices]
    # Never broken: any page about them is false. The slow issuer's subjects page rightly only with the root
    # cause of an issuer serving broken answers (STS would refuse them too); stalling or dripping is "cannot tell".
    never_broken = {*HEALTHY, fleet.steady.provider_url} - {"slow-predicted", "slow-client"}
    slow = {"slow-predicted", "slow-client", fleet.slow.provider_url}
    false_pages = [
        n
        for _, n in delivered
        if n.is_page and (n.subject in never_broken or (n.subject in slow and n.root_cause not in ISSUER_BROKEN))
    ]
    for notice in false_pages:
        print(f"false page: {notice}")
    lost = observed = 0
    for index, (target, event, cycle) in enumerate(transitions):
        later = [c for t, _, c in transitions[index + 1 :] if t == target]
        until = later[0] if later else len(runs)
        cause = BREAK_CAUSES[target]

        def notified(n: Notice, target: str = target, event: str = event, cause: str = cause) -> bool:
            if n.subject != target:
                return False
            return n.event == "recovered" if event == "recovered" else n.is_page and n.root_cause == cause

        status = "ok" if event == "recovered" else event
        if not any(r.statuses.get(target) == status for r in completed if cycle <= r.number < until):
            continue  # every cycle of its window was cut short by other faults: no report saw it
        observed += 1
        if not any(notified(n) and cycle <= c <= until for c, n in delivered):
            lost += 1
            print(f"lost: {target} {event} (cycle {cycle})")
    copies = Counter(n.transition_id for _, n in delivered)
    flapping = [n for c, n in delivered if c >= flap_from]
    flapping_target = Counter(n.event for n in flapping if n.subject == FLAPPING)
    flapping_provider = Counter(n.event for n in flapping if n.subject == fleet.flapping.provider_url)
    stored = fleet.state_items()
    oversized_stored = sum(1 for item in stored if item_bytes(item) > 400 * 1024)
    hits = fleet.scanner.findings(log.text()) + [
        f for e in (x for r in runs for x in r.envelopes) for f in fleet.scanner.findings(e)
    ]
    return {
        "faults_injected": sum(injected.values()),
        "faults_by_kind": dict(injected),
        "aws_errors_raised": sum(fleet.faults.fired.values()),
        "cycles": len(runs),
        "cycles_completed": len(completed),
        "cycles_killed": sum(1 for r in runs if r.killed),
        "cycles_with_metrics": len(fleet.metrics.cycles),
        "max_overrun_seconds": round(max(r.overrun_seconds for r in completed), 3),
        "cycle_seconds": CYCLE_SECONDS,
        "false_pages": len(false_pages),
        "transitions": len(transitions),
        "transitions_observed": observed,
        "notices_lost": lost,
        "notices_delivered": len(delivered),
        "malformed_notices": sum(1 for _, n in delivered if n.malformed),
        "duplicate_notices": sum(n - 1 for n in copies.values()),
        "flapping_notices": {"target": dict(flapping_target), "provider": dict(flapping_provider)},
        "huge_result_open_notices": len(
            {n.transition_id for _, n in delivered if n.subject == HUGE and n.event == "open"}
        ),
        "oversized_state_items": len(fleet.sizes.oversized) + oversized_stored,
        "largest_state_item_bytes": fleet.sizes.largest,
        "log_lines_scanned": len(log.lines),
        "messages_scanned": sum(len(r.envelopes) for r in runs),
        "secret_hits": len(hits),
    }


def main() -> dict[str, Any]:
    started = time.monotonic()
    with contextlib.closing(Pki()) as pki, LocalAws(local_strict_sts(str(pki.ca_file))) as aws:
        fleet = FaultFleet(aws, pki, cycle_seconds=CYCLE_SECONDS, huge_must_deny=HUGE_MUST_DENY)
        try:
            plan = schedule(fleet)
            flap_from = next(n for n, entry in enumerate(plan) if "flap" in entry)
            with LogCapture(sdk_debug=True) as log:  # from the first cycle on: seeding is not the monitor
                outcome = run(fleet, plan)
            result = figures(fleet, log, outcome["injected"], outcome["transitions"], flap_from)
        finally:
            fleet.close()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
