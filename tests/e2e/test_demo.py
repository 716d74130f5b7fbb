"""The demo story, run as a person runs it (`webid-canary demo --json`), checked cycle by cycle."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webid_canary.cli.demo import DEMO_CLIENT_SECRET
from webid_canary.local.faults import SecretScanner
from webid_canary.local.npm_provider import unavailable_reason

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "webid-canary"
PROBLEM_EVENTS = {"failing", "open", "error", "drift", "changed"}


# The live probe's client secret for this run, so that the logs can be searched for it.
CLIENT_SECRET = "demo_client_secret-for-the-log-scan-4f1c9a7e"
CREDENTIAL_VALUE = re.compile(r"(SecretAccessKey|SessionToken)\W{1,4}(?!<redacted>)[A-Za-z0-9/+=]{16,}")


@pytest.fixture(scope="module")
def demo_run() -> subprocess.CompletedProcess[str]:
    """One run of the whole demo, with the root logger at DEBUG on stderr (the story's JSON on stdout)."""
    args = [str(CLI), "demo", "--json", "--debug-logs"]
    if unavailable_reason() is not None:
        args.append("--no-live-probe")
    environment = {**os.environ, DEMO_CLIENT_SECRET: CLIENT_SECRET}
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def story(demo_run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(demo_run.stdout)
    return document


# What each chapter must show, written here (not taken from the demo): subject -> root cause, others healthy.
# Providers are named by role, since their loopback ports change from run to run.
EXPECTED: dict[str, dict[str, str]] = {
    "All healthy": {},
    "A trust policy is edited to the wrong service account": {"invoice-worker": "trust_condition_mismatch"},
    "The trust policy is put back": {},
    "A real workload is refused: the trust policy now names another namespace": {
        "invoice-worker": "trust_condition_mismatch"
    },
    "The trust policy is put back again": {},
    "The GitHub-style provider's client ID sts.amazonaws.com is removed": {
        "deploy": "provider_audience_not_registered",
        "github provider": "client_ids_changed",
    },
    "The client ID is added back": {},
    "The EKS-style issuer's intermediate certificate is rotated (private CA)": {
        "invoice-worker": "provider_thumbprint_mismatch",
        "eks provider": "thumbprint_mismatch",
    },
    "The provider is updated with the new thumbprint": {},
    "The EKS-style IAM OIDC provider is deleted": {
        "invoice-worker": "provider_not_found",
        "eks provider": "provider_deleted",
    },
    "The provider is created again as it was": {},
    "The deploy role's trust policy is opened to any repository": {"deploy": "trust_open"},
    "The trust policy is pinned to one repository again": {},
    "The live probe's client secret is changed under it": {"batch-job": "check_error"},
    "The secret is repaired": {},
}


def provider_name(url: str) -> str:
    if url.endswith("/github"):
        return "github provider"
    if "/id/" in url:
        return "eks provider"
    return "npm provider"


def subjects(cycle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**cycle["targets"], **{provider_name(url): entry for url, entry in cycle["providers"].items()}}


def test_every_break_is_seen_with_its_root_cause(story: dict[str, Any]) -> None:
    titles = [cycle["title"] for cycle in story["cycles"]]
    expected_titles = list(EXPECTED) if story["live_probe"] else list(EXPECTED)[:-2]
    assert titles == expected_titles
    for cycle in story["cycles"]:
        seen = {name: entry["root_cause"] for name, entry in subjects(cycle).items()}
        assert set(seen) == {"invoice-worker", "deploy", "mobile-app", "eks provider", "github provider"} | (
            {"batch-job", "npm provider"} if story["live_probe"] else set()
        )
        want = {name: EXPECTED[cycle["title"]].get(name, "none") for name in seen}
        assert seen == want, f"cycle {cycle['cycle']}: {cycle['title']}"


def test_each_break_notifies_once_and_each_repair_brings_a_recovery(story: dict[str, Any]) -> None:
    previous: dict[str, str] = {}
    for cycle in story["cycles"]:
        current = {s: e["root_cause"] for s, e in subjects(cycle).items()}
        expected = set()
        for subject, cause in current.items():
            before = previous.get(subject, "none")
            if before == "none" and cause != "none":
                expected.add((subject, "problem", cause))
            elif before != "none" and cause == "none":
                expected.add((subject, "recovered", before))
            elif before != cause:
                expected.add((subject, "changed", cause))
        got = set()
        # A refusal a real workload met is announced by the refusal handler, not the cycle (checked below).
        monitor_notes = [n for n in cycle["notifications"] if n["event"] != "refused"]
        for note in monitor_notes:
            subject = note["target_id"] or provider_name(note["provider_url"])
            kind = "recovered" if note["event"] == "recovered" else "problem"
            kind = "changed" if note["event"] == "changed" else kind
            assert note["event"] in PROBLEM_EVENTS | {"recovered"}
            got.add((subject, kind, note["root_cause"]))
        assert len(got) == len(monitor_notes), f"cycle {cycle['cycle']}: a notice was repeated"
        assert got == expected, f"cycle {cycle['cycle']} ({cycle['title']})"
        previous = current


def test_alarms_follow_the_story(story: dict[str, Any]) -> None:
    by_title = {c["title"]: c for c in story["cycles"]}
    healthy = by_title["All healthy"]["alarms"]
    assert healthy and set(healthy.values()) == {"OK"}
    broken = by_title["A trust policy is edited to the wrong service account"]["alarms"]
    assert [name for name, state in broken.items() if state == "ALARM"] == ["WebIdCanary-TargetsFailing"]
    rotated = by_title["The EKS-style issuer's intermediate certificate is rotated (private CA)"]["alarms"]
    assert {name for name, state in rotated.items() if state == "ALARM"} == {
        "WebIdCanary-TargetsFailing",
        "WebIdCanary-ProviderDrift",
    }
    opened = by_title["The deploy role's trust policy is opened to any repository"]["alarms"]
    assert [name for name, state in opened.items() if state == "ALARM"] == ["WebIdCanary-TrustOpen"]
    if story["live_probe"]:
        broken = by_title["The live probe's client secret is changed under it"]["alarms"]
        assert [name for name, state in broken.items() if state == "ALARM"] == ["WebIdCanary-TargetsInError"]
    assert set(story["cycles"][-1]["alarms"].values()) == {"OK"}


def test_the_failing_notice_tells_a_person_what_to_change(story: dict[str, Any]) -> None:
    cycle = next(c for c in story["cycles"] if c["title"].startswith("A trust policy is edited"))
    (note,) = cycle["notifications"]
    assert note["email_subject"].startswith("[webid-canary] FAILING: invoice-worker")
    assert "invoice-wroker" in note["text"]
    assert "system:serviceaccount:billing:invoice-worker" in note["text"]
    assert ":sub" in note["text"]


def test_a_deleted_provider_is_reported_by_the_monitor_and_recovers_when_recreated(story: dict[str, Any]) -> None:
    by_title = {c["title"]: c for c in story["cycles"]}
    deleted = by_title["The EKS-style IAM OIDC provider is deleted"]
    (eks,) = [entry for url, entry in deleted["providers"].items() if provider_name(url) == "eks provider"]
    assert eks["status"] == "drift"
    assert {"provider_deleted", "provider_missing"} <= set(eks["findings"])
    (notice,) = [n for n in deleted["notifications"] if n["provider_url"]]
    assert (notice["event"], notice["root_cause"], notice["severity"]) == ("drift", "provider_deleted", "critical")
    assert "provider_missing" in notice["text"] and "invoice-worker" in notice["text"]
    assert deleted["alarms"]["WebIdCanary-ProviderDrift"] == "ALARM"
    recreated = by_title["The provider is created again as it was"]
    assert {(n["event"], n["root_cause"]) for n in recreated["notifications"]} == {
        ("recovered", "provider_deleted"),
        ("recovered", "provider_not_found"),
    }


def test_the_live_probe_went_through_the_strict_sts(story: dict[str, Any]) -> None:
    if not story["live_probe"]:
        pytest.skip(f"the npm OpenID provider is unavailable: {unavailable_reason()}")
    first = story["cycles"][0]
    assert first["targets"]["batch-job"]["status"] == "ok"
    broken = next(c for c in story["cycles"] if "client secret" in c["title"])
    assert broken["targets"]["batch-job"]["status"] == "error"
    assert "token" in (broken["targets"]["batch-job"]["error"] or "")


def test_the_story_ran_against_the_stack_cdk_deployed(story: dict[str, Any]) -> None:
    assert story["stack"] == "cdk deploy (rehearsal)"


def test_every_notice_of_the_story_also_reached_an_eventbridge_rule(story: dict[str, Any]) -> None:
    seen_any = False
    for cycle in story["cycles"]:
        # The monitor's notices and the refusal handler's alike.
        notices = {(n["transition_id"], n["event"], n["root_cause"]) for n in cycle["notifications"]}
        events = {(e["transition_id"], e["event"], e["root_cause"]) for e in cycle["events"]}
        assert events == notices, f"cycle {cycle['cycle']} ({cycle['title']})"
        for event in cycle["events"]:
            if event["event"] == "refused":
                assert event["detail_type"] == "Workload Refused"
                continue
            subject = "Provider" if event["detail_type"].startswith("Provider") else "Target"
            assert event["detail_type"] == f"{subject} {event['event'].title()}"
            seen_any = True
    refused = [e for c in story["cycles"] for e in c["events"] if e["event"] == "refused"]
    assert [e["root_cause"] for e in refused] == ["trust_condition_mismatch"]
    assert seen_any


def test_security_hub_holds_each_problem_as_a_finding_resolved_when_it_clears(story: dict[str, Any]) -> None:
    by_title = {c["title"]: c for c in story["cycles"]}
    assert by_title["All healthy"]["findings"] == {}
    broken = by_title["A trust policy is edited to the wrong service account"]["findings"]
    (finding_id,) = [i for i in broken if i.startswith("webid-canary/target/invoice-worker/")]
    assert finding_id.endswith("/trust_condition_mismatch")
    assert broken[finding_id]["workflow"] == "NEW" and broken[finding_id]["record_state"] == "ACTIVE"
    assert broken[finding_id]["severity"] == "CRITICAL"
    mended = by_title["The trust policy is put back"]["findings"][finding_id]
    assert (mended["workflow"], mended["record_state"]) == ("RESOLVED", "ARCHIVED")
    drifted = by_title["The EKS-style issuer's intermediate certificate is rotated (private CA)"]["findings"]
    assert any(i.startswith("webid-canary/provider/") and i.endswith("/thumbprint_mismatch") for i in drifted)
    last = story["cycles"][-1]["findings"]
    assert {f["record_state"] for f in last.values()} == {"ARCHIVED"}


def test_the_story_json_names_its_schema_and_has_its_documented_shape(story: dict[str, Any]) -> None:
    from tests.json_docs import documented, shape_differences

    example = documented()["demo"]
    assert story["schema"] == example["schema"] == "webid-canary/demo/v1"
    assert shape_differences(example, story) == []


def test_a_real_workloads_refusal_is_announced_with_why_before_the_cycle_notices(story: dict[str, Any]) -> None:
    refused = [n for c in story["cycles"] for n in c["notifications"] if n["event"] == "refused"]
    cycle = next(c for c in story["cycles"] if c["title"].startswith("A real workload is refused"))
    assert [n["event"] for n in cycle["notifications"]] == ["refused", "failing"]
    assert refused == [cycle["notifications"][0]]
    (note,) = refused
    assert note["role_arn"].endswith(":role/invoice-worker")
    assert note["root_cause"] == "trust_condition_mismatch"
    assert note["email_subject"].startswith("[webid-canary] REFUSED BY STS: invoice-worker")
    assert "system:serviceaccount:billing:invoice-worker" in note["text"]  # the logged subject
    assert "system:serviceaccount:billing-v2:invoice-worker" in note["text"]  # what the policy wants
    assert "CloudTrail" in note["text"]


def test_the_whole_demo_logged_at_debug_shows_no_token_client_secret_or_credential(
    demo_run: subprocess.CompletedProcess[str], story: dict[str, Any]
) -> None:
    logs = demo_run.stderr
    assert '"level":"DEBUG"' in logs, "the function did not log at DEBUG: the scan would prove nothing"
    assert "debug: target checked" in logs
    if story["live_probe"]:
        assert "batch-job" in logs
    assert SecretScanner([CLIENT_SECRET]).findings(logs) == []
    assert not CREDENTIAL_VALUE.search(logs)


# The organization's cycles, at the end of the run: the stack synthesized with -c organization=true, its state
# machine executed for real over three member accounts; then one account's reader role stops trusting the
# monitor and a deploy role of another account trusts another repository.
ORGANIZATION_TITLES = [
    "Organization: three member accounts, one Step Functions execution",
    "Organization: the data account's reader role stops trusting the monitor; "
    "a payments deploy role's trust policy is edited",
]


def member_accounts(cycle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry | {"id": account} for account, entry in cycle["accounts"].items()}


def test_the_organization_is_checked_by_one_execution_per_cycle(story: dict[str, Any]) -> None:
    cycles = story["organization"]
    assert [c["title"] for c in cycles] == ORGANIZATION_TITLES
    for cycle in cycles:
        execution = cycle["execution"]
        assert execution["status"] == "SUCCEEDED", execution
        assert execution["steps"] == ["plan", "issuer", "shard", "report"]
        assert (execution["output"]["shards"], execution["output"]["shards_failed"]) == (1, 0)
    healthy = cycles[0]
    accounts = member_accounts(healthy)
    assert set(accounts) == {"monitor", "payments", "data", "web"}
    assert all(entry["failed"] is None for entry in accounts.values())
    assert {name: entry["targets"] for name, entry in accounts.items() if name != "monitor"} == {
        name: {"ok": 2} for name in ("payments", "data", "web")
    }
    assert {t: e["status"] for t, e in healthy["targets"].items()} == {
        f"{name}-deploy-{n}": "ok" for name in ("payments", "data", "web") for n in range(2)
    }
    assert healthy["notifications"] == []
    assert "ALARM" not in healthy["alarms"].values()
    # The organization stack's own alarms, evaluated on the report step's metrics.
    assert {"WebIdCanary-ShardsFailed", "WebIdCanary-ExecutionsFailed"} <= set(healthy["alarms"])


def test_the_broken_account_is_named_with_its_reason_and_the_others_still_checked(story: dict[str, Any]) -> None:
    broken = story["organization"][1]
    accounts = member_accounts(broken)
    data = accounts["data"]
    assert data["failed"].startswith(f"not checked this cycle: account {data['id']} could not be read")
    assert "AccessDenied" in data["failed"] and "webid-canary-reader" in data["failed"]
    assert accounts["payments"]["failed"] is None and accounts["web"]["failed"] is None
    assert accounts["payments"]["targets"] == {"ok": 1, "failing": 1}
    statuses = {t: (e["status"], e["root_cause"]) for t, e in broken["targets"].items()}
    assert statuses == {
        "data-deploy-0": ("error", "check_error"),
        "data-deploy-1": ("error", "check_error"),
        "payments-deploy-0": ("ok", "none"),
        "payments-deploy-1": ("failing", "trust_condition_mismatch"),
        "web-deploy-0": ("ok", "none"),
        "web-deploy-1": ("ok", "none"),
    }
    failing = broken["targets"]["payments-deploy-1"]
    assert failing["condition_key"].endswith(":sub")
    assert failing["expected"] == ["repo:acme/payments-service-9:ref:refs/heads/main"]
    assert failing["actual"] == ["repo:acme/payments-service-1:ref:refs/heads/main"]
    assert data["id"] in broken["targets"]["data-deploy-0"]["error"]
    notices = {(n["target_id"], n["event"], n["root_cause"]) for n in broken["notifications"]}
    assert notices == {
        ("data-deploy-0", "error", "check_error"),
        ("data-deploy-1", "error", "check_error"),
        ("payments-deploy-1", "failing", "trust_condition_mismatch"),
    }
    assert {name for name, state in broken["alarms"].items() if state == "ALARM"} == {
        "WebIdCanary-TargetsFailing",
        "WebIdCanary-TargetsInError",
    }
