"""Benchmark: inspect 50 loopback issuers concurrently, each fetched once, against one issuer alone.

Prints the figures and writes bench/results/inspect.json:
{"issuers": 50, "seconds": S, "ratio_to_one_issuer": R}
"""

# This file shares its name with the standard library's `inspect`: drop its own folder from the import path
# before anything imports `inspect`.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import json  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from webid_canary.adapters.issuer import inspect_issuer, inspect_issuers  # noqa: E402
from webid_canary.core.inspection import IssuerInspection  # noqa: E402
from webid_canary.local.issuer import LocalIssuer  # noqa: E402
from webid_canary.local.pki import Pki  # noqa: E402

ISSUERS = 50
CONCURRENCY = 16
RESULTS = Path(__file__).resolve().parent / "results" / "inspect.json"


def main() -> int:
    pki = Pki()
    issuers = [LocalIssuer(pki, path=f"tenant-{n}").start() for n in range(ISSUERS + 2)]
    try:
        warm, lone, fleet = issuers[0], issuers[1], issuers[2:]
        now = datetime.now(UTC)
        # Load the trust stores once, so both timings measure inspections and not start-up.
        inspect_issuer(warm.url, allow_private=True, ca_file=str(pki.ca_file), now=now)

        started = time.perf_counter()
        single = inspect_issuer(lone.url, allow_private=True, ca_file=str(pki.ca_file), now=now)
        one = time.perf_counter() - started

        started = time.perf_counter()
        results = inspect_issuers(
            [i.url for i in fleet], allow_private=True, ca_file=str(pki.ca_file), now=now, concurrency=CONCURRENCY
        )
        many = time.perf_counter() - started
    finally:
        for issuer in issuers:
            issuer.stop()
        pki.close()

    inspected = [r for r in results.values() if isinstance(r, IssuerInspection) and r.jwks_ok]
    if not single.jwks_ok or len(inspected) != ISSUERS:
        print(f"error: only {len(inspected)} of {ISSUERS} issuers were inspected completely", file=sys.stderr)
        return 1
    figures = {"issuers": ISSUERS, "seconds": round(many, 3), "ratio_to_one_issuer": round(many / one, 2)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures) + "\n", encoding="utf-8")
    print(f"one issuer:            {one:.3f} s")
    print(f"{ISSUERS} issuers, {CONCURRENCY} at a time: {many:.3f} s ({many / ISSUERS * 1000:.1f} ms per issuer)")
    print(f"ratio to one issuer:   {many / one:.2f} (sequential would be about {ISSUERS})")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
