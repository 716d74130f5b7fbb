"""The State table: one item per target and provider, written conditionally so overlapping runs cannot clash."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary.adapters.aws import error_code, translate
from webid_canary.app.ports import StateStoreError
from webid_canary.core.state import StateRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# BatchGetItem: "A single operation can retrieve up to 16 MB of data, which can contain as many as 100 items", and
# keys it could not read within that come back in UnprocessedKeys, to be asked again:
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
BATCH_GET_KEYS: Final = 100
# Rounds of UnprocessedKeys asked again before the read counts as failed (botocore retries each call as well).
BATCH_GET_ROUNDS: Final = 5


class StateTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load_all(self) -> dict[str, StateRecord]:
        """Every record, by key (one paginated scan per cycle)."""
        records: dict[str, StateRecord] = {}
        try:
            for page in self._client.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
                for raw in page.get("Items", []):
                    item = {key: _plain(value) for key, value in raw.items()}
                    record = StateRecord.from_item(item)
                    records[record.key] = record
        except (ClientError, BotoCoreError) as exc:
            failure = translate(f"Scan {self._table}", exc)
            raise failure.as_kind(StateStoreError) from exc
        return records

    def load(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys only (absent keys are simply not in the answer), 100 keys a call, consistent."""
        wanted = list(dict.fromkeys(keys))
        records: dict[str, StateRecord] = {}
        try:
            for start in range(0, len(wanted), BATCH_GET_KEYS):
                request: dict[str, Any] = {
                    self._table: {
                        "Keys": [{"pk": {"S": key}} for key in wanted[start : start + BATCH_GET_KEYS]],
                        "ConsistentRead": True,
                    }
                }
                for _ in range(BATCH_GET_ROUNDS):
                    answer = self._client.batch_get_item(RequestItems=request)
                    for raw in answer.get("Responses", {}).get(self._table, []):
                        record = StateRecord.from_item({key: _plain(value) for key, value in raw.items()})
                        records[record.key] = record
                    request = dict(answer.get("UnprocessedKeys") or {})
                    if not request:
                        break
                else:
                    raise StateStoreError(
                        f"BatchGetItem {self._table}", "UnprocessedKeys", "keys left unread after retries"
                    )
        except (ClientError, BotoCoreError) as exc:
            failure = translate(f"BatchGetItem {self._table}", exc)
            raise failure.as_kind(StateStoreError) from exc
        return records

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        """Write `record` if the stored version is still `expected_version`; False when another run won."""
        item = {key: _typed(value) for key, value in record.to_item().items()}
        if expected_version is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "#v = :expected", {":expected": {"N": str(expected_version)}}
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeValues"] = values
            kwargs["ExpressionAttributeNames"] = {"#v": "version"}
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            failure = translate(f"PutItem {record.key} to {self._table}", exc)
            raise failure.as_kind(StateStoreError) from exc
        except BotoCoreError as exc:
            failure = translate(f"PutItem {record.key} to {self._table}", exc)
            raise failure.as_kind(StateStoreError) from exc
        return True


def _plain(value: Any) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    return None


def _typed(value: object) -> dict[str, str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return {"S": str(value)}
    return {"N": str(value)}
