"""TargetsTable against moto: conditional writes, paginated scans, invalid items as values, AWS errors mapped."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from webid_canary.adapters.targets_table import (
    TargetExistsError,
    TargetNotFoundError,
    TargetsTable,
    TargetsTableMissingError,
)
from webid_canary.app.ports import AwsThrottledError
from webid_canary.core.targets import Target, TargetError, parse_target

TABLE = "webid-canary-targets"


def target(target_id: str, **changes: Any) -> Target:
    item: dict[str, Any] = {
        "target_id": target_id,
        "role_arn": "arn:aws:iam::123456789012:role/payments-api",
        "issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "claims": {"sub": "system:serviceaccount:payments:api", "aud": "sts.amazonaws.com"},
        "must_deny": [{"sub": "system:serviceaccount:payments:debug-shell"}],
        "severity": "critical",
        "owner": "team-payments",
    }
    item.update(changes)
    return parse_target(item)


@pytest.fixture
def aws_region() -> str:
    return "eu-west-1"


@pytest.fixture
def dynamodb(moto: None) -> Any:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "target_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "target_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture(params=["client", "service-resource", "table-resource"])
def table(dynamodb: Any, request: pytest.FixtureRequest) -> TargetsTable:
    """The adapter over each kind of boto3 object it accepts."""
    if request.param == "client":
        return TargetsTable(dynamodb, TABLE)
    resource = boto3.resource("dynamodb", region_name="eu-west-1")
    return TargetsTable(resource if request.param == "service-resource" else resource.Table(TABLE), TABLE)


def count_calls(client: Any, operation: str) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(f"before-call.dynamodb.{operation}", lambda **_: calls.append(operation))
    return calls


def test_put_then_get_returns_the_same_target(table: TargetsTable) -> None:
    stored = target("payments-api-prod", claims={"sub": "s", "aud": ["a", "b"], "run_attempt": 2})

    table.put(stored)

    assert table.get("payments-api-prod") == stored
    assert table.get("absent-target") is None


def test_put_never_overwrites_an_existing_target_without_replace(table: TargetsTable) -> None:
    table.put(target("payments-api-prod", owner="team-payments"))

    with pytest.raises(TargetExistsError, match="payments-api-prod already registered") as caught:
        table.put(target("payments-api-prod", owner="someone-else"))

    assert caught.value.target_ids == ("payments-api-prod",)
    stored = table.get("payments-api-prod")
    assert stored is not None
    assert stored.owner == "team-payments"


def test_put_with_replace_updates_the_target(table: TargetsTable) -> None:
    table.put(target("payments-api-prod"))

    table.put(target("payments-api-prod", severity="low"), replace=True)

    stored = table.get("payments-api-prod")
    assert stored is not None
    assert str(stored.severity) == "low"


def test_put_all_writes_nothing_when_one_id_is_taken(table: TargetsTable) -> None:
    table.put(target("existing-one", owner="original"))
    batch = [target("new-one"), target("existing-one", owner="intruder"), target("new-two")]

    with pytest.raises(TargetExistsError) as caught:
        table.put_all(batch)

    assert caught.value.target_ids == ("existing-one",)
    assert table.get("new-one") is None
    assert table.get("new-two") is None
    existing = table.get("existing-one")
    assert existing is not None
    assert existing.owner == "original"


def test_put_all_writes_long_lists_in_transactions_of_one_hundred(dynamodb: Any) -> None:
    table = TargetsTable(dynamodb, TABLE)
    calls = count_calls(dynamodb, "TransactWriteItems")

    table.put_all([target(f"target-{n:03d}") for n in range(150)])

    assert len(calls) == 2
    assert sum(1 for _ in table.scan()) == 150


def test_put_all_refuses_a_list_naming_an_id_twice(table: TargetsTable) -> None:
    with pytest.raises(ValueError, match="more than once: twice-named"):
        table.put_all([target("twice-named"), target("twice-named")])

    assert table.get("twice-named") is None


class _BlindReads:
    """A client that sees no existing items on BatchGetItem, as when another writer wins a race."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        return {"Responses": {}, "UnprocessedKeys": {}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_put_all_condition_still_protects_a_target_registered_meanwhile(dynamodb: Any) -> None:
    TargetsTable(dynamodb, TABLE).put(target("raced-target", owner="winner"))
    table = TargetsTable(_BlindReads(dynamodb), TABLE)

    with pytest.raises(TargetExistsError) as caught:
        table.put_all([target("fresh-target"), target("raced-target", owner="loser")])

    assert "raced-target" in caught.value.target_ids
    assert table.get("fresh-target") is None
    raced = table.get("raced-target")
    assert raced is not None
    assert raced.owner == "winner"


def test_put_all_with_replace_updates_existing_targets(table: TargetsTable) -> None:
    table.put(target("existing-one"))

    table.put_all([target("existing-one", severity="low"), target("new-one")], replace=True)

    existing = table.get("existing-one")
    assert existing is not None
    assert str(existing.severity) == "low"
    assert table.get("new-one") is not None


def test_scan_reads_every_page_and_yields_invalid_items_as_errors(dynamodb: Any) -> None:
    table = TargetsTable(dynamodb, TABLE, page_size=2)
    for n in range(5):
        table.put(target(f"good-{n}"))
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "target_id": {"S": "broken-item"},
            "role_arn": {"S": "arn:aws:iam::123456789012:role/x"},
            "issuer": {"S": "http://not-https.example"},
            "claims": {"M": {"sub": {"S": "x"}, "aud": {"S": "a"}}},
        },
    )
    calls = count_calls(dynamodb, "Scan")

    results = dict(table.scan())

    assert len(calls) >= 3
    assert sorted(results) == ["broken-item", "good-0", "good-1", "good-2", "good-3", "good-4"]
    error = results["broken-item"]
    assert isinstance(error, TargetError)
    assert error.field == "issuer"
    assert all(isinstance(results[f"good-{n}"], Target) for n in range(5))


