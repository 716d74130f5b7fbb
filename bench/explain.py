"""Explains per second on one core for a typical trust policy (GitHub Actions, aud + sub conditions).

Two figures: explaining a case already built, and the monitor's whole prediction for one target (the case
built from decoded claims and the policy text, explained, turned into JSON).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from webid_canary.core.case import build_case
from webid_canary.core.explain import explain
from webid_canary.core.model import IdpFacts, ProviderRecord

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
POLICY_TEXT = json.dumps(POLICY)
CLAIMS = {
    "iss": f"https://{GH}",
    "aud": "sts.amazonaws.com",
    "sub": "repo:acme/payments:ref:refs/heads/main",
    "exp": 1772366700,
    "iat": 1772366400,
    "repository": "acme/payments",
    "ref": "refs/heads/main",
}
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/deploy"
PROVIDER = ProviderRecord(GH, ("sts.amazonaws.com",), ("a" * 40,), f"arn:aws:iam::123456789012:oidc-provider/{GH}")
IDP = IdpFacts(presented_thumbprints=("a" * 40,), trusted_root_ca=True, jwks_reachable=True, jwks_kids=("k1",))


def best_rates(work: Callable[[], object]) -> tuple[float, float]:
    """Calls per second of this process's CPU time and of the wall clock, each the best of several windows.

    CPU time gives the rate "on one core" even when other processes share the machine.
    """
    for _ in range(2000):
        work()
    cpu_rates, wall_rates = [], []
    for _ in range(7):
        count, cpu_started, wall_started = 0, time.process_time(), time.perf_counter()
        while (cpu := time.process_time() - cpu_started) < 0.5:
            for _ in range(500):
                work()
            count += 500
        cpu_rates.append(count / cpu)
        wall_rates.append(count / (time.perf_counter() - wall_started))
    return max(cpu_rates), max(wall_rates)


def predict() -> dict[str, object]:
    """The monitor's work for one target: a case from claims and policy text, explained, as JSON."""
    case = build_case(
        role_arn=ROLE_ARN,
        trust_policy=POLICY_TEXT,
        provider=PROVIDER,
        claims=CLAIMS,
        now=NOW,
        session_name="webid-canary",
        duration_seconds=900,
        idp=IDP,
    )
    return explain(case).to_json()


def main() -> dict[str, int]:
    case = build_case(
        role_arn=ROLE_ARN,
        trust_policy=POLICY,
        provider=ProviderRecord(GH, ("sts.amazonaws.com",)),
        claims=CLAIMS,
        now=NOW,
    )
    assert explain(case).allowed
    assert predict()["outcome"] == "allow"
    cpu, wall = best_rates(lambda: explain(case))
    monitor_cpu, _ = best_rates(predict)
    figures = {
        "explains_per_second": round(cpu),
        "wall_clock_explains_per_second": round(wall),
        "monitor_predictions_per_second": round(monitor_cpu),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "explain.json").write_text(json.dumps(figures) + "\n")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
