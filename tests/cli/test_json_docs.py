"""Every --json output names its schema and has the shape docs/json.md documents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.json_docs import documented, shape_differences

CLI = Path(sys.executable).parent / "webid-canary"
BARE = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
# What each command is run with in the sandbox; the demo's output is checked by tests/e2e.
RUNS = {
    "list": "list --json",
    "show": "show deploy --json",
    "discover": "discover --json",
    "probe": "probe --all --json",
    "drift": "drift --all --json",
    "thumbprint": 'thumbprint "$(webid-canary show deploy --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\'issuer\'])")" --json',
    "cost": "cost --targets 50 --providers 5 --json",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("json")
    script = "\n".join(f"webid-canary {args} > {folder}/{command}.json" for command, args in RUNS.items())
    subprocess.run(
        [str(CLI), "sandbox", "--", "bash", "-c", script], env=BARE, timeout=240, check=False, capture_output=True
    )
    return {c: json.loads((folder / f"{c}.json").read_text()) for c in RUNS if (folder / f"{c}.json").stat().st_size}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUNS))
def test_json_output_matches_its_documented_shape(outputs: dict[str, Any], command: str) -> None:
    example = documented()[command]
    output = outputs[command]
    assert output["schema"] == example["schema"] == f"webid-canary/{command}/v1"
    assert next(iter(output)) == "schema"
    assert shape_differences(example, output) == []


def test_every_command_with_json_output_is_documented() -> None:
    assert set(documented()) == {*RUNS, "demo"}
