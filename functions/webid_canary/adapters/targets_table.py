"""The Targets table in DynamoDB: conditional writes so that no registration overwrites another by accident.

Items are parsed with core.targets once, here; an item that does not validate is handed on as its TargetError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from webid_canary import names
from webid_canary.adapters.aws import error_code, translate
from webid_canary.app.ports import AwsError, AwsMissingError
from webid_canary.core.targets import Target, TargetError, item_bytes, parse_target, target_to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY: Final = names.TARGETS_KEY
TRANSACTION_LIMIT: Final = 100
# TransactWriteItems carries at most 4 MB in all (100 items of 400 KB would not fit).
TRANSACTION_BYTES: Final = 4_000_000
BATCH_GET_LIMIT: Final = 100


class TargetsTableMissingError(AwsMissingError):
    """The table does not exist (wrong name, region or account); names the table and the region asked."""

    def __init__(self, operation: str, code: str, table_name: str, region: str | None) -> None:
        where = f" in {region}" if region else ""
        super().__init__(operation, code, f"table {table_name!r} not found{where}")
        self.table_name = table_name
        self.region = region


class TargetExistsError(AwsError):
    """A target with this id is already registered: replacing it must be asked for."""

    def __init__(self, operation: str, target_ids: Sequence[str]) -> None:
        listed = ", ".join(target_ids)
        noun = "target" if len(target_ids) == 1 else "targets"
        super().__init__(operation, "TargetExists", f"{noun} {listed} already registered; replace to update")
        self.target_ids = tuple(target_ids)


class TargetNotFoundError(AwsError):
    """No target with this id is registered."""

    def __init__(self, operation: str, target_id: str) -> None:
        super().__init__(operation, "TargetNotFound", f"no target {target_id!r} is registered")
        self.target_id = target_id


# ConditionalCheckFailed is handled by each operation (it means exists or does not exist, depending on the write).
CONDITION_FAILED: Final = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


class _ConditionFailedError(Exception):
    """Internal: a write's condition was false; the operation turns this into its own error."""

    def __init__(self, response: Mapping[str, Any]) -> None:
        super().__init__("condition failed")
        self.response = response


def _call[T](operation: str, request: Callable[[], T], *, table_name: str, region: str | None) -> T:
    try:
        return request()
    except ClientError as exc:
        code = error_code(exc)
        if code in CONDITION_FAILED:
            raise _ConditionFailedError(exc.response) from exc
        if code == "ResourceNotFoundException":
            raise TargetsTableMissingError(operation, code, table_name, region) from exc
        raise translate(operation, exc) from exc
    except BotoCoreError as exc:
        raise translate(operation, exc) from exc


