"""Benchmark: one monitor cycle of 1,000 targets over 50 issuers and 200 roles, with injected latency.

AWS is moto's server on loopback, in a child process, with 20 ms added to every call (a botocore hook at the
client boundary, which also counts the calls). The time moto spends building the two 1,000-item scan pages
is measured and reported apart: it is the emulator's CPU, not AWS latency. The 50 issuers are real TLS
servers on loopback, in another child process, answering each request after 50 ms. The measured cycle is
the steady one (state already written), as every cycle after the first is; the first cycle is printed too.

The latency-bound minimum is what the latency alone costs at the chosen concurrency, with every call that
can overlap overlapping: the targets scan and the provider list, then the role listing (ListRoles, up to 1,000
roles a call), the provider reads and the issuer inspections (discovery then JWKS) shared among the workers,
then the State scan.
Writes bench/results/cycle.json.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TARGETS = 1000
ISSUERS = 50
ROLES = 200
AWS_LATENCY = 0.020
ISSUER_LATENCY = 0.050
CONCURRENCY = 16
RESULTS = Path(__file__).resolve().parent / "results" / "cycle.json"


def serve(directory: str, delay: float, pipe: Connection) -> None:
    """Child process: ISSUERS loopback issuers under one PKI, each answering after `delay` seconds."""
    from webid_canary.local.issuer import LocalIssuer
    from webid_canary.local.pki import Pki

    pki = Pki(Path(directory))
    issuers = [LocalIssuer(pki, path=f"cluster-{n:02d}").start() for n in range(ISSUERS)]
    for issuer in issuers:
        issuer.set_mode(delay=delay)
    pipe.send((str(pki.ca_file), [(i.url, i.provider_url, i.thumbprint) for i in issuers]))
    pipe.recv()
    for issuer in issuers:
        issuer.stop()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_aws(pipe: Connection) -> None:
    """Child process: moto's server on loopback, so the emulator's CPU runs beside the cycle, not inside it."""
    from webid_canary.local.aws import LocalMotoServer

    with LocalMotoServer(None) as server:
        pipe.send(server.endpoint_url)
        pipe.recv()


class ScanClock:
    """Time spent in Scan calls beyond the injected latency: the emulator building 1,000-item pages."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.seconds = 0.0
        self.lock = threading.Lock()

    def before(self, **kwargs: Any) -> None:
        if kwargs["model"].name == "Scan":
            self.started[threading.get_ident()] = time.perf_counter()

    def after(self, **kwargs: Any) -> None:
        if kwargs["model"].name == "Scan":
            began = self.started.pop(threading.get_ident(), None)
            if began is not None:
                with self.lock:
                    self.seconds += time.perf_counter() - began - AWS_LATENCY


