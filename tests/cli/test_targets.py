"""The ops commands against moto: register, list, show, remove, enable, disable, discover."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner, Result
from moto import mock_aws

from webid_canary import names
from webid_canary.cli.main import cli
from webid_canary.local.issuer import free_port

TABLE = "webid-canary-targets"
ACCOUNT = "123456789012"
GITHUB = "token.actions.githubusercontent.com"


def item(target_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target_id": target_id,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/payments-api",
        "issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "claims": {"sub": "system:serviceaccount:payments:api", "aud": "sts.amazonaws.com"},
        "must_deny": [{"sub": "system:serviceaccount:payments:debug-shell"}],
        "severity": "critical",
        "owner": "team-payments",
    }
    return base | changes


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv(names.ENV_TARGETS_TABLE, TABLE)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "target_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "target_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def run(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def stored(client: Any) -> dict[str, dict[str, Any]]:
    items = client.scan(TableName=TABLE)["Items"]
    return {i["target_id"]["S"]: i for i in items}


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
    return str(path)


# --- register ------------------------------------------------------------------------------------------------


def test_register_a_json_list_stores_every_target(dynamodb: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "targets.json", [item("payments-api-prod"), item("payments-api-dev", severity="low")])

    result = run("register", "--file", path)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "registered payments-api-prod",
        "registered payments-api-dev",
        "2 written, 0 skipped, 0 refused",
    ]
    assert set(stored(dynamodb)) == {"payments-api-prod", "payments-api-dev"}
    assert stored(dynamodb)["payments-api-dev"]["severity"] == {"S": "low"}


def test_register_a_yaml_item(dynamodb: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "target.yaml", item("payments-api-prod", duration_seconds=3600))

    result = run("register", "-f", path)

    assert result.exit_code == 0, result.output
    assert stored(dynamodb)["payments-api-prod"]["duration_seconds"] == {"N": "3600"}


def test_register_from_stdin(dynamodb: Any) -> None:
    result = run("register", "--file", "-", stdin=json.dumps(item("from-stdin")))

    assert result.exit_code == 0, result.output
    assert "from-stdin" in stored(dynamodb)


def test_a_bad_file_writes_nothing_and_names_every_problem(dynamodb: Any, tmp_path: Path) -> None:
    items = [
        item("good-target"),
        item("bad-issuer", issuer="http://plain.example"),
        {k: v for k, v in item("x").items() if k != "target_id"},
        item("bad-duration", duration_seconds=60, severty="high"),
    ]
    path = write(tmp_path, "targets.json", items)

    result = run("register", "--file", path)

    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0].startswith("error: bad-issuer: issuer: 'http://plain.example' must be an https:// URL")
    assert errors[1] == "error: #3: target_id: required"
    assert errors[2].startswith("error: bad-duration: severty: unknown field; did you mean 'severity'?")
    assert errors[3].startswith("error: bad-duration: duration_seconds: must be between 900 and 43200")
    assert (
        result.stderr.splitlines()[-1]
        == "nothing registered: 0 written, 1 skipped, 3 refused (4 problem(s) in 4 item(s))"
    )
    assert stored(dynamodb) == {}


def test_a_file_whose_last_item_is_too_large_for_dynamodb_writes_nothing_and_counts(
    dynamodb: Any, tmp_path: Path
) -> None:
    huge = {"sub": "system:serviceaccount:payments:api", "aud": "sts.amazonaws.com"}
    huge |= {f"c{n}": "x" * 2000 for n in range(250)}
    path = write(tmp_path, "targets.json", [item("first-one"), item("second-one"), item("too-big", claims=huge)])

    result = run("register", "--file", path)

    assert result.exit_code == 2
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: too-big: item: is ")
    assert error.endswith("bytes as stored; a DynamoDB item holds at most 409600")
    assert (
        result.stderr.splitlines()[-1]
        == "nothing registered: 0 written, 2 skipped, 1 refused (1 problem(s) in 3 item(s))"
    )
    assert stored(dynamodb) == {}


def test_a_control_character_in_an_id_stays_on_the_error_line(dynamodb: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "targets.json", [item("evil\nerror: forged-line"), item("x", **{"own\rer": "a"})])

    result = run("register", "--file", path)

    assert result.exit_code == 2
    errors = result.stderr.splitlines()
    assert errors[0] == "error: evil\\nerror: forged-line: target_id: 'evil\\nerror: forged-line' must be 3 to 64" + (
        " characters of lowercase letters, digits, '.', '_' and '-'"
    )
    assert errors[1].startswith("error: x: own\\rer: unknown field")
    assert len(errors) == 4
    assert stored(dynamodb) == {}


def test_yaml_aliases_are_refused_in_one_line(dynamodb: Any, tmp_path: Path) -> None:
    # A few hundred bytes that expand to 9**9 strings when aliases are followed.
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [
        f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")

    result = run("register", "--file", str(path))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: file: {path} is neither JSON nor YAML: YAML anchors and aliases (&name, *name) are refused"
        " (line 1); write each value out\n"
    )
    assert stored(dynamodb) == {}


def test_registration_never_overwrites_another_target_without_replace(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "a.json", item("payments-api-prod", owner="team-payments")))
    path = write(tmp_path, "b.json", [item("brand-new"), item("payments-api-prod", owner="intruders")])

    result = run("register", "--file", path)

    assert result.exit_code == 2
    assert "error: payments-api-prod: target_id: already registered; use --replace to update it" in result.stderr
    assert set(stored(dynamodb)) == {"payments-api-prod"}
    assert stored(dynamodb)["payments-api-prod"]["owner"] == {"S": "team-payments"}


def test_replace_updates_an_existing_target(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "a.json", item("payments-api-prod")))

    result = run(
        "register",
        "--replace",
        "--file",
        write(tmp_path, "b.json", [item("payments-api-prod", owner="sre"), item("another-one")]),
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "updated payments-api-prod",
        "registered another-one",
        "2 written, 0 skipped, 0 refused",
    ]
    assert stored(dynamodb)["payments-api-prod"]["owner"] == {"S": "sre"}


def test_an_id_given_twice_in_one_file_is_refused(dynamodb: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "twice.json", [item("same-id"), item("same-id", owner="other")])

    result = run("register", "--file", path)

    assert result.exit_code == 2
    assert "error: same-id: target_id: given twice in this input (items #1 and #2)" in result.stderr
    assert stored(dynamodb) == {}


def test_register_with_flags(dynamodb: Any) -> None:
    result = run(
        "register",
        "--target-id", "deploy-main",
        "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/deploy",
        "--issuer", f"https://{GITHUB}",
        "--claim", "sub=repo:acme/app:ref:refs/heads/main",
        "--claim", "aud=sts.amazonaws.com",
        "--must-deny-sub", "repo:acme/other:ref:refs/heads/main",
        "--must-deny-sub", "repo:evil/app:ref:refs/heads/main",
        "--severity", "critical",
        "--owner", "platform",
        "--alarm",
        "--duration", "3600",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    shown = json.loads(run("show", "deploy-main", "--json").stdout)
    assert shown["claims"] == {"sub": "repo:acme/app:ref:refs/heads/main", "aud": "sts.amazonaws.com"}
    assert shown["must_deny"] == [
        {"sub": "repo:acme/other:ref:refs/heads/main"},
        {"sub": "repo:evil/app:ref:refs/heads/main"},
    ]
    assert (shown["severity"], shown["owner"], shown["alarm"], shown["duration_seconds"]) == (
        "critical",
        "platform",
        True,
        3600,
    )


def test_register_with_a_token_source_flag(dynamodb: Any) -> None:
    result = run(
        "register",
        "--target-id", "live-one",
        "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/deploy",
        "--issuer", "https://login.acme.example",
        "--token-source", '{"type": "secret", "secret_id": "webid-canary/live-one"}',
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(run("show", "live-one", "--json").stdout)["token_source"] == {
        "type": "secret",
        "secret_id": "webid-canary/live-one",
    }


def test_bad_flags_are_refused_naming_the_field(dynamodb: Any) -> None:
    result = run(
        "register",
        "--target-id", "deploy-main",
        "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/deploy",
        "--issuer", f"https://{GITHUB}",
        "--claim", "sub=repo:acme/app:ref:refs/heads/main",
        "--duration", "60",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "error: deploy-main: claims.aud: required" in result.stderr
    assert "error: deploy-main: duration_seconds: must be between 900 and 43200 seconds, not 60" in result.stderr
    assert stored(dynamodb) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--severity", "urgent", "--target-id", "x"], "error: usage: Invalid value for '--severity'"),
        (["--file", "x.json", "--target-id", "abc"], "error: usage: give --file or the item's flags, not both"),
        ([], "error: usage: give --file FILE"),
        (["--target-id", "abc", "--claim", "no-equals-sign"], "error: claim: 'no-equals-sign' is not KEY=VALUE"),
        (["--file", "/nonexistent/targets.json"], "error: file: cannot read /nonexistent/targets.json"),
    ],
)
def test_usage_errors_are_one_line(dynamodb: Any, args: list[str], message: str) -> None:
    result = run("register", *args)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_json_or_yaml_is_one_line(dynamodb: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"target_id": "x",')

    result = run("register", "--file", str(path))

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: file: {path} is neither JSON nor YAML")


def test_duplicate_json_keys_are_refused(dynamodb: Any, tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"target_id": "a-target", "severity": "low", "severity": "critical"}')

    result = run("register", "--file", str(path))

    assert result.exit_code == 2
    assert "key 'severity' written twice" in result.stderr


def test_dry_run_validates_and_writes_nothing(dynamodb: Any, tmp_path: Path) -> None:
    result = run("register", "--dry-run", "--file", write(tmp_path, "t.json", [item("one-target"), item("two-target")]))

    assert result.exit_code == 0
    assert "valid: 2 target(s); nothing written" in result.stdout
    assert stored(dynamodb) == {}


def test_missing_table_setting_is_named(dynamodb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(names.ENV_TARGETS_TABLE)

    result = run("list")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --targets-table: not set (give --targets-table NAME or set {names.ENV_TARGETS_TABLE})"
    )


TABLE_COMMANDS = {
    "list": ["list"],
    "show": ["show", "payments-api-prod"],
    "register": ["register", "--file", "{file}"],
    "register --replace": ["register", "--replace", "--file", "{file}"],
    "discover": ["discover", "--register"],
    "remove": ["remove", "payments-api-prod"],
    "enable": ["enable", "payments-api-prod"],
}


def table_command(name: str, tmp_path: Path) -> list[str]:
    targets = write(tmp_path, "targets.json", [item("payments-api-prod")])
    return [arg.format(file=targets) for arg in TABLE_COMMANDS[name]]


@pytest.mark.parametrize("command", list(TABLE_COMMANDS))
def test_a_table_that_does_not_exist_is_named_with_what_to_do(dynamodb: Any, tmp_path: Path, command: str) -> None:
    result = run(*table_command(command, tmp_path), "--targets-table", "no-such-table")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: aws: table 'no-such-table' not found in eu-west-1 (set --targets-table or "
        f"{names.ENV_TARGETS_TABLE} to the stack's TargetsTableName output)\n"
    )


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials anywhere boto3 looks; any request that went out anyway would reach a closed local port."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "empty"
    empty.write_text("")
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "BOTO_CONFIG"):
        monkeypatch.setenv(name, str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv(names.ENV_TARGETS_TABLE, TABLE)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize("command", [*TABLE_COMMANDS, "discover, IAM only"])
def test_no_credentials_is_one_line_saying_so(tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if command == "discover, IAM only":
        monkeypatch.delenv(names.ENV_TARGETS_TABLE)
        args = ["discover"]
    else:
        args = table_command(command, tmp_path)

    result = run(*args)

    assert result.exit_code == 2
    assert result.stderr == (
        "error: aws: no AWS credentials found "
        "(set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile)\n"
    )


# --- list and show ---------------------------------------------------------------------------------------------


def put_malformed(client: Any) -> None:
    client.put_item(
        TableName=TABLE,
        Item={
            "target_id": {"S": "broken-item"},
            "role_arn": {"S": "arn:aws:iam::123456789012:role/x"},
            "issuer": {"S": "https://idp.example"},
            "claims": {"M": {"sub": {"S": "x"}, "aud": {"S": "a"}}},
            "duration_seconds": {"N": "60"},
        },
    )


def test_list_shows_a_malformed_item_as_an_error_row(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "t.json", [item("payments-api-prod"), item("payments-api-dev")]))
    run("disable", "payments-api-dev")
    put_malformed(dynamodb)

    result = run("list")

    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "invalid" in rows["broken-item"]
    assert "duration_seconds: must be between" in rows["broken-item"]
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "must be between 900 and 43200 seconds, not 60" in flat
    assert "enabled" in rows["payments-api-prod"]
    assert "disabled" in rows["payments-api-dev"]
    assert "system:serviceaccount:payments:api" in rows["payments-api-prod"]
    assert "1 item(s) do not validate" in result.stderr


def test_list_json_separates_valid_and_invalid_items(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "t.json", item("payments-api-prod")))
    put_malformed(dynamodb)

    document = json.loads(run("list", "--json").stdout)

    assert [t["target_id"] for t in document["targets"]] == ["payments-api-prod"]
    assert document["targets"][0]["claims"]["sub"] == "system:serviceaccount:payments:api"
    assert document["invalid"] == [
        {
            "target_id": "broken-item",
            "field": "duration_seconds",
            "reason": "must be between 900 and 43200 seconds, not 60",
        }
    ]


def test_show_prints_one_target(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "t.json", item("payments-api-prod")))

    result = run("show", "payments-api-prod")

    assert result.exit_code == 0
    assert "role_arn: arn:aws:iam::123456789012:role/payments-api" in result.stdout
    assert 'must_deny: [{"sub": "system:serviceaccount:payments:debug-shell"}]' in result.stdout


def test_show_of_an_unknown_id_is_one_line(dynamodb: Any) -> None:
    result = run("show", "nobody-here")

    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: nobody-here: target_id: not registered in {TABLE}"


def test_show_of_a_malformed_item_prints_it_and_its_problem(dynamodb: Any) -> None:
    put_malformed(dynamodb)

    result = run("show", "broken-item", "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["duration_seconds"] == 60
    assert "error: broken-item: duration_seconds: must be between 900 and 43200" in result.stderr


# --- remove, enable, disable -----------------------------------------------------------------------------------


def test_remove_deletes_and_refuses_unknown_ids(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "t.json", [item("one-target"), item("two-target")]))

    first = run("remove", "one-target")
    again = run("remove", "one-target")

    assert (first.exit_code, first.stdout.strip()) == (0, "removed one-target")
    assert again.exit_code == 2
    assert again.stderr.strip() == f"error: one-target: target_id: not registered in {TABLE}"
    assert set(stored(dynamodb)) == {"two-target"}


def test_disable_and_enable_flip_only_the_flag(dynamodb: Any, tmp_path: Path) -> None:
    run("register", "--file", write(tmp_path, "t.json", item("payments-api-prod")))

    assert run("disable", "payments-api-prod").stdout.strip() == "disabled payments-api-prod"
    assert stored(dynamodb)["payments-api-prod"]["enabled"] == {"BOOL": False}
    assert run("enable", "payments-api-prod").stdout.strip() == "enabled payments-api-prod"
    assert stored(dynamodb)["payments-api-prod"]["enabled"] == {"BOOL": True}
    assert stored(dynamodb)["payments-api-prod"]["owner"] == {"S": "team-payments"}


def test_enable_of_an_unknown_id_creates_nothing(dynamodb: Any) -> None:
    result = run("enable", "ghost-target")

    assert result.exit_code == 2
    assert stored(dynamodb) == {}


# --- discover --------------------------------------------------------------------------------------------------


def trust(provider: str, conditions: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": conditions,
                }
            ],
        }
    )


@pytest.fixture
def roles(dynamodb: Any) -> Any:
    iam = boto3.client("iam")
    iam.create_role(
        RoleName="deploy",
        AssumeRolePolicyDocument=trust(
            GITHUB,
            {
                "StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"},
                "StringLike": {f"{GITHUB}:sub": "repo:acme/payments:*"},
            },
        ),
    )
    eks = "oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9"
    iam.create_role(
        RoleName="payments-api",
        AssumeRolePolicyDocument=trust(eks, {"StringEquals": {f"{eks}:sub": "system:serviceaccount:payments:api"}}),
    )
    iam.create_role(
        RoleName="lambda-exec",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ]
            }
        ),
    )
    return iam


def test_discover_proposes_without_writing(roles: Any, dynamodb: Any) -> None:
    result = run("discover", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    proposals = {p["target"]["target_id"]: p for p in document["proposals"]}
    assert set(proposals) == {"deploy", "payments-api"}
    assert proposals["deploy"]["target"]["claims"]["sub"] == "repo:acme/payments:ref:refs/heads/main"
    assert proposals["deploy"]["target"]["claims_are_representative"] is True
    assert proposals["deploy"]["status"] == "new"
    assert document["roles_read"] == 3
    assert stored(dynamodb) == {}


def test_discover_register_gives_full_coverage_and_is_idempotent(roles: Any, dynamodb: Any) -> None:
    first = run("discover", "--register", "--owner", "platform")
    second = run("discover", "--json")

    assert first.exit_code == 0, first.output
    assert set(stored(dynamodb)) == {"deploy", "payments-api"}
    assert stored(dynamodb)["deploy"]["owner"] == {"S": "platform"}
    statuses = {p["target"]["target_id"]: p["status"] for p in json.loads(second.stdout)["proposals"]}
    assert statuses == {"deploy-2": "covered by deploy", "payments-api-2": "covered by payments-api"}
    listed = run("list", "--json")
    assert len(json.loads(listed.stdout)["targets"]) == 2


def test_discover_human_output_marks_representative_claims(roles: Any) -> None:
    result = run("discover")

    assert result.exit_code == 0, result.output
    assert "repo:acme/payments:ref:refs/heads/main ~" in result.stdout
    assert "2 new proposal(s); run again with --register" in result.stdout


@pytest.mark.slow
def test_commands_reach_aws_through_aws_endpoint_url(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(names.ENV_TARGETS_TABLE, raising=False)
    boto3.client("dynamodb").create_table(
        TableName="over-http",
        KeySchema=[{"AttributeName": "target_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "target_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    registered = run(
        "register", "--targets-table", "over-http", "--file", write(tmp_path, "t.json", item("over-http-target"))
    )
    listed = run("list", "--json", "--targets-table", "over-http")

    assert registered.exit_code == 0, registered.output
    assert [t["target_id"] for t in json.loads(listed.stdout)["targets"]] == ["over-http-target"]


def test_a_pathologically_nested_file_is_one_line(dynamodb: Any, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)

    result = run("register", "--file", str(path))

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: file: {path} is neither JSON nor YAML")


# --- discover --organization ------------------------------------------------------------------------------------


def _member_iam(account: str) -> Any:
    sts = boto3.client("sts")
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "iam",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture
def organization(roles: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The caller's account (roles above) and three members: two with a GitHub deploy role, one that refuses."""
    from moto.sts.responses import TokenResponse

    from webid_canary.local.aws import StsErrorResponse
    from webid_canary.local.strict_sts import StsRejectedError

    orgs = boto3.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    members = [
        orgs.create_account(AccountName=f"member-{n}", Email=f"m{n}@example.com")["CreateAccountStatus"]["AccountId"]
        for n in range(3)
    ]
    for n, account in enumerate(members[:2]):
        _member_iam(account).create_role(
            RoleName=f"release-{n}",
            AssumeRolePolicyDocument=trust(GITHUB, {"StringEquals": {f"{GITHUB}:sub": f"repo:acme/app-{n}:main"}}),
        )
    refusing = members[2]
    original = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        role_arn = str(self._get_param("RoleArn"))
        if f"::{refusing}:" in role_arn:
            raise StsErrorResponse(StsRejectedError("AccessDenied", f"not authorized to assume {role_arn}"))
        return original(self)

    monkeypatch.setattr(TokenResponse, "assume_role", assume_role)
    return members


