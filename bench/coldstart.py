"""Benchmark: what the handler's import adds to a cold start, and the size of the Lambda asset.

Each import is timed in a fresh interpreter (as a cold start is), in CPU time, several times interleaved,
and the median kept:
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
# CPU time of the importing process: an import is CPU work once the files are cached, and CPU time does not
# stretch when other processes share the machine, as wall time does.
TIMER = "import time\nstarted = time.process_time()\n{code}print((time.process_time() - started) * 1000)\n"


def import_ms(code: str) -> float:
    """CPU milliseconds to run `code` first thing in a fresh interpreter (one sample)."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(code=code)], capture_output=True, text=True, check=True, env=env
    )
    return float(out.stdout.strip().splitlines()[-1])


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
    baselines, handlers = [], []
    for _ in range(RUNS):  # interleaved, so that a busy moment weighs on both alike
        baselines.append(import_ms(BASELINE))
        handlers.append(import_ms(HANDLER))
    baseline, handler = statistics.median(baselines), statistics.median(handlers)
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