def _transactions(targets: Sequence[Target]) -> Iterator[Sequence[Target]]:
    """The targets in order, cut into transactions of at most TRANSACTION_LIMIT items and TRANSACTION_BYTES."""
    chunk: list[Target] = []
    size = 0
    for target in targets:
        bytes_ = item_bytes(target_to_item(target))
        if chunk and (len(chunk) == TRANSACTION_LIMIT or size + bytes_ > TRANSACTION_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(target)
        size += bytes_
    if chunk:
        yield chunk


def _client(table_resource_or_client: Any) -> tuple[DynamoDBClient, bool]:
    """The client to call, and whether it takes plain values (a resource's client converts them itself)."""
    meta = getattr(table_resource_or_client, "meta", None)
    client = getattr(meta, "client", None)
    if client is not None:
        return client, True
    return table_resource_or_client, False


class TargetsTable:
    """Read and write target items; takes a boto3 DynamoDB client, service resource or Table resource."""

    def __init__(self, table_resource_or_client: Any, table_name: str, *, page_size: int | None = None) -> None:
        self._client, self._plain = _client(table_resource_or_client)
        self.table_name = table_name
        self.region: str | None = getattr(self._client.meta, "region_name", None)
        self._page_size = page_size
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # --- reads ---------------------------------------------------------------------------------------------

    def get_item(self, target_id: str) -> dict[str, Any] | None:
        """The stored item as plain Python values (numbers as Decimal), or None; not validated."""
        answer = self._call(
            "GetItem",
            lambda: self._client.get_item(TableName=self.table_name, Key=self._key(target_id), ConsistentRead=True),
        )
        raw = answer.get("Item")
        return None if raw is None else self._decode(raw)

    def get(self, target_id: str) -> Target | None:
        """The target, or None when none is registered; raises TargetError when the stored item is invalid."""
        item = self.get_item(target_id)
        return None if item is None else parse_target(item)

    def scan(self, *, enabled_only: bool = False) -> Iterator[tuple[str, Target | TargetError]]:
        """Every item, page by page, as (target_id, Target) or (target_id, TargetError): never fatal per item.

        With `enabled_only`, disabled targets are skipped (and invalid items whose `enabled` is literally false).
        """
        paging: Any = {} if self._page_size is None else {"PageSize": self._page_size}
        paginator = self._client.get_paginator("scan")
        pages = iter(paginator.paginate(TableName=self.table_name, PaginationConfig=paging))
        while True:
            page = self._call("Scan", lambda: next(pages, None))
            if page is None:
                return
            for raw in page.get("Items", []):
                item = self._decode(raw)
                target_id = str(item.get(KEY, ""))
                try:
                    target: Target | TargetError = parse_target(item)
                except TargetError as exc:
                    target = exc
                if enabled_only and (
                    target.enabled is False if isinstance(target, Target) else item.get("enabled") is False
                ):
                    continue
                yield target_id, target

    def existing(self, target_ids: Iterable[str]) -> set[str]:
        """Which of these ids are registered (BatchGetItem, 100 keys a call)."""
        wanted = sorted(set(target_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys: list[Mapping[str, Any]] = [self._key(i) for i in wanted[start : start + BATCH_GET_LIMIT]]
            while keys:
                request: Any = {
                    self.table_name: {
                        "Keys": keys,
                        "ProjectionExpression": "#key",
                        "ExpressionAttributeNames": {"#key": KEY},
                        "ConsistentRead": True,
                    }
                }
                answer: Any = self._call("BatchGetItem", partial(self._client.batch_get_item, RequestItems=request))
                for raw in answer.get("Responses", {}).get(self.table_name, []):
                    found.add(str(self._decode(raw)[KEY]))
                keys = list(answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", []))
        return found

    # --- writes --------------------------------------------------------------------------------------------

    def put(self, target: Target, *, replace: bool = False) -> None:
        """Store a target; unless `replace`, only when no target with its id exists (else TargetExistsError)."""
        extra: dict[str, Any] = {} if replace else self._must_not_exist()
        try:
            self._call(
                "PutItem",
                lambda: self._client.put_item(TableName=self.table_name, Item=self._encode(target), **extra),
            )
        except _ConditionFailedError as exc:
            raise TargetExistsError("PutItem", [target.target_id]) from exc

    def put_all(
        self,
        targets: Sequence[Target],
        *,
        replace: bool = False,
        on_written: Callable[[Sequence[Target]], None] | None = None,
    ) -> None:
        """Store several targets, all or none per transaction (100 items, 4 MB); unless `replace`, none may exist.

        Without `replace` the ids are checked first, so that a long list is refused before any write.
        `on_written` hears of each committed transaction's targets, so a caller can say what a later failure
        left written.
        """
        ids = [t.target_id for t in targets]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"target ids given more than once: {', '.join(duplicates)}")
        if not replace and (taken := self.existing(ids)):
            raise TargetExistsError("BatchGetItem", sorted(taken))
        for chunk in _transactions(targets):
            extra: dict[str, Any] = {} if replace else self._must_not_exist()
            writes: Any = [{"Put": {"TableName": self.table_name, "Item": self._encode(t), **extra}} for t in chunk]
            try:
                self._call("TransactWriteItems", partial(self._client.transact_write_items, TransactItems=writes))
            except _ConditionFailedError as exc:
                reasons = exc.response.get("CancellationReasons", [])
                taken_ids = [
                    t.target_id
                    for t, reason in zip(chunk, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                ]
                raise TargetExistsError("TransactWriteItems", taken_ids or [t.target_id for t in chunk]) from exc
            if on_written is not None:
                on_written(chunk)

    def delete(self, target_id: str) -> None:
        """Remove a target; TargetNotFoundError when none is registered under this id."""
        try:
            self._call(
                "DeleteItem",
                lambda: self._client.delete_item(
                    TableName=self.table_name, Key=self._key(target_id), **self._must_exist()
                ),
            )
        except _ConditionFailedError as exc:
            raise TargetNotFoundError("DeleteItem", target_id) from exc

    def set_enabled(self, target_id: str, enabled: bool) -> None:
        """Turn a target on or off without touching the rest of its item."""
        try:
            self._call(
                "UpdateItem",
                lambda: self._client.update_item(
                    TableName=self.table_name,
                    Key=self._key(target_id),
                    UpdateExpression="SET #enabled = :enabled",
                    ExpressionAttributeNames={"#enabled": "enabled", "#key": KEY},
                    ExpressionAttributeValues={":enabled": self._value(enabled)},
                    ConditionExpression="attribute_exists(#key)",
                ),
            )
        except _ConditionFailedError as exc:
            raise TargetNotFoundError("UpdateItem", target_id) from exc

    def _call[T](self, operation: str, call: Callable[[], T]) -> T:
        return _call(operation, call, table_name=self.table_name, region=self.region)

    # --- encoding ------------------------------------------------------------------------------------------

    def _value(self, value: object) -> Any:
        return value if self._plain else self._serializer.serialize(value)

    def _key(self, target_id: str) -> dict[str, Any]:
        return {KEY: self._value(target_id)}

    def _encode(self, target: Target) -> dict[str, Any]:
        return {k: self._value(v) for k, v in target_to_item(target).items()}

    def _decode(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        if self._plain:
            return dict(raw)
        return {k: self._deserializer.deserialize(v) for k, v in raw.items()}

    @staticmethod
    def _must_not_exist() -> dict[str, Any]:
        return {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": KEY}}

    @staticmethod
    def _must_exist() -> dict[str, Any]:
        return {"ConditionExpression": "attribute_exists(#key)", "ExpressionAttributeNames": {"#key": KEY}}
