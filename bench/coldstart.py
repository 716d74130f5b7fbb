"""Benchmark: what the handler's import adds to a cold start, and the size of the Lambda asset.

Each import is timed in a fresh interpreter (as a cold start is), several times, and the median kept:
the handler module against boto3 plus the Powertools Logger, Metrics and Tracer alone, in the same run.
The asset is built the way `cdk synth` builds it (no Docker) and zipped as Lambda receives it.
Writes bench/results/coldstart.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "coldstart.json"
RUNS = 7

BASELINE = (
    "import boto3\n"
    "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
    "Logger(service='x'); Metrics(namespace='x', service='x'); Tracer(service='x')\n"
)
HANDLER = "import webid_canary.handler\n"
TIMER = "import time, sys\nstarted = time.perf_counter()\n{code}print((time.perf_counter() - started) * 1000)\n"


def import_ms(code: str) -> float:
    """Median milliseconds to run `code` first thing in a fresh interpreter."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code)], capture_output=True, text=True, check=True, env=env
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def asset_zip_mb() -> float:
    sys.path.insert(0, str(ROOT))
    from infra.asset import build_asset

    asset = build_asset()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "asset.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(asset.path).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(asset.path))
        return target.stat().st_size / 1024 / 1024


def main() -> dict[str, float]:
    baseline = import_ms(BASELINE)
    handler = import_ms(HANDLER)
    figures = {
        "handler_import_ms": round(handler, 1),
        "baseline_import_ms": round(baseline, 1),
        "overhead_ratio": round((handler - baseline) / baseline, 3),
        "asset_zip_mb": round(asset_zip_mb(), 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    return figures


if __name__ == "__main__":
    main()