def test_scan_enabled_only_skips_disabled_targets(table: TargetsTable, dynamodb: Any) -> None:
    table.put(target("on-target"))
    table.put(target("off-target", enabled=False))
    dynamodb.put_item(
        TableName=TABLE, Item={"target_id": {"S": "off-broken"}, "enabled": {"BOOL": False}, "issuer": {"N": "1"}}
    )
    dynamodb.put_item(TableName=TABLE, Item={"target_id": {"S": "on-broken"}, "issuer": {"N": "1"}})

    ids = sorted(i for i, _ in table.scan(enabled_only=True))

    assert ids == ["on-broken", "on-target"]


def test_get_of_an_invalid_item_raises_its_error_and_get_item_shows_it(table: TargetsTable, dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"target_id": {"S": "broken-item"}, "duration_seconds": {"N": "5"}})

    with pytest.raises(TargetError) as caught:
        table.get("broken-item")

    assert caught.value.field == "role_arn"
    assert table.get_item("broken-item") == {"target_id": "broken-item", "duration_seconds": 5}


def test_delete_removes_a_target_and_refuses_an_unknown_one(table: TargetsTable) -> None:
    table.put(target("payments-api-prod"))

    table.delete("payments-api-prod")

    assert table.get("payments-api-prod") is None
    with pytest.raises(TargetNotFoundError, match="no target 'payments-api-prod'"):
        table.delete("payments-api-prod")


def test_set_enabled_changes_only_the_flag(table: TargetsTable) -> None:
    original = target("payments-api-prod")
    table.put(original)

    table.set_enabled("payments-api-prod", False)

    stored = table.get("payments-api-prod")
    assert stored is not None
    assert stored.enabled is False
    assert stored.claims == original.claims
    assert stored.owner == original.owner


def test_set_enabled_on_an_unknown_target_creates_nothing(table: TargetsTable) -> None:
    with pytest.raises(TargetNotFoundError):
        table.set_enabled("ghost-target", True)

    assert table.get_item("ghost-target") is None


def test_existing_finds_registered_ids_beyond_one_batch(table: TargetsTable) -> None:
    table.put_all([target(f"target-{n:03d}") for n in range(0, 150, 10)])

    found = table.existing(f"target-{n:03d}" for n in range(150))

    assert found == {f"target-{n:03d}" for n in range(0, 150, 10)}


def test_a_table_resource_works_as_well_as_a_client(dynamodb: Any) -> None:
    resource_table = boto3.resource("dynamodb", region_name="eu-west-1").Table(TABLE)
    table = TargetsTable(resource_table, TABLE)

    table.put(target("via-resource"))

    assert TargetsTable(dynamodb, TABLE).get("via-resource") == target("via-resource")


def test_missing_table_is_a_clear_error(dynamodb: Any) -> None:
    table = TargetsTable(dynamodb, "no-such-table")

    with pytest.raises(TargetsTableMissingError) as caught:
        list(table.scan())

    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.operation == "Scan"
    assert (caught.value.table_name, caught.value.region) == ("no-such-table", "eu-west-1")
    assert "table 'no-such-table' not found in eu-west-1" in str(caught.value)


@pytest.mark.parametrize(
    "operation",
    [
        lambda table: table.get_item("x"),
        lambda table: table.existing(["x"]),
        lambda table: table.put(target("payments-api-prod")),
        lambda table: table.put_all([target("payments-api-prod")], replace=True),
        lambda table: table.delete("x"),
        lambda table: table.set_enabled("x", False),
    ],
    ids=["get_item", "existing", "put", "put_all", "delete", "set_enabled"],
)
def test_every_operation_on_a_missing_table_names_it(dynamodb: Any, operation: Any) -> None:
    with pytest.raises(TargetsTableMissingError) as caught:
        operation(TargetsTable(boto3.resource("dynamodb", region_name="eu-west-1"), "no-such-table"))

    assert (caught.value.table_name, caught.value.region) == ("no-such-table", "eu-west-1")


def test_throttling_maps_to_a_throttled_error() -> None:
    client = boto3.client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    table = TargetsTable(client, TABLE)
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException")

        with pytest.raises(AwsThrottledError) as caught:
            table.get("payments-api-prod")

    assert caught.value.operation == "GetItem"


def test_large_targets_go_in_transactions_within_dynamodbs_4_mb(dynamodb: Any) -> None:
    # 12 items of about 380 KB: 100 a transaction would send 4.5 MB, which DynamoDB refuses (moto does not).
    claims = {"sub": "system:serviceaccount:payments:api", "aud": "sts.amazonaws.com"}
    claims |= {f"c{n}": "x" * 2000 for n in range(190)}
    targets = [target(f"large-{n:02d}", claims=claims) for n in range(12)]
    sent: list[int] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: sent.append(sum(len(str(write["Put"]["Item"])) for write in params["TransactItems"])),
    )
    committed: list[str] = []

    TargetsTable(dynamodb, TABLE).put_all(
        targets, on_written=lambda chunk: committed.extend(t.target_id for t in chunk)
    )

    assert len(sent) > 1
    assert max(sent) < 4_000_000
    assert committed == [t.target_id for t in targets]
