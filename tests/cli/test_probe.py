"""`webid-canary probe` from a laptop: the same cycle as the monitor, printed, over HTTP to the local AWS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webid_canary.adapters.targets_table import TargetsTable
from webid_canary.core.targets import parse_target
from webid_canary.local.aws import LocalMotoServer
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder, oidc_trust_policy

CLI = Path(sys.executable).parent / "webid-canary"
SA = "system:serviceaccount:billing:invoice-worker"


@pytest.fixture
def registered(local_moto_server: LocalMotoServer, server_seed: Seeder, local_issuer: LocalIssuer) -> dict[str, str]:
    targets, _ = server_seed.tables()
    provider = server_seed.provider(local_issuer, client_ids=["sts.amazonaws.com"])
    good = server_seed.role(
        "good", oidc_trust_policy(provider, local_issuer.provider_url, sub=SA, aud="sts.amazonaws.com")
    )
    wide = server_seed.role(
        "wide",
        oidc_trust_policy(
            provider, local_issuer.provider_url, sub="system:serviceaccount:billing:*", operator="StringLike"
        ),
    )
    items: list[dict[str, Any]] = [
        {
            "target_id": "healthy",
            "role_arn": good,
            "issuer": local_issuer.url,
            "claims": {"sub": SA, "aud": "sts.amazonaws.com"},
        },
        {
            "target_id": "wrong-sa",
            "role_arn": good,
            "issuer": local_issuer.url,
            "claims": {"sub": "system:serviceaccount:billing:other", "aud": "sts.amazonaws.com"},
        },
        {
            "target_id": "too-wide",
            "role_arn": wide,
            "issuer": local_issuer.url,
            "claims": {"sub": SA, "aud": "sts.amazonaws.com"},
        },
    ]
    TargetsTable(local_moto_server.client("dynamodb"), targets).put_all([parse_target(i) for i in items])
    return {**local_moto_server.environment(), "WEBID_CANARY_TARGETS_TABLE": targets, "PATH": "/usr/bin:/bin"}


def probe(env: dict[str, str], *args: str, ca_file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "probe", *args, "--allow-private", "--ca-file", ca_file],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_probe_prints_each_targets_status_and_exits_1_on_a_problem(
    registered: dict[str, str], local_issuer: LocalIssuer
) -> None:
    result = probe(registered, "--json", ca_file=local_issuer.ca_file)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    by_id = {t["target_id"]: t for t in report["targets"]}
    assert {k: (v["status"], v["root_cause"]) for k, v in by_id.items()} == {
        "healthy": ("ok", None),
        "wrong-sa": ("failing", "trust_condition_mismatch"),
        "too-wide": ("open", "trust_open"),
    }
    assert [p["status"] for p in report["providers"]] == ["ok"]


def test_probe_as_ocsf_gives_a_finding_per_problem_target_and_the_same_exit_status(
    registered: dict[str, str], local_issuer: LocalIssuer
) -> None:
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    result = probe(registered, "--format", "ocsf", ca_file=local_issuer.ca_file)
    assert result.returncode == 1, result.stderr
    findings = [DetectionFinding.model_validate(f) for f in json.loads(result.stdout)]
    assert {f.finding_info.uid: f.status for f in findings} == {
        "webid-canary/target/wrong-sa/trust_condition_mismatch": "New",
        "webid-canary/target/too-wide/trust_open": "New",
    }
    failing = next(f for f in findings if f.status_code == "failing")
    assert failing.finding_info.desc.startswith(f"{local_issuer.provider_url}:sub: expected {SA}; actual ")
    role, provider = failing.resources
    assert (role.type, role.uid.split(":")[-1]) == ("AwsIamRole", "role/good")
    assert (provider.type, provider.uid.split(":oidc-provider/")[-1]) == (
        "AwsIamOidcProvider",
        local_issuer.provider_url,
    )
    assert probe(registered, "healthy", "--format", "ocsf", ca_file=local_issuer.ca_file).stdout.strip() == "[]"
    both = probe(registered, "--json", "--format", "ocsf", ca_file=local_issuer.ca_file)
    assert (both.returncode, both.stderr.strip()) == (2, "error: usage: give --json or --format ocsf, not both")


def test_probe_of_one_healthy_target_exits_0_with_a_table(
    registered: dict[str, str], local_issuer: LocalIssuer
) -> None:
    result = probe(registered, "healthy", ca_file=local_issuer.ca_file)
    assert result.returncode == 0, result.stderr
    assert "healthy" in result.stdout
    assert "wrong-sa" not in result.stdout


def test_an_unknown_target_is_named_before_any_work(registered: dict[str, str], local_issuer: LocalIssuer) -> None:
    result = probe(registered, "healthy", "nope-not-here", ca_file=local_issuer.ca_file)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(": nope-not-here")
    assert result.stdout == ""


def test_without_a_table_the_setting_is_named(local_issuer: LocalIssuer) -> None:
    result = subprocess.run(
        [str(CLI), "probe"], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: --targets-table: not set (give --targets-table NAME or set WEBID_CANARY_TARGETS_TABLE)\n"
    )


def test_an_unreachable_table_is_one_line_not_a_traceback(local_issuer: LocalIssuer) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [str(CLI), "probe", "--targets-table", "missing"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_probe_summarises_by_cause_and_filters_rows_by_status(
    registered: dict[str, str], local_issuer: LocalIssuer
) -> None:
    result = probe(registered, "--all", "--status", "failing", ca_file=local_issuer.ca_file)
    summary, _, rows = result.stdout.partition("\n\n")
    assert "3 targets (1 failing, 1 open, 1 ok)" in summary
    assert "trust_condition_mismatch" in summary
    assert "trust_open" in summary
    assert "wrong-sa" in rows
    assert "too-wide" not in rows
    assert "healthy" not in rows
    assert "2 target(s) not shown" in rows


def test_piped_rows_are_never_wrapped_or_padded(registered: dict[str, str], local_issuer: LocalIssuer) -> None:
    result = probe(registered, "--all", ca_file=local_issuer.ca_file)
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("wrong-sa")]
    assert row.endswith("'system:serviceaccount:billing:other'.")
    narrow = probe({**registered, "COLUMNS": "60"}, "--all", ca_file=local_issuer.ca_file)
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_a_refused_issuer_is_named_in_the_summary_and_each_row(registered: dict[str, str]) -> None:
    result = subprocess.run([str(CLI), "probe", "--all"], capture_output=True, text=True, timeout=120, env=registered)
    assert result.returncode == 1
    reason = "the issuer could not be fetched: refused: 127.0.0.1 is a loopback address (127.0.0.1); allow with --allow-private"
    assert f"3 x {reason}" in result.stdout
    assert sum(reason in line for line in result.stdout.splitlines()) == 4
