"""The plan store: a cycle's plan and per-issuer results as JSON objects in S3 (organization mode)."""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary.adapters.aws import error_code, translate
from webid_canary.app.ports import PlanStoreError

# A document larger than this is refused, read or written, rather than held in a step's memory: a shard of 2,000
# targets is a few MB; nothing the plan writes comes near it unless something is wrong.
MAX_DOCUMENT_BYTES: Final = 64 * 1024 * 1024
NOT_FOUND: Final = ("NoSuchKey", "404", "NotFound")


class S3PlanStore:
    """JSON documents by key in one bucket."""

    def __init__(self, client: Any, bucket: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self._client = client
        self.bucket = bucket
        self.max_bytes = max_bytes

    def get_json(self, key: str) -> Any | None:
        """The document at `key`, or None when there is none; PlanStoreError when it is too large or not JSON."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise translate(f"GetObject s3://{self.bucket}/{key}", exc).as_kind(PlanStoreError) from exc
        except BotoCoreError as exc:
            raise translate(f"GetObject s3://{self.bucket}/{key}", exc).as_kind(PlanStoreError) from exc
        size = int(answer.get("ContentLength") or 0)
        if size > self.max_bytes:
            answer["Body"].close()
            raise PlanStoreError("GetObject", "TooLarge", f"s3://{self.bucket}/{key}: {size} bytes > {self.max_bytes}")
        try:
            body = answer["Body"].read(self.max_bytes + 1)
        except BotoCoreError as exc:
            raise translate(f"GetObject s3://{self.bucket}/{key}", exc).as_kind(PlanStoreError) from exc
        if len(body) > self.max_bytes:
            raise PlanStoreError("GetObject", "TooLarge", f"s3://{self.bucket}/{key}: more than {self.max_bytes} bytes")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PlanStoreError("GetObject", "NotJson", f"s3://{self.bucket}/{key}: {exc}") from exc

    def put_json(self, key: str, document: Any) -> None:
        """Write `document` as JSON at `key` (compact; refused over the size limit)."""
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        if len(body) > self.max_bytes:
            raise PlanStoreError(
                "PutObject", "TooLarge", f"s3://{self.bucket}/{key}: {len(body)} bytes > {self.max_bytes}"
            )
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise translate(f"PutObject s3://{self.bucket}/{key}", exc).as_kind(PlanStoreError) from exc
