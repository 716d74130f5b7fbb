"""Whatever goes wrong on the command line ends in one line on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "webid-canary"
BARE = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60, env=env or BARE)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("cost", "--targets", "abc"), "error: Invalid value for '--targets': 'abc' is not a valid integer."),
        (("no-such-command",), "error: No such command 'no-such-command'."),
        (("probe",), "error: Missing option '--targets-table'."),
        (("probe", "--targets-table", "t"), "error: aws: You must specify a region."),
    ],
)
def test_usage_and_environment_errors_are_one_line(args: tuple[str, ...], says: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(says)


def test_no_credentials_is_said_plainly(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {
        **BARE,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = run("probe", "--targets-table", "t", env=env)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "credentials" in result.stderr.lower()


def test_help_still_works() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "explain" in result.stdout
