"""Explains per second on one core for a typical trust policy (GitHub Actions, aud + sub conditions)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from webid_canary.core.case import build_case
from webid_canary.core.explain import explain
from webid_canary.core.model import ProviderRecord

RESULTS = Path(__file__).parent / "results"
GH = "token.actions.githubusercontent.com"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{GH}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"},
                "StringLike": {f"{GH}:sub": "repo:acme/payments:ref:refs/heads/*"},
            },
        }
    ],
}
CLAIMS = {
    "iss": f"https://{GH}",
    "aud": "sts.amazonaws.com",
    "sub": "repo:acme/payments:ref:refs/heads/main",
    "exp": 1772366700,
    "iat": 1772366400,
    "repository": "acme/payments",
    "ref": "refs/heads/main",
}


def main() -> dict[str, int]:
    case = build_case(
        role_arn="arn:aws:iam::123456789012:role/deploy",
        trust_policy=POLICY,
        provider=ProviderRecord(GH, ("sts.amazonaws.com",)),
        claims=CLAIMS,
        now=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    assert explain(case).allowed
    for _ in range(2000):
        explain(case)
    # Rate per second of this process's own CPU time: "on one core", even when other processes share the
    # machine; the wall-clock rate is printed beside it. Best of several windows, as timeit does.
    cpu_rates, wall_rates = [], []
    for _ in range(7):
        count, cpu_started, wall_started = 0, time.process_time(), time.perf_counter()
        while (cpu := time.process_time() - cpu_started) < 0.5:
            for _ in range(500):
                explain(case)
            count += 500
        cpu_rates.append(count / cpu)
        wall_rates.append(count / (time.perf_counter() - wall_started))
    figures = {
        "explains_per_second": round(max(cpu_rates)),
        "wall_clock_explains_per_second": round(max(wall_rates)),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "explain.json").write_text(json.dumps(figures) + "\n")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
