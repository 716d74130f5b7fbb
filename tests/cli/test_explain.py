"""The explain command: inputs, the JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webid_canary.cli.explain import explain

EXAMPLE = json.loads((Path(__file__).parents[1] / "unit" / "cases" / "providers.json").read_text())
GITHUB_DENY = next(c for c in EXAMPLE if c["id"] == "github-pull-request")
CONTRACT_KEYS = {
    "schema",
    "outcome",
    "error_code",
    "message",
    "root_cause",
    "condition_key",
    "condition_operator",
    "expected",
    "actual",
    "actual_from",
    "unknown_keys",
    "unchecked",
    "missing",
    "hints",
    "explanation",
    "remedy",
    "remedy_patch",
    "trace",
}
CALLER_CASES = {
    c["id"]: c for c in json.loads((Path(__file__).parents[1] / "unit" / "cases" / "caller.json").read_text())
}
ROOT = Path(__file__).parents[2]


def _write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_case_file_json_follows_the_contract_and_exit_status_is_1_on_deny(tmp_path: Path) -> None:
    result = CliRunner().invoke(explain, ["--case", _write(tmp_path, "c.json", GITHUB_DENY), "--json"])

    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert set(out) == CONTRACT_KEYS
    assert out["schema"] == "webid-canary/explain/v2"
    assert out["root_cause"] == "trust_condition_mismatch"
    assert out["condition_key"] == "token.actions.githubusercontent.com:sub"
    assert out["expected"] == ["repo:acme/payments:ref:refs/heads/main"]
    assert out["actual"] == ["repo:acme/payments:pull_request"]
    assert "github_sub_format" in out["hints"]


def test_indeterminate_exits_3_and_names_the_unknown_key(tmp_path: Path) -> None:
    case = {k: v for k, v in CALLER_CASES["caller-source-ip-unknown"].items() if k != "caller"}
    result = CliRunner().invoke(explain, ["--case", _write(tmp_path, "c.json", case), "--json"])

    assert result.exit_code == 3
    out = json.loads(result.stdout)
    assert (out["outcome"], out["error_code"], out["unknown_keys"]) == ("indeterminate", None, ["aws:SourceIp"])
    assert "'203.0.113.0/24'" in out["explanation"]


@pytest.mark.parametrize(("address", "status"), [("203.0.113.9", 0), ("2001:db8::1", 0), ("198.51.100.1", 1)])
def test_source_ip_flag_decides_the_ip_condition(tmp_path: Path, address: str, status: int) -> None:
    case = _write(tmp_path, "c.json", CALLER_CASES["caller-source-ip-unknown"])

    result = CliRunner().invoke(explain, ["--case", case, "--source-ip", address])

    assert result.exit_code == status, result.output


def test_a_range_as_source_ip_is_refused_in_one_line(tmp_path: Path) -> None:
    case = _write(tmp_path, "c.json", CALLER_CASES["caller-source-ip-unknown"])

    result = CliRunner().invoke(explain, ["--case", case, "--source-ip", "203.0.113.0/24"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: caller.source_ip: not an IP address: '203.0.113.0/24' (give one address, not a range)"
    ]


@pytest.mark.parametrize(
    ("cases", "case_id", "lines"),
    [
        ("operators", "op-not-like-present", ["  must not match 'system:serviceaccount:billing:*'"]),
        ("wording", "condition-aud-compared-with-azp", ["  actual   'client-app-1' (the token's azp)"]),
    ],
)
def test_human_output_labels_say_what_the_policy_wants(
    tmp_path: Path, cases: str, case_id: str, lines: list[str]
) -> None:
    table = json.loads((Path(__file__).parents[1] / "unit" / "cases" / f"{cases}.json").read_text())
    case = next(c for c in table if c["id"] == case_id)

    result = CliRunner().invoke(explain, ["--case", _write(tmp_path, "c.json", case)])

    assert result.exit_code == 1
    for line in lines:
        assert line in result.stdout.splitlines()


def test_allow_exits_0_and_human_output_is_short_and_plain_when_piped(tmp_path: Path) -> None:
    allow = next(c for c in EXAMPLE if c["id"] == "eks-allow")
    result = CliRunner().invoke(explain, ["--case", _write(tmp_path, "c.json", allow)])

    assert result.exit_code == 0
    assert result.stdout.startswith("ALLOW")
    assert "\x1b[" not in result.stdout
    assert len(result.stdout.splitlines()) <= 4


def test_deny_human_output_names_key_expected_actual_and_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(explain, ["--case", _write(tmp_path, "c.json", GITHUB_DENY), "--trace"])

    assert result.exit_code == 1
    text = result.stdout
    assert "DENY   AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity" in text
    assert "key    token.actions.githubusercontent.com:sub" in text
    assert "'repo:acme/payments:pull_request'" in text
    assert "fix    " in text and "trace" in text


def test_pieces_in_separate_files_with_a_raw_token(tmp_path: Path) -> None:
    claims = dict(GITHUB_DENY["token_claims"], sub="repo:acme/payments:ref:refs/heads/main")
    token = jwt.encode(claims, "k" * 32, algorithm="HS256")
    args = [
        "--trust-policy", _write(tmp_path, "tp.json", GITHUB_DENY["trust_policy"]),
        "--token", _write(tmp_path, "t.jwt", token + "\n"),
        "--provider", _write(tmp_path, "p.json", GITHUB_DENY["oidc_provider"]),
        "--now", GITHUB_DENY["now"],
        "--session-name", "deploy-payments",
        "--duration", "900",
        "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(explain, args)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["root_cause"] == "none"
    assert token not in result.output


def test_pieces_with_claims_and_no_provider_say_the_provider_was_not_given(tmp_path: Path) -> None:
    args = [
        "--trust-policy", _write(tmp_path, "tp.json", GITHUB_DENY["trust_policy"]),
        "--claims", _write(tmp_path, "c.json", GITHUB_DENY["token_claims"]),
        "--now", GITHUB_DENY["now"],
        "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(explain, args)
    assert result.exit_code == 3  # the answer rests on an input that was not given
    document = json.loads(result.stdout)
    assert document["root_cause"] == "provider_not_found"
    assert "oidc_provider" in document["missing"]


@pytest.mark.parametrize(
    ("args", "files", "field"),
    [
        (["--case", "{d}/missing.json"], {}, "error: case: cannot read"),
        (["--case", "{d}/bad.json"], {"bad.json": "{not json"}, "error: case: not JSON"),
        (
            ["--case", "{d}/c.json"],
            {"c.json": '{"role_arn": "arn:aws:iam::1:role/r", "now": "2026-01-01T00:00:00Z"}'},
            "error: trust_policy: missing",
        ),
        (
            ["--case", "{d}/c.json"],
            {
                "c.json": '{"role_arn": "arn:aws:iam::1:role/r", "trust_policy": {"Statement": []}, "now": "2026-01-01T00:00:00Z"}'
            },
            "error: token_claims: missing",
        ),
        (
            ["--case", "{d}/c.json"],
            {"c.json": '{"role_arn": "arn:aws:iam::1:role/r", "trust_policy": "nope", "token_claims": {}}'},
            "error: trust_policy: not JSON",
        ),
        (["--case", "{d}/c.json", "--now", "yesterday"], {"c.json": "{}"}, "error: now: not an ISO-8601"),
        ([], {}, "error: trust_policy: missing"),
        (["--no-such-option"], {}, "error: usage: No such option"),
        (["--duration", "soon"], {}, "error: usage:"),
    ],
)
def test_unusable_input_exits_2_with_one_line_on_stderr(
    tmp_path: Path, args: list[str], files: dict[str, str], field: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(explain, [a.format(d=tmp_path) for a in args])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(field)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_garbage_case_files_exit_2_with_one_line(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "garbage.json"
    path.write_bytes(garbage)
    result = CliRunner().invoke(explain, ["--case", str(path), "--json"])

    assert result.exit_code in (1, 2) if garbage.strip().startswith(b"{") else result.exit_code == 2
    if result.exit_code == 2:
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


@pytest.fixture
def aws(moto: None) -> Any:
    return boto3.client("iam", region_name="us-east-1")


def test_role_arn_and_token_file_read_the_role_and_provider_from_aws(aws: Any, tmp_path: Path) -> None:
    aws.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )
    role = aws.create_role(
        RoleName="deploy",
        AssumeRolePolicyDocument=json.dumps(GITHUB_DENY["trust_policy"]),
        MaxSessionDuration=3600,
    )["Role"]
    token = jwt.encode(GITHUB_DENY["token_claims"], "k" * 32, algorithm="HS256")
    token_file = _write(tmp_path, "token", token)
    base = ["--token-file", token_file, "--now", GITHUB_DENY["now"], "--json"]

    deny = CliRunner().invoke(explain, ["--role-arn", role["Arn"], *base])
    first_failure_wins = CliRunner().invoke(explain, ["--role-arn", role["Arn"], *base, "--duration", "7200"])
    missing = CliRunner().invoke(explain, ["--role-arn", "arn:aws:iam::123456789012:role/nope", *base])

    assert deny.exit_code == 1, deny.output
    assert json.loads(deny.stdout)["condition_key"] == "token.actions.githubusercontent.com:sub"
    assert json.loads(first_failure_wins.stdout)["root_cause"] == "trust_condition_mismatch"
    assert json.loads(missing.stdout)["root_cause"] == "role_not_found"


def test_installed_console_script_runs_explain(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "webid-canary"
    if not script.exists():
        script = ROOT / ".venv" / "bin" / "webid-canary"
    done = subprocess.run(
        [str(script), "explain", "--case", _write(tmp_path, "c.json", GITHUB_DENY), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["root_cause"] == "trust_condition_mismatch"
    bad = subprocess.run(
        [str(script), "explain", "--case", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_malformed_role_arn_is_refused_before_any_aws_call(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "webid-canary"),
            "explain",
            "--role-arn",
            "notanarn",
            "--token-file",
            str(token),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert result.returncode == 2
    assert result.stderr == "error: role_arn: not an IAM role ARN: 'notanarn'\n"


GITHUB = "token.actions.githubusercontent.com"
GITHUB_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::210987654321:oidc-provider/{GITHUB}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{GITHUB}:aud": "sts.amazonaws.com",
                    f"{GITHUB}:sub": "repo:acme/app:ref:refs/heads/main",
                }
            },
        }
    ],
}
GITHUB_CLAIMS = {
    "iss": f"https://{GITHUB}",
    "aud": "sts.amazonaws.com",
    "sub": "repo:acme/app:ref:refs/heads/main",
    "exp": 4102444800,
    "iat": 1700000000,
}
GITHUB_PROVIDER = {"url": GITHUB, "client_ids": ["sts.amazonaws.com"], "thumbprints": ["a" * 40]}


def test_an_allow_that_rests_on_checks_not_made_says_so_in_its_first_line_and_its_json(tmp_path: Path) -> None:
    args = [
        "--trust-policy",
        _write(tmp_path, "p.json", GITHUB_POLICY),
        "--claims",
        _write(tmp_path, "c.json", GITHUB_CLAIMS),
        "--provider",
        _write(tmp_path, "pr.json", GITHUB_PROVIDER),
        "--role-arn",
        "arn:aws:iam::210987654321:role/deploy",
    ]
    text = CliRunner().invoke(explain, args)
    assert text.exit_code == 0, text.output
    first = text.stdout.splitlines()[0]
    assert first.startswith("ALLOW") and "not checked" in first and "signature" in first
    document = json.loads(CliRunner().invoke(explain, [*args, "--json"]).stdout)
    assert {"keys", "signature"} <= set(document["unchecked"])
    assert document["missing"] == []


def test_what_the_command_line_left_out_is_named_as_missing_not_invented(tmp_path: Path) -> None:
    args = [
        "--trust-policy",
        _write(tmp_path, "p.json", GITHUB_POLICY),
        "--claims",
        _write(tmp_path, "c.json", GITHUB_CLAIMS),
    ]
    result = CliRunner().invoke(explain, [*args, "--json"])
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert document["missing"] == ["role_arn", "oidc_provider"]
    assert "NOT-GIVEN" not in result.stdout and "unnamed" not in result.stdout and "123456789012" not in result.stdout
    text = CliRunner().invoke(explain, args).stdout
    assert "missing --role-arn not given" in text and "missing --provider not given" in text
    assert "NOT-GIVEN" not in text
