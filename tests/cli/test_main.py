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


NO_REGION = (
    "error: aws: no AWS region set (set AWS_REGION or AWS_DEFAULT_REGION, give the profile a region, or pass --region)"
)
NO_CREDENTIALS = (
    "error: aws: no AWS credentials found "
    "(set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile)"
)
# Every command that reads AWS, as a person would first run it.
AWS_COMMANDS = [
    ("probe", "--all", "--targets-table", "t"),
    ("drift", "--all"),
    ("list", "--targets-table", "t"),
    ("show", "some-target", "--targets-table", "t"),
    ("discover",),
    ("remove", "some-target", "--targets-table", "t"),
    ("enable", "some-target", "--targets-table", "t"),
]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("cost", "--targets", "abc"), "error: Invalid value for '--targets': 'abc' is not a valid integer."),
        (("no-such-command",), "error: No such command 'no-such-command'."),
        (
            ("probe",),
            "error: --targets-table: not set (give --targets-table NAME or set WEBID_CANARY_TARGETS_TABLE)",
        ),
    ],
)
def test_usage_and_environment_errors_are_one_line(args: tuple[str, ...], says: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(says)


@pytest.mark.parametrize("args", [a for a in AWS_COMMANDS if a[0] not in {"discover", "drift"}], ids=lambda a: a[0])
# IAM is global: discover and drift need no region, so they meet the missing credentials first.
def test_no_region_is_the_same_words_and_status_in_every_command(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert (result.returncode, result.stderr.strip()) == (2, NO_REGION)


@pytest.mark.parametrize("args", AWS_COMMANDS, ids=lambda a: a[0])
def test_no_credentials_is_the_same_words_and_status_in_every_command(args: tuple[str, ...], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {
        **BARE,
        "AWS_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = run(*args, env=env)
    assert (result.returncode, result.stderr.strip()) == (2, NO_CREDENTIALS)


@pytest.mark.parametrize(
    "args",
    [
        ("--debug", "--region", "eu-west-1", "--json", "cost", "--targets", "10", "--providers", "2"),
        ("cost", "--targets", "10", "--providers", "2", "--json", "--region", "eu-west-1", "--debug"),
        ("cost", "--region=eu-west-1", "--targets", "10", "--providers", "2", "--json"),
    ],
)
def test_global_options_work_before_or_after_the_command_name(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert '"schema": "webid-canary/cost/v1"' in result.stdout


def test_help_names_the_exit_statuses_and_the_environment_variables() -> None:
    main_help = run("--help").stdout
    probe_help = run("probe", "--help").stdout
    assert all(f"  {code}  " in main_help for code in "0123")
    assert "WEBID_CANARY_TARGETS_TABLE" in probe_help
    assert "required" not in probe_help


def test_aws_region_alone_is_enough(tmp_path: Path) -> None:
    env = {**BARE, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = run("list", "--targets-table", "t", env=env)
    assert "region" not in result.stderr


def test_help_still_works() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "explain" in result.stdout
