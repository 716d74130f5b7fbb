"""Benchmark: inspect 50 loopback issuers concurrently, each fetched once, against one issuer alone.

The issuers run in a child process so that the figures measure the inspecting side. Prints the figures
and writes bench/results/inspect.json: {"issuers": 50, "seconds": S, "ratio_to_one_issuer": R}.
A second run with a small delay per answer stands in for network latency, which is what concurrency hides
on real issuers; it is printed only.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from webid_canary.adapters.issuer import inspect_issuer, inspect_issuers
from webid_canary.core.inspection import IssuerInspection

ISSUERS = 50
SINGLES = 5
CONCURRENCY = 16
LATENCY_SECONDS = 0.05
RESULTS = Path(__file__).resolve().parent / "results" / "inspect.json"


def serve(directory: str, count: int, delay: float, pipe: Connection) -> None:
    """Child process: start `count` issuers under one PKI, send their URLs, serve until told to stop."""
    from webid_canary.local.issuer import LocalIssuer
    from webid_canary.local.pki import Pki

    pki = Pki(Path(directory))
    issuers = [LocalIssuer(pki, path=f"tenant-{n}").start() for n in range(count)]
    for issuer in issuers:
        issuer.set_mode(delay=delay)
    pipe.send((str(pki.ca_file), [i.url for i in issuers]))
    pipe.recv()
    for issuer in issuers:
        issuer.stop()


def measure(delay: float) -> tuple[float, float]:
    """Seconds for one issuer alone and for ISSUERS at once, with `delay` seconds per answer."""
    parent, child = multiprocessing.Pipe()
    with tempfile.TemporaryDirectory(prefix="webid-canary-bench-") as directory:
        process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(directory, 1 + SINGLES + ISSUERS, delay, child), daemon=True
        )
        process.start()
        try:
            ca_file, urls = parent.recv()
            warm, lone, fleet = urls[0], urls[1 : 1 + SINGLES], urls[1 + SINGLES :]
            now = datetime.now(UTC)
            # Load the trust stores once, so both timings measure inspections and not start-up.
            inspect_issuer(warm, allow_private=True, ca_file=ca_file, now=now)

            # One issuer alone: the median of a few, each a different issuer fetched once.
            singles: list[float] = []
            for url in lone:
                started = time.perf_counter()
                single = inspect_issuer(url, allow_private=True, ca_file=ca_file, now=now)
                singles.append(time.perf_counter() - started)
                if not single.jwks_ok:
                    raise SystemExit(f"error: {url} was not inspected completely")
            one = statistics.median(singles)

            started = time.perf_counter()
            results = inspect_issuers(fleet, allow_private=True, ca_file=ca_file, now=now, concurrency=CONCURRENCY)
            many = time.perf_counter() - started
        finally:
            parent.send("stop")
            process.join(timeout=30)
    complete = [r for r in results.values() if isinstance(r, IssuerInspection) and r.jwks_ok]
    if len(complete) != ISSUERS:
        raise SystemExit(f"error: only {len(complete)} of {ISSUERS} issuers were inspected completely")
    return one, many


def main() -> int:
    one, many = measure(0.0)
    figures = {"issuers": ISSUERS, "seconds": round(many, 3), "ratio_to_one_issuer": round(many / one, 2)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures) + "\n", encoding="utf-8")
    print(f"loopback, {ISSUERS} issuers ({CONCURRENCY} at a time), each fetched once:")
    print(f"  one issuer (median of {SINGLES}): {one:.3f} s")
    print(f"  {ISSUERS} issuers:          {many:.3f} s ({many / ISSUERS * 1000:.1f} ms per issuer)")
    print(f"  ratio to one issuer: {many / one:.2f} (sequential: about {ISSUERS})")
    slow_one, slow_many = measure(LATENCY_SECONDS)
    print(f"with {LATENCY_SECONDS * 1000:.0f} ms per answer standing in for network latency:")
    print(f"  one issuer:          {slow_one:.3f} s")
    print(f"  {ISSUERS} issuers:          {slow_many:.3f} s, ratio {slow_many / slow_one:.2f}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