def test_discover_organization_proposes_in_every_account_and_names_the_one_it_could_not_read(
    organization: list[str], dynamodb: Any
) -> None:
    result = run("discover", "--organization", "--json")

    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    by_role = {p["target"]["role_arn"]: p for p in document["proposals"]}
    for n, account in enumerate(organization[:2]):
        proposal = by_role[f"arn:aws:iam::{account}:role/release-{n}"]
        assert proposal["target"]["claims"]["sub"] == f"repo:acme/app-{n}:main"
    assert f"arn:aws:iam::{ACCOUNT}:role/deploy" in by_role, "the caller's own account is read too"
    accounts = {row["account_id"]: row for row in document["accounts"]}
    assert set(accounts) == {ACCOUNT, *organization}
    assert (accounts[organization[0]]["roles_read"], accounts[organization[0]]["proposals"]) == (2, 1)
    assert accounts[organization[2]]["error"] and "AccessDenied" in accounts[organization[2]]["error"]
    assert accounts[organization[2]]["proposals"] == 0
    ids = [p["target"]["target_id"] for p in document["proposals"]]
    assert len(ids) == len(set(ids)), "target ids stay unique across accounts"


def test_discover_organization_registers_and_summarises_per_account(organization: list[str], dynamodb: Any) -> None:
    result = run("discover", "--organization", "--account", organization[0], "--register")

    assert result.exit_code == 0, result.output
    assert set(stored(dynamodb)) == {"release-0"}
    assert "1 account(s)" in result.stdout
    assert organization[0] in result.stdout


def test_discover_organization_options_are_checked(organization: list[str]) -> None:
    unknown = run("discover", "--organization", "--account", "999999999999")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "error: --account: 999999999999: not an active account of the organization"
    alone = run("discover", "--account", organization[0])
    assert alone.exit_code == 2
    assert alone.output.strip() == "error: --account/--role-name: only with --organization"
