"""Cognito identity tokens: moto's developer-identity tokens become signed JWTs the strict STS verifies."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from webid_canary.local.aws import LocalAws
from webid_canary.local.seed import Seeder

COGNITO = "cognito-identity.amazonaws.com"


def cognito_trust(pool_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": COGNITO},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{COGNITO}:aud": pool_id},
                    "ForAnyValue:StringLike": {f"{COGNITO}:amr": "authenticated"},
                },
            }
        ],
    }


def developer_pool(aws: LocalAws, name: str) -> str:
    pool = aws.client("cognito-identity").create_identity_pool(
        IdentityPoolName=name, AllowUnauthenticatedIdentities=False, DeveloperProviderName="login.webid-canary"
    )
    return str(pool["IdentityPoolId"])


def developer_token(aws: LocalAws, pool_id: str, user: str = "probe") -> str:
    answer = aws.client("cognito-identity").get_open_id_token_for_developer_identity(
        IdentityPoolId=pool_id, Logins={"login.webid-canary": user}, TokenDuration=900
    )
    return str(answer["Token"])


def assume(aws: LocalAws, role_arn: str, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = aws.client("sts").assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=token
    )
    return answer


def test_a_developer_identity_token_is_a_cognito_shaped_jwt(aws: LocalAws) -> None:
    pool_id = developer_pool(aws, "probes")
    claims = jwt.decode(developer_token(aws, pool_id), options={"verify_signature": False})
    assert claims["iss"] == f"https://{COGNITO}"
    assert claims["aud"] == pool_id
    assert claims["amr"][0] == "authenticated"
    assert claims["amr"][-1] == f"login.webid-canary:{pool_id}:probe"
    assert jwt.get_unverified_header(developer_token(aws, pool_id))["alg"] == "RS512"


def test_the_pool_the_role_trusts_is_accepted(aws: LocalAws, seed: Seeder) -> None:
    pool_id = developer_pool(aws, "probes")
    role_arn = seed.role("cognito-probe", cognito_trust(pool_id))
    answer = assume(aws, role_arn, developer_token(aws, pool_id))
    assert answer["Provider"] == COGNITO
    assert answer["Audience"] == pool_id


def test_another_pool_is_access_denied(aws: LocalAws, seed: Seeder) -> None:
    trusted, other = developer_pool(aws, "probes"), developer_pool(aws, "others")
    role_arn = seed.role("cognito-probe", cognito_trust(trusted))
    with pytest.raises(ClientError) as caught:
        assume(aws, role_arn, developer_token(aws, other))
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_a_forged_cognito_token_is_refused(aws: LocalAws, seed: Seeder) -> None:
    pool_id = developer_pool(aws, "probes")
    role_arn = seed.role("cognito-probe", cognito_trust(pool_id))
    genuine = jwt.decode(developer_token(aws, pool_id), options={"verify_signature": False})
    header = jwt.get_unverified_header(developer_token(aws, pool_id))
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(genuine, forger, algorithm="RS512", headers={"kid": header["kid"]})
    with pytest.raises(ClientError) as caught:
        assume(aws, role_arn, forged)
    assert caught.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_a_pool_moto_does_not_know_is_refused(aws: LocalAws, seed: Seeder) -> None:
    pool_id = developer_pool(aws, "probes")
    role_arn = seed.role("cognito-probe", cognito_trust("us-east-1:00000000-0000-0000-0000-000000000000"))
    token = developer_token(aws, pool_id)
    aws.client("cognito-identity").delete_identity_pool(IdentityPoolId=pool_id)
    with pytest.raises(ClientError) as caught:
        assume(aws, role_arn, token)
    assert caught.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_stock_moto_cognito_tokens_are_no_jwt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the local environment mints its own: moto alone returns a random "region:uuid" string."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with LocalAws(None) as stock:
        token = developer_token(stock, developer_pool(stock, "probes"))
    assert token.count(".") != 2