class Latency:
    """Adds AWS_LATENCY to every AWS call made through a session, and counts the calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self.lock:
            self.calls[kwargs["model"].name] += 1
        time.sleep(AWS_LATENCY)


def seed(session: Any, issuers: list[tuple[str, str, str]], tables: tuple[str, str]) -> None:
    from webid_canary.adapters.targets_table import TargetsTable
    from webid_canary.core.targets import parse_target
    from webid_canary.local.seed import create_state_table, create_targets_table, oidc_trust_policy

    iam = session.client("iam")
    provider_arns = []
    for _, provider_url, thumbprint in issuers:
        answer = iam.create_open_id_connect_provider(
            Url=f"https://{provider_url}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=[thumbprint]
        )
        provider_arns.append(answer["OpenIDConnectProviderArn"])
    for n in range(ROLES):
        _, provider_url, _ = issuers[n % ISSUERS]
        policy = oidc_trust_policy(
            provider_arns[n % ISSUERS], provider_url, sub=f"system:serviceaccount:team-{n}:app", aud="sts.amazonaws.com"
        )
        iam.create_role(RoleName=f"app-{n:03d}", AssumeRolePolicyDocument=json.dumps(policy))
    create_targets_table(session.client, tables[0])
    create_state_table(session.client, tables[1])
    items = [
        {
            "target_id": f"target-{n:04d}",
            "role_arn": f"arn:aws:iam::123456789012:role/app-{n % ROLES:03d}",
            "issuer": issuers[(n % ROLES) % ISSUERS][0],
            "claims": {"sub": f"system:serviceaccount:team-{n % ROLES}:app", "aud": "sts.amazonaws.com"},
        }
        for n in range(TARGETS)
    ]
    TargetsTable(session.client("dynamodb"), tables[0]).put_all([parse_target(i) for i in items])


def latency_bound(aws_calls_parallel: int) -> float:
    """The latency floor of one cycle at CONCURRENCY (see the module docstring)."""
    waves = math.ceil((aws_calls_parallel + ISSUERS) / CONCURRENCY)
    issuer_wave = 2 * ISSUER_LATENCY
    # scan + list providers, then the shared reads (AWS waves overlap the issuer waves), then the state scan.
    return AWS_LATENCY * 2 + max(waves * AWS_LATENCY, math.ceil(ISSUERS / CONCURRENCY) * issuer_wave) + AWS_LATENCY


PHASES: dict[str, list[float]] = {}


def time_phases() -> None:
    """With --phases: print how long each part of the cycle took (reads, targets, providers, reporting)."""
    from webid_canary.app import cycle, reporting

    def timed(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                PHASES.setdefault(name, []).append(round(time.perf_counter() - began, 3))

        setattr(cls, name, wrapper)

    timed(cycle.Cycle, "run")
    timed(cycle.Reader, "read")
    timed(cycle.Cycle, "_judge_all")
    timed(reporting.Reporter, "report")


def main() -> dict[str, Any]:
    import os

    import boto3

    from webid_canary.settings import Settings
    from webid_canary.wiring import build_monitor

    parent, child = multiprocessing.Pipe()
    aws_parent, aws_child = multiprocessing.Pipe()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="webid-canary-bench-") as directory:
        process = spawn.Process(target=serve, args=(directory, ISSUER_LATENCY, child), daemon=True)
        aws_process = spawn.Process(target=serve_aws, args=(aws_child,), daemon=True)
        process.start()
        aws_process.start()
        try:
            ca_file, issuers = parent.recv()
            os.environ["AWS_ENDPOINT_URL"] = aws_parent.recv()
            session = boto3.session.Session(
                region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            seed(session, issuers, ("targets", "state"))
            latency = Latency()
            session.events.register("before-call", latency)
            settings = Settings(
                targets_table="targets",
                state_table="state",
                topic_arn=None,
                concurrency=CONCURRENCY,
                allow_private_issuers=True,
                ca_file=ca_file,
            )
            scans = ScanClock()
            session.events.register("before-call", scans.before)
            session.events.register("after-call", scans.after)
            monitor = build_monitor(settings, session)
            started = time.perf_counter()
            first = monitor.run(now=datetime.now(UTC))
            first_seconds = time.perf_counter() - started
            latency.calls.clear()
            scans.seconds = 0.0
            rss_before = rss_mb()
            started = time.perf_counter()
            if "--profile" in sys.argv:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                steady = profiler.runcall(monitor.run, now=datetime.now(UTC))
                pstats.Stats(profiler).sort_stats(
                    sys.argv[-1] if sys.argv[-1] != "--profile" else "cumulative"
                ).print_stats(45)
            else:
                steady = monitor.run(now=datetime.now(UTC))
            wall = time.perf_counter() - started
            rss_after = rss_mb()
            calls = dict(latency.calls)
            # The two scans (Targets, then State) stand on the cycle's critical path one after the other.
            scan_emulation = scans.seconds
        finally:
            parent.send("stop")
            aws_parent.send("stop")
            process.join(timeout=30)
            aws_process.join(timeout=30)
    summary = steady.cycle.summary()
    if summary["ok"] != TARGETS:
        print(f"warning: expected {TARGETS} healthy targets, got {summary}", file=sys.stderr)
    aws_calls = sum(calls.values())
    parallel = aws_calls - calls.get("Scan", 0) - calls.get("ListOpenIDConnectProviders", 0)
    bound = latency_bound(parallel)
    own = wall - scan_emulation
    figures = {
        "targets": TARGETS,
        "issuers": ISSUERS,
        "roles": ROLES,
        "concurrency": CONCURRENCY,
        "wall_seconds": round(wall, 3),
        "first_cycle_seconds": round(first_seconds, 3),
        "first_cycle_state_writes": len(first.outcome.deliveries) + TARGETS + ISSUERS,
        "emulator_scan_seconds": round(scan_emulation, 3),
        "wall_less_emulator_seconds": round(own, 3),
        "latency_bound_seconds": round(bound, 3),
        "ratio_to_bound": round(own / bound, 2),
        "ratio_to_bound_raw": round(wall / bound, 2),
        "aws_calls": aws_calls,
        "aws_calls_by_operation": calls,
        "issuer_fetches": 2 * ISSUERS,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cycle_rss_growth_mb": round(rss_after - rss_before, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    if PHASES:
        print(f"{'phases (first, steady)':>28}: {PHASES}")
    return figures


if __name__ == "__main__":
    if "--phases" in sys.argv:
        time_phases()
    main()
