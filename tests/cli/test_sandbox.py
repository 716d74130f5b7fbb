"""`webid-canary sandbox`: every command can be tried on sample targets without an account."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "webid-canary"
BARE = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}

pytestmark = pytest.mark.slow


def test_a_command_run_in_the_sandbox_sees_the_sample_targets() -> None:
    result = subprocess.run(
        [str(CLI), "sandbox", "--", "webid-canary", "probe", "--all", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=BARE,
    )
    document = json.loads(result.stdout)
    statuses = {t["target_id"]: t["status"] for t in document["targets"]}
    assert document["schema"] == "webid-canary/probe/v1"
    assert statuses == {"invoice-worker": "ok", "deploy": "ok", "report-worker": "failing", "preview-deploy": "open"}
    assert result.returncode == 1, "a problem was found: the probe's status comes through"


def test_print_env_gives_a_second_shell_the_sandbox_until_ctrl_c() -> None:
    with subprocess.Popen(
        [str(CLI), "sandbox", "--print-env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=BARE
    ) as sandbox:
        assert sandbox.stdout is not None
        exports: dict[str, str] = {}
        for line in sandbox.stdout:
            key, _, value = line.strip().removeprefix("export ").partition("=")
            exports[key] = value.strip("'")
            if key == "WEBID_CANARY_TARGETS_TABLE":
                break
        listed = subprocess.run(
            [str(CLI), "list", "--json"], capture_output=True, text=True, timeout=60, env={**BARE, **exports}
        )
        sandbox.send_signal(signal.SIGINT)
        assert sandbox.wait(timeout=60) == 0
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["targets"]) == 4
