"""A real third-party OpenID provider (npm oidc-provider) meets the strict STS through the client-credentials grant."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from botocore.exceptions import ClientError

from webid_canary.local.aws import LocalAws, LocalMotoServer
from webid_canary.local.npm_provider import NpmOpenIdProvider, NpmProviderError, unavailable_reason
from webid_canary.local.pki import Pki
from webid_canary.local.seed import Seeder

pytestmark = pytest.mark.node


def test_the_client_credentials_grant_yields_a_jwt_access_token(npm_provider: NpmOpenIdProvider) -> None:
    token = npm_provider.fetch_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == npm_provider.url
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == npm_provider.client_id
    assert claims["exp"] > claims["iat"]
    assert npm_provider.url.startswith("https://127.0.0.1:")


def test_a_role_that_trusts_the_client_accepts_its_token(
    aws: LocalAws, seed: Seeder, npm_provider: NpmOpenIdProvider
) -> None:
    provider_arn = seed.provider(npm_provider, client_ids=["sts.amazonaws.com"])
    role_arn = seed.web_identity_role(
        "batch-job", npm_provider, provider_arn, sub=npm_provider.client_id, aud="sts.amazonaws.com"
    )
    answer = aws.client("sts").assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=npm_provider.fetch_token()
    )
    assert answer["SubjectFromWebIdentityToken"] == npm_provider.client_id
    assert answer["Provider"] == provider_arn


def test_a_role_that_trusts_another_client_refuses_it(
    aws: LocalAws, seed: Seeder, npm_provider: NpmOpenIdProvider
) -> None:
    provider_arn = seed.provider(npm_provider, client_ids=["sts.amazonaws.com"])
    role_arn = seed.web_identity_role("other-job", npm_provider, provider_arn, sub="some-other-client")
    with pytest.raises(ClientError) as caught:
        aws.client("sts").assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=npm_provider.fetch_token()
        )
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)


def test_a_provider_without_the_audience_refuses_the_token(
    aws: LocalAws, seed: Seeder, npm_provider: NpmOpenIdProvider
) -> None:
    provider_arn = seed.provider(npm_provider, client_ids=["another-audience"])
    role_arn = seed.web_identity_role("batch-job", npm_provider, provider_arn, sub=npm_provider.client_id)
    with pytest.raises(ClientError) as caught:
        aws.client("sts").assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=npm_provider.fetch_token()
        )
    assert caught.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert caught.value.response["Error"]["Message"] == "Incorrect token audience"


def test_the_npm_token_is_accepted_through_the_moto_server(
    local_moto_server: LocalMotoServer, server_seed: Seeder, npm_provider: NpmOpenIdProvider
) -> None:
    provider_arn = server_seed.provider(npm_provider, client_ids=["sts.amazonaws.com"])
    role_arn = server_seed.web_identity_role("batch-job", npm_provider, provider_arn, sub=npm_provider.client_id)
    answer = local_moto_server.client("sts").assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=npm_provider.fetch_token()
    )
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/batch-job/webid-canary"


def test_a_missing_package_is_named_as_the_reason(tmp_path: Path) -> None:
    reason = unavailable_reason(tmp_path)
    assert reason is not None
    assert "oidc-provider" in reason or "node" in reason


def test_a_provider_that_cannot_start_says_what_node_said(tmp_path: Path, local_pki: Pki) -> None:
    if unavailable_reason() == "node is not on PATH":
        pytest.skip("node is not on PATH")
    broken = tmp_path / "node_modules" / "oidc-provider"
    broken.mkdir(parents=True)
    (broken / "package.json").write_text(json.dumps({"name": "oidc-provider", "main": "missing.js"}))
    with pytest.raises(NpmProviderError) as caught:
        NpmOpenIdProvider(local_pki, root=tmp_path, start_timeout=20).start()
    message = str(caught.value)
    assert "node exited" in message
    assert "node said" in message
