"""Create what a test or the demo needs in the local AWS: roles, OIDC providers, tables, topics, secrets.

The functions that touch AWS take a boto3 client factory (`LocalAws.client`, `LocalMotoServer.client`) and a `Seeder`
binds one, so the same seeding works in-process and over HTTP. Table schemas follow names.py and infra/tables.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from webid_canary import names

ClientFactory = Callable[..., Any]

WEB_IDENTITY_ACTION: Final = "sts:AssumeRoleWithWebIdentity"


@dataclass(frozen=True, slots=True)
class Topic:
    """An SNS topic with an SQS queue subscribed (raw delivery off), to read back what was published."""

    topic_arn: str
    queue_url: str
    queue_arn: str


def oidc_trust_policy(
    provider_arn: str,
    provider_url: str,
    *,
    sub: str | Sequence[str] | None = None,
    aud: str | Sequence[str] | None = None,
    operator: str = "StringEquals",
    extra_conditions: Mapping[str, Mapping[str, object]] | None = None,
    action: str | Sequence[str] = WEB_IDENTITY_ACTION,
) -> dict[str, Any]:
    """A trust policy for one OIDC provider: `Principal.Federated` is the provider ARN, conditions on `sub`/`aud`."""
    conditions: dict[str, dict[str, object]] = {}
    if sub is not None:
        conditions.setdefault(operator, {})[f"{provider_url}:sub"] = sub if isinstance(sub, str) else list(sub)
    if aud is not None:
        conditions.setdefault("StringEquals", {})[f"{provider_url}:aud"] = aud if isinstance(aud, str) else list(aud)
    for op, block in (extra_conditions or {}).items():
        conditions.setdefault(op, {}).update(block)
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": action if isinstance(action, str) else list(action),
    }
    if conditions:
        statement["Condition"] = conditions
    return {"Version": "2012-10-17", "Statement": [statement]}


def create_provider(
    client: ClientFactory,
    url: str,
    *,
    client_ids: Sequence[str] = ("sts.amazonaws.com",),
    thumbprints: Sequence[str] = (),
) -> str:
    """An IAM OIDC provider for `url` (with or without https://); returns its ARN."""
    iam = client("iam")
    answer = iam.create_open_id_connect_provider(
        Url=url if url.startswith("https://") else f"https://{url}",
        ClientIDList=list(client_ids),
        ThumbprintList=[t.lower() for t in thumbprints],
    )
    return str(answer["OpenIDConnectProviderArn"])


def create_role(
    client: ClientFactory,
    name: str,
    trust_policy: Mapping[str, Any] | str,
    *,
    max_session_duration: int = 3600,
    path: str = "/",
) -> str:
    """A role with this trust policy (a dict or the JSON text as IAM would store it); returns its ARN."""
    iam = client("iam")
    document = trust_policy if isinstance(trust_policy, str) else json.dumps(trust_policy)
    answer = iam.create_role(
        RoleName=name,
        Path=path,
        AssumeRolePolicyDocument=document,
        MaxSessionDuration=max_session_duration,
    )
    return str(answer["Role"]["Arn"])


def create_targets_table(client: ClientFactory, name: str = "webid-canary-targets") -> str:
    """The Targets table (partition key `target_id`, on-demand), as the stack defines it; returns its name."""
    return _create_table(client, name, names.TARGETS_KEY)


def create_state_table(client: ClientFactory, name: str = "webid-canary-state") -> str:
    """The State table (partition key `pk`, on-demand), as the stack defines it; returns its name."""
    return _create_table(client, name, names.STATE_PK)


def _create_table(client: ClientFactory, name: str, key: str) -> str:
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


def create_topic(client: ClientFactory, name: str = "webid-canary-notifications") -> Topic:
    """An SNS topic with an SQS queue subscribed, so tests can read the messages back."""
    sns = client("sns")
    sqs = client("sqs")
    topic_arn = str(sns.create_topic(Name=name)["TopicArn"])
    queue_url = str(sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"])
    queue_arn = str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(topic_arn=topic_arn, queue_url=queue_url, queue_arn=queue_arn)


def read_messages(client: ClientFactory, topic: Topic, *, max_messages: int = 10) -> list[dict[str, Any]]:
    """The SNS envelopes delivered to the topic's queue so far (Message, MessageAttributes, Subject), consumed."""
    sqs = client("sqs")
    delivered: list[dict[str, Any]] = []
    while len(delivered) < max_messages:
        answer = sqs.receive_message(
            QueueUrl=topic.queue_url, MaxNumberOfMessages=min(10, max_messages - len(delivered)), WaitTimeSeconds=0
        )
        batch = answer.get("Messages", [])
        if not batch:
            break
        for message in batch:
            delivered.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=topic.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


def create_secret(client: ClientFactory, name: str, value: str | Mapping[str, Any]) -> str:
    """A Secrets Manager secret under the product's prefix (added when missing); returns its ARN."""
    full = name if name.startswith(names.SECRET_PREFIX) else names.SECRET_PREFIX + name
    text = value if isinstance(value, str) else json.dumps(value)
    answer = client("secretsmanager").create_secret(Name=full, SecretString=text)
    return str(answer["ARN"])


class Issuer(Protocol):
    """What seeding needs of an issuer (LocalIssuer, NpmOpenIdProvider): its IAM URL and thumbprint."""

    @property
    def provider_url(self) -> str: ...

    @property
    def thumbprint(self) -> str: ...


class Seeder:
    """Seeding bound to one environment's client factory: roles, providers, tables, topics, secrets."""

    def __init__(self, client: ClientFactory) -> None:
        self.client = client

    def provider(
        self,
        issuer: Issuer,
        *,
        client_ids: Sequence[str] = ("sts.amazonaws.com",),
        thumbprints: Sequence[str] | None = None,
    ) -> str:
        """Register the issuer as an IAM OIDC provider (its own thumbprint unless told otherwise); the ARN."""
        pinned = [issuer.thumbprint] if thumbprints is None else list(thumbprints)
        return create_provider(self.client, issuer.provider_url, client_ids=client_ids, thumbprints=pinned)

    def role(self, name: str, trust_policy: Mapping[str, Any] | str, *, max_session_duration: int = 3600) -> str:
        return create_role(self.client, name, trust_policy, max_session_duration=max_session_duration)

    def web_identity_role(
        self,
        name: str,
        issuer: Issuer,
        provider_arn: str,
        *,
        sub: str | Sequence[str] | None = None,
        aud: str | Sequence[str] | None = None,
        operator: str = "StringEquals",
        max_session_duration: int = 3600,
    ) -> str:
        """A role trusting this issuer's provider for `sub` (and `aud`); returns its ARN."""
        policy = oidc_trust_policy(provider_arn, issuer.provider_url, sub=sub, aud=aud, operator=operator)
        return self.role(name, policy, max_session_duration=max_session_duration)

    def tables(self) -> tuple[str, str]:
        """The Targets and State tables; returns their names."""
        return create_targets_table(self.client), create_state_table(self.client)

    def topic(self, name: str = "webid-canary-notifications") -> Topic:
        return create_topic(self.client, name)

    def messages(self, topic: Topic, *, max_messages: int = 10) -> list[dict[str, Any]]:
        return read_messages(self.client, topic, max_messages=max_messages)

    def secret(self, name: str, value: str | Mapping[str, Any]) -> str:
        return create_secret(self.client, name, value)
