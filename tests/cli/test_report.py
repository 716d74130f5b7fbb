"""The report command: one self-contained HTML page from a probe file or the State table, checked in a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from webid_canary.adapters.state_table import StateTable
from webid_canary.cli.main import cli
from webid_canary.cli.report import report
from webid_canary.core.state import StateRecord, Status
from webid_canary.local.aws import LocalAws
from webid_canary.local.seed import Seeder

PROBE_FILE = Path(__file__).parents[1] / "data" / "report" / "probe.json"
PROBE = json.loads(PROBE_FILE.read_text())
WORST_FIRST = ["reports-etl", "billing-cron", "payments-deploy", "search-indexer", "ledger-deploy", "payments-api-prod",
               "gitlab-infra", "mobile-backend", "docs-publish"]  # fmt: skip


class Rows(HTMLParser):
    """The data-target of each target row, in document order, and the sortable tables' state."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.sortable: dict[str, str | None] = {}
        self.sorted_by: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and "data-target" in found:
            self.targets.append(str(found["data-target"]))
        if tag == "table" and "sortable" in str(found.get("class")):
            self.sortable[str(found.get("id"))] = found.get("data-sortable")
        if tag == "th" and "aria-sort" in found:
            self.sorted_by.append(found["aria-sort"])


def _parse(html: str) -> Rows:
    rows = Rows()
    rows.feed(html)
    return rows


def _write_probe(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_a_probe_file_becomes_one_page_with_nothing_fetched_from_the_network(tmp_path: Path) -> None:
    page = tmp_path / "fleet.html"

    result = CliRunner().invoke(report, ["--from-probe", str(PROBE_FILE), "--html", str(page)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {page}: 9 targets, 4 providers"
    html = page.read_text()
    assert _parse(html).targets == WORST_FIRST
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", html), "the page must not load anything"
    assert "<style>" in html and "<script>" in html
    for shown in ("trust_condition_mismatch", "repo:acme/payments:environment:production", "team-billing",
                  "certificate_expiring", ">9</span>"):  # fmt: skip
        assert shown in html


def test_report_is_a_command_of_the_cli(tmp_path: Path) -> None:
    page = tmp_path / "fleet.html"

    listed = CliRunner().invoke(cli, ["--help"])
    written = CliRunner().invoke(cli, ["report", "--from-probe", str(PROBE_FILE), "--html", str(page)])

    assert "report " in listed.stdout and "Write the fleet as one HTML page" in listed.stdout
    assert written.exit_code == 0, written.output
    assert page.read_text().startswith("<!doctype html>")


def test_text_from_the_report_is_escaped(tmp_path: Path) -> None:
    document = json.loads(json.dumps(PROBE))
    document["targets"][0]["owner"] = "<script>alert(1)</script>"
    page = tmp_path / "fleet.html"

    result = CliRunner().invoke(report, ["--from-probe", _write_probe(tmp_path, document), "--html", str(page)])

    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1


@pytest.mark.parametrize(
    ("args", "probe", "says"),
    [
        ([], None, "error: input: missing: --from-probe FILE or --state-table NAME"),
        (["--from-probe", "{d}/none.json"], None, "error: probe: cannot read"),
        (["--from-probe", "{d}/probe.json"], "{not json", "error: probe: not JSON"),
        (["--from-probe", "{d}/probe.json"], {"targets": []}, "error: probe: finished: expected an ISO-8601 instant"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], probe: Any, says: str
) -> None:
    monkeypatch.delenv("WEBID_CANARY_STATE_TABLE", raising=False)
    if probe is not None:
        (tmp_path / "probe.json").write_text(probe if isinstance(probe, str) else json.dumps(probe))

    result = CliRunner().invoke(report, [*[a.format(d=tmp_path) for a in args], "--html", str(tmp_path / "r.html")])

    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(says)
    assert not (tmp_path / "r.html").exists()


def test_the_state_table_gives_since_and_the_last_transitions(aws: LocalAws, seed: Seeder, tmp_path: Path) -> None:
    _, state_table = seed.tables()
    table = StateTable(aws.client("dynamodb"), state_table)
    since = datetime.now(UTC) - timedelta(hours=5)
    for offset, target in enumerate(PROBE["targets"]):
        moment = since + timedelta(minutes=offset)
        key = f"target#{target['target_id']}"
        assert table.put(
            StateRecord(key, Status(target["status"]), moment, None, moment, target), expected_version=None
        )
    for provider in PROBE["providers"]:
        record = StateRecord(f"provider#{provider['url']}", Status(provider["status"]), since, None, None, provider)
        assert table.put(record, expected_version=None)
    page = tmp_path / "fleet.html"

    result = CliRunner().invoke(report, ["--state-table", state_table, "--html", str(page)])

    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert _parse(html).targets == WORST_FIRST
    assert f"State table {state_table}" in html
    transitions = html.split('id="changes"')[1]
    assert transitions.count('<tr class="change">') == 13
    first_change = re.search(r'<tr class="change">.*?<code>(.*?)</code>', transitions, re.DOTALL)
    assert first_change is not None and first_change[1] == PROBE["targets"][-1]["target_id"]


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not installed, so the report cannot be checked in a browser: `make test` installs it "
            "with apt-get when run as root, or run `apt-get install chromium`"
        )
    return found


def _browser(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_the_page_in_a_real_browser_has_its_rows_and_sorts_them(tmp_path: Path) -> None:
    page = tmp_path / "fleet.html"
    assert CliRunner().invoke(report, ["--from-probe", str(PROBE_FILE), "--html", str(page)]).exit_code == 0

    as_written = _browser("--dump-dom", page.as_uri(), profile=tmp_path / "a")
    by_target = _browser("--dump-dom", page.as_uri() + "#sort=target", profile=tmp_path / "b")
    by_owner = _browser("--dump-dom", page.as_uri() + "#sort=owner-desc", profile=tmp_path / "c")
    shot = _browser(
        "--window-size=1400,1000", f"--screenshot={tmp_path / 'fleet.png'}", page.as_uri(), profile=tmp_path / "d"
    )

    assert as_written.returncode == 0, as_written.stderr[-2000:]
    dom = _parse(as_written.stdout)
    assert dom.targets == WORST_FIRST
    assert dom.sortable == {"target-table": "ready", "provider-table": "ready"}, "the sort script did not run"
    assert _parse(by_target.stdout).targets == sorted(WORST_FIRST)
    assert _parse(by_target.stdout).sorted_by == ["ascending"]
    owners = [
        next(t["owner"] for t in PROBE["targets"] if t["target_id"] == i) for i in _parse(by_owner.stdout).targets
    ]
    assert owners == sorted(owners, reverse=True)
    assert shot.returncode == 0, shot.stderr[-2000:]
    png = (tmp_path / "fleet.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 1400 and int.from_bytes(png[20:24], "big") == 1000
