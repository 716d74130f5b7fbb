"""SNS publishing with bounded retries. A publish that still fails is reported, so the state is not advanced."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from webid_canary.adapters.aws import translate
from webid_canary.app.ports import Message, PublishError

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsNotifier:
    def __init__(
        self,
        client: SNSClient,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def publish(self, topic_arn: str, message: Message) -> str:
        """Publish one message per protocol: the JSON body by default, the short text to e-mail, and AWS Chatbot's
        custom notification to https subscribers (Chatbot subscribes over https); returns the message id.
        With MessageStructure json, "You can define other top-level keys that define the message you want to send to
        a specific transport protocol": https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
        """
        structure = {"default": message.default, "email": message.email}
        if message.chat:
            structure["https"] = message.chat
        body = json.dumps(structure)
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items() if v}
        last: ClientError | BotoCoreError | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                answer = self._client.publish(
                    TopicArn=topic_arn,
                    Subject=message.subject,
                    Message=body,
                    MessageStructure="json",
                    MessageAttributes=attributes,  # type: ignore[arg-type]
                )
                return str(answer["MessageId"])
            except (ClientError, BotoCoreError) as exc:
                last = exc
                if attempt < self._attempts:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
        assert last is not None
        failure = translate(f"Publish to {topic_arn}", last)
        raise failure.as_kind(PublishError) from last
