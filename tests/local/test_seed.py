"""Seeding the local AWS: tables as the stack defines them, a topic whose messages can be read back, secrets."""

from __future__ import annotations

import json

from webid_canary import names
from webid_canary.local.aws import LocalAws
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder, oidc_trust_policy


def test_tables_have_the_keys_names_py_declares(aws: LocalAws, seed: Seeder) -> None:
    targets, state = seed.tables()
    dynamodb = aws.client("dynamodb")
    for table, key in ((targets, names.TARGETS_KEY), (state, names.STATE_PK)):
        description = dynamodb.describe_table(TableName=table)["Table"]
        assert description["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_published_messages_can_be_read_back_once(aws: LocalAws, seed: Seeder) -> None:
    topic = seed.topic()
    aws.client("sns").publish(
        TopicArn=topic.topic_arn,
        Message=json.dumps({"schema": names.NOTIFICATION_SCHEMA}),
        MessageAttributes={"event": {"DataType": "String", "StringValue": "failing"}},
    )
    delivered = seed.messages(topic)
    assert len(delivered) == 1
    assert json.loads(delivered[0]["Message"]) == {"schema": names.NOTIFICATION_SCHEMA}
    assert delivered[0]["MessageAttributes"]["event"]["Value"] == "failing"
    assert seed.messages(topic) == []


def test_secrets_live_under_the_product_prefix(aws: LocalAws, seed: Seeder) -> None:
    arn = seed.secret("probe-client", {"client_secret": "local-only"})
    stored = aws.client("secretsmanager").get_secret_value(SecretId="webid-canary/probe-client")
    assert stored["ARN"] == arn
    assert json.loads(stored["SecretString"]) == {"client_secret": "local-only"}


def test_a_provider_pins_the_issuer_and_a_role_trusts_it(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer
) -> None:
    provider_arn = seed.provider(local_issuer, client_ids=["sts.amazonaws.com", "other"])
    role_arn = seed.web_identity_role(
        "app", local_issuer, provider_arn, sub="a:*", operator="StringLike", aud="sts.amazonaws.com"
    )

    iam = aws.client("iam")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert provider["ThumbprintList"] == [local_issuer.thumbprint]
    assert provider["ClientIDList"] == ["sts.amazonaws.com", "other"]
    role = iam.get_role(RoleName="app")["Role"]
    assert role["Arn"] == role_arn
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Federated": provider_arn}
    assert statement["Condition"] == {
        "StringLike": {f"{local_issuer.provider_url}:sub": "a:*"},
        "StringEquals": {f"{local_issuer.provider_url}:aud": "sts.amazonaws.com"},
    }


def test_a_trust_policy_without_conditions_has_no_condition_block() -> None:
    policy = oidc_trust_policy("arn:aws:iam::123456789012:oidc-provider/h", "h")
    assert "Condition" not in policy["Statement"][0]
