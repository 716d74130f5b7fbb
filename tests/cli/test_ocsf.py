"""OCSF output: Detection Findings that py-ocsf-models reads back, one per subject and root cause, with the
Security Hub finding's Id, resolved when an earlier problem no longer holds, documented in docs/ocsf.md."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from tests.doubles import MemoryState
from tests.functional.test_reporter import ALLOW, DENY_AUD, DENY_SUB, T0, TOPIC, Inbox, cycle
from tests.json_docs import shape_differences
from webid_canary.adapters.state_table import StateTable
from webid_canary.app.reporting import Reporter
from webid_canary.cli import ocsf
from webid_canary.cli.report import report
from webid_canary.core.catalogue import lookup
from webid_canary.core.state import StateRecord, Status
from webid_canary.local.aws import LocalAws
from webid_canary.local.seed import Seeder

PROBE_FILE = Path(__file__).parents[1] / "data" / "report" / "probe.json"
PROBE = json.loads(PROBE_FILE.read_text())
DOC = Path(__file__).parents[2] / "docs" / "ocsf.md"


def _findings(text: str) -> list[DetectionFinding]:
    document = json.loads(text)
    assert isinstance(document, list)
    return [DetectionFinding.model_validate(item) for item in document]


def _report(*args: str) -> Any:
    return CliRunner().invoke(report, list(args))


def test_a_probe_file_gives_one_finding_per_problem_read_back_by_py_ocsf_models(tmp_path: Path) -> None:
    out = tmp_path / "findings.ocsf.json"

    result = _report("--from-probe", str(PROBE_FILE), "--ocsf", str(out))

    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 6 OCSF findings (0 resolved)" in result.output
    findings = {f.finding_info.uid: f for f in _findings(out.read_text())}
    assert set(findings) == {
        "webid-canary/target/payments-deploy/trust_condition_mismatch",
        "webid-canary/target/ledger-deploy/trust_open",
        "webid-canary/target/reports-etl/check_error",
        "webid-canary/target/search-indexer/provider_audience_not_registered",
        "webid-canary/target/billing-cron/trust_condition_mismatch",
        "webid-canary/provider/auth.acme.example/certificate_expiring",
    }
    for finding in findings.values():
        assert (finding.class_uid, finding.category_uid, finding.type_uid) == (2004, 2, 200401)
        assert (finding.status_id, finding.status, finding.activity_id) == (1, "New", 1)
        assert finding.metadata.product.name == "webid-canary"
        assert finding.time == int(datetime.fromisoformat(PROBE["finished"]).timestamp() * 1000)
    failing = findings["webid-canary/target/payments-deploy/trust_condition_mismatch"]
    assert failing.finding_info.title == "A trust policy condition is false"
    assert failing.finding_info.desc.startswith("token.actions.githubusercontent.com:sub: expected ")
    assert (failing.severity_id, failing.severity) == (4, "High")
    assert PROBE["targets"][1]["verdict"]["remedy"] == ""  # no verdict remedy here: the catalogue's fix
    assert failing.remediation.desc == lookup("trust_condition_mismatch").remedy
    assert [(r.type, r.uid) for r in failing.resources] == [
        ("AwsIamRole", "arn:aws:iam::123456789012:role/payments-deploy"),
        ("AwsIamOidcProvider", "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"),
    ]
    assert (failing.cloud.provider, failing.cloud.account.uid) == ("AWS", "123456789012")
    opened = findings["webid-canary/target/ledger-deploy/trust_open"]
    assert opened.finding_info.types == ["Effects/Data Exposure"]
    assert opened.remediation.desc.startswith("Pin the sub condition")  # the catalogue's fix, not the allow's
    assert opened.severity_id == 5
    drift = findings["webid-canary/provider/auth.acme.example/certificate_expiring"]
    assert "thumbprint_changed" in drift.finding_info.desc and "certificate_expiring" in drift.finding_info.desc
    assert drift.severity == "High"  # its worst serious finding
    assert [r.uid for r in drift.resources] == ["arn:aws:iam::123456789012:oidc-provider/auth.acme.example"]
    assert findings["webid-canary/target/reports-etl/check_error"].cloud.account.uid == "210987654321"


def test_html_and_ocsf_come_from_one_read(tmp_path: Path) -> None:
    result = _report(
        "--from-probe", str(PROBE_FILE), "--ocsf", str(tmp_path / "f.json"), "--html", str(tmp_path / "f.html")
    )

    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.html").read_text().startswith("<!doctype html>")
    assert len(_findings((tmp_path / "f.json").read_text())) == 6


def test_problems_of_an_earlier_cycle_that_no_longer_hold_are_resolved(tmp_path: Path) -> None:
    earlier = copy.deepcopy(PROBE)
    healthy = next(t for t in earlier["targets"] if t["target_id"] == "gitlab-infra")
    healthy.update(status="failing", root_cause="trust_condition_mismatch")
    (tmp_path / "earlier.json").write_text(json.dumps(earlier))
    out = tmp_path / "f.json"

    result = _report("--from-probe", str(PROBE_FILE), "--previous", str(tmp_path / "earlier.json"), "--ocsf", str(out))

    assert result.exit_code == 0, result.output
    assert "7 OCSF findings (1 resolved)" in result.output
    (resolved,) = [f for f in _findings(out.read_text()) if f.status_id == 4]
    assert resolved.finding_info.uid == "webid-canary/target/gitlab-infra/trust_condition_mismatch"
    assert (resolved.status, resolved.activity_id, resolved.type_uid) == ("Resolved", 3, 200403)
    assert resolved.severity_id == 1


def test_the_uid_is_the_security_hub_finding_id_while_open_and_once_resolved() -> None:
    class Hub:
        product_arn = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"

        def __init__(self) -> None:
            self.imported: list[dict[str, Any]] = []

        def import_findings(self, findings: list[dict[str, Any]]) -> None:
            self.imported += findings

    state, inbox = MemoryState(), Inbox()
    cycles = [cycle(DENY_SUB, drift=True), cycle(DENY_AUD, drift=True), cycle(ALLOW)]
    problems: list[list[ocsf.Problem]] = []
    for minutes, found in enumerate(cycles):
        hub = Hub()
        Reporter(state, inbox, default_topic=TOPIC, reminder_after=timedelta(hours=6), findings=hub).report(
            found, now=T0 + timedelta(minutes=5 * minutes)
        )
        now_open = ocsf.cycle_problems(found.to_json(), found.finished)
        resolved = ocsf.resolved_since(problems[-1], now_open) if problems else []
        problems.append(now_open)
        asff = {(f["Id"], f["Workflow"]["Status"]) for f in hub.imported}
        remedies = {f["Id"]: f["Remediation"]["Recommendation"]["Text"] for f in hub.imported}
        assert all(remedies.get(p.uid, p.remedy) == p.remedy for p in now_open)
        ours = {(p.uid, "RESOLVED" if p.resolved else "NEW") for p in now_open + resolved}
        if minutes == 1:
            assert asff <= ours  # a changed key of the same cause is re-imported; OCSF states it once more too
        else:
            assert asff == ours
    assert {uid for uid, _ in asff} == {
        "webid-canary/target/invoice-worker/trust_condition_mismatch",
        "webid-canary/provider/oidc.example.com/thumbprint_mismatch",
    }


def test_the_state_table_gives_first_seen_from_since(aws: LocalAws, seed: Seeder, tmp_path: Path) -> None:
    _, state_table = seed.tables()
    table = StateTable(aws.client("dynamodb"), state_table)
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    for target in PROBE["targets"]:
        assert table.put(
            StateRecord(f"target#{target['target_id']}", Status(target["status"]), since, None, since, target),
            expected_version=None,
        )
    out = tmp_path / "f.json"

    result = _report("--state-table", state_table, "--ocsf", str(out))

    assert result.exit_code == 0, result.output
    findings = _findings(out.read_text())
    assert len(findings) == 5
    assert {f.finding_info.first_seen_time for f in findings} == {int(since.timestamp() * 1000)}
    assert all(f.time > f.finding_info.first_seen_time for f in findings)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from-probe", str(PROBE_FILE)], "error: output: missing: --html FILE or --ocsf FILE"),
        (
            ["--from-probe", str(PROBE_FILE), "--html", "{d}/f.html", "--previous", str(PROBE_FILE)],
            "error: previous: only with --ocsf",
        ),
        (
            ["--from-probe", "{d}/odd.json", "--ocsf", "{d}/f.json"],
            "error: probe: targets[0].root_cause: 'made_up' is not a code webid-canary reports",
        ),
        (
            ["--from-probe", str(PROBE_FILE), "--previous", "{d}/none.json", "--ocsf", "{d}/f.json"],
            "error: previous: cannot read",
        ),
    ],
)
def test_unusable_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    odd = copy.deepcopy(PROBE)
    odd["targets"][0].update(status="failing", root_cause="made_up")
    (tmp_path / "odd.json").write_text(json.dumps(odd))

    result = _report(*[a.format(d=tmp_path) for a in args])

    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(says), result.stderr
    assert not (tmp_path / "f.json").exists() and not (tmp_path / "f.html").exists()


def _documented() -> list[dict[str, Any]]:
    block = re.search(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert block is not None, "docs/ocsf.md has no json example"
    example = json.loads(block.group(1))
    assert isinstance(example, list)
    return example


def test_the_documented_example_is_a_detection_finding_shaped_as_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the example's region
    (example,) = _documented()
    DetectionFinding.model_validate(example)
    out = tmp_path / "f.json"
    assert _report("--from-probe", str(PROBE_FILE), "--ocsf", str(out)).exit_code == 0
    failing = next(f for f in json.loads(out.read_text()) if f["status_code"] == "failing")
    assert shape_differences(example, failing) == []
    assert shape_differences(example["finding_info"], failing["finding_info"]) == []
    assert example["metadata"]["version"] == failing["metadata"]["version"]


def test_the_documented_mapping_names_every_field_the_output_sets(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    assert _report("--from-probe", str(PROBE_FILE), "--ocsf", str(out)).exit_code == 0
    table = DOC.read_text(encoding="utf-8").split("## Field mapping", 1)[1].split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([a-z_.]+)`", cell)}
    written = {
        f"{key}.{inner}" if isinstance(value, dict) and key in {"finding_info", "metadata", "remediation"} else key
        for finding in json.loads(out.read_text())
        for key, value in finding.items()
        for inner in (value if isinstance(value, dict) else [None])
    }
    assert written <= documented, sorted(written - documented)
