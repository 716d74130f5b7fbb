"""`webid-canary trail`: AWS-shaped records in, explain-contract verdicts out, one per distinct refusal."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from webid_canary.cli.trail import trail

DATA = Path(__file__).parents[1] / "unit" / "data" / "trail"


def _run(*args: str) -> Result:
    return CliRunner().invoke(trail, list(args))


def _json(result: Result) -> list[dict[str, Any]]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _offline(event: Path, family: str) -> list[str]:
    return [
        "--event",
        str(event),
        "--trust-policy",
        str(DATA / f"{family}-trust.json"),
        "--provider",
        str(DATA / f"{family}-provider.json"),
        "--json",
    ]


def test_an_eks_service_account_refusal_is_a_sub_mismatch_with_the_logged_subject() -> None:
    result = _run(*_offline(DATA / "eks-refused.json", "eks"))

    assert result.exit_code == 1, result.output
    (verdict,) = _json(result)
    assert verdict["schema"] == "webid-canary/explain/v2"
    assert (verdict["outcome"], verdict["root_cause"]) == ("deny", "trust_condition_mismatch")
    assert verdict["condition_key"].endswith(":sub")
    assert verdict["actual"] == ["system:serviceaccount:payments:worker"]
    assert verdict["expected"] == ["system:serviceaccount:payments:api"]
    event = verdict["event"]
    assert event["schema"] == "webid-canary/trail/v1"
    assert (event["count"], event["sub"], event["aud"]) == (
        1,
        "system:serviceaccount:payments:worker",
        "sts.amazonaws.com",
    )
    assert event["source_ips"] == ["198.51.100.23"]
    assert event["event_ids"] == ["4c2a1d7e-1f0b-4f3a-8c43-EXAMPLE22222"]


def test_a_logged_github_success_is_allow_and_source_ip_is_decided_from_the_record(tmp_path: Path) -> None:
    allowed = json.loads((DATA / "github-allowed.json").read_text())
    denied = json.loads((DATA / "github-denied-roleArn-null.json").read_text())
    trail_file = tmp_path / "111122223333_CloudTrail_us-east-1_20261129T0905Z_x.json.gz"
    trail_file.write_bytes(gzip.compress(json.dumps({"Records": [allowed, denied, denied]}).encode()))

    result = _run(*_offline(trail_file, "github"))

    assert result.exit_code == 1, result.output
    refusal, success = _json(result)
    assert (success["outcome"], success["event"]["error_code"]) == ("allow", None)
    assert (refusal["root_cause"], refusal["condition_key"]) == ("trust_condition_mismatch", "aws:SourceIp")
    assert refusal["actual"] == ["198.51.100.7"]
    assert refusal["event"]["count"] == 2
    assert refusal["event"]["role_arn"] == "arn:aws:iam::111122223333:role/deploy"


def test_only_successes_exit_zero() -> None:
    result = _run(*_offline(DATA / "github-allowed.json", "github"))

    assert result.exit_code == 0, result.output
    assert [v["outcome"] for v in _json(result)] == ["allow"]


def test_a_claim_the_log_cannot_show_makes_it_indeterminate(tmp_path: Path) -> None:
    policy = json.loads((DATA / "eks-trust.json").read_text())
    condition = policy["Statement"][0]["Condition"]["StringEquals"]
    condition["oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub"] = (
        "system:serviceaccount:payments:worker"
    )
    policy["Statement"][0]["Condition"]["ForAnyValue:StringEquals"] = {
        "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:amr": "mfa"
    }
    (tmp_path / "trust.json").write_text(json.dumps(policy))
    args = _offline(DATA / "eks-refused.json", "eks")
    args[3] = str(tmp_path / "trust.json")

    (verdict,) = _json(_run(*args))

    assert verdict["outcome"] == "indeterminate"
    assert verdict["unknown_keys"] == ["oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:amr"]


def test_bad_records_are_counted_and_nothing_usable_exits_two(tmp_path: Path) -> None:
    record = json.loads((DATA / "eks-refused.json").read_text())
    other = {**record, "eventName": "AssumeRole"}
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"Records": [other, record]}))
    only_bad = tmp_path / "bad.json"
    only_bad.write_text(json.dumps([other]))

    result = _run(*_offline(mixed, "eks"))
    assert result.exit_code == 1
    assert "skipped: eventName: not an AssumeRoleWithWebIdentity event ('AssumeRole')" in result.stderr

    nothing = _run(*_offline(only_bad, "eks"))
    assert nothing.exit_code == 2
    assert nothing.stderr.splitlines()[-1] == "error: input: no usable AssumeRoleWithWebIdentity record among 1 read"


def test_text_output_names_the_role_the_count_and_the_cause() -> None:
    args = [a for a in _offline(DATA / "eks-refused.json", "eks") if a != "--json"]

    result = _run(*args)

    assert result.exit_code == 1
    assert "arn:aws:iam::111122223333:role/payments-reader  AccessDenied x1" in result.stdout
    assert "cause  trust_condition_mismatch" in result.stdout
    assert "1 record(s) read, 1 refused in 1 distinct refusal(s)" in result.stdout


def test_event_or_lookup_is_required() -> None:
    result = _run("--json")
    assert result.exit_code == 2
    assert "error: event: give --event FILE or --lookup" in result.stderr
