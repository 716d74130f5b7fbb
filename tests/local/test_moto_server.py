"""The strict STS across the HTTP boundary: a ThreadedMotoServer on 127.0.0.1, reached by boto3 over the wire."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from xml.etree import ElementTree

import pytest
from botocore.exceptions import ClientError

from webid_canary.local.aws import LocalMotoServer
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder

SUB = "repo:example/payments:ref:refs/heads/main"
AUD = "sts.amazonaws.com"


@pytest.fixture
def role_arn(server_seed: Seeder, local_issuer: LocalIssuer) -> str:
    provider_arn = server_seed.provider(local_issuer, client_ids=[AUD])
    return server_seed.web_identity_role("deploy", local_issuer, provider_arn, sub=SUB, aud=AUD)


def test_the_server_listens_on_loopback_only(moto_server: str) -> None:
    parts = urllib.parse.urlsplit(moto_server)
    assert parts.scheme == "http"
    assert parts.hostname == "127.0.0.1"
    assert parts.port


def test_the_right_token_is_accepted_over_http(
    local_moto_server: LocalMotoServer, role_arn: str, local_issuer: LocalIssuer
) -> None:
    sts = local_moto_server.client("sts")
    answer = sts.assume_role_with_web_identity(
        RoleArn=role_arn,
        RoleSessionName="webid-canary",
        WebIdentityToken=local_issuer.mint({"sub": SUB, "aud": AUD}),
        DurationSeconds=900,
    )
    assert answer["SubjectFromWebIdentityToken"] == SUB
    assert answer["Provider"].endswith(f":oidc-provider/{local_issuer.provider_url}")

    credentials = answer["Credentials"]
    identity = local_moto_server.client(
        "sts",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/deploy/webid-canary"


@pytest.mark.parametrize(
    ("claims", "token", "expected"),
    [
        (None, "garbage-not-a-jwt", ("InvalidIdentityToken", 400)),
        ({"sub": "repo:example/other:ref:refs/heads/main", "aud": AUD}, None, ("AccessDenied", 403)),
        ({"sub": SUB, "aud": "not-registered"}, None, ("InvalidIdentityToken", 400)),
    ],
)
def test_refusals_cross_the_wire_with_aws_codes_and_statuses(
    local_moto_server: LocalMotoServer,
    role_arn: str,
    local_issuer: LocalIssuer,
    claims: dict[str, str] | None,
    token: str | None,
    expected: tuple[str, int],
) -> None:
    sts = local_moto_server.client("sts")
    value = token if token is not None else local_issuer.mint(claims or {})
    with pytest.raises(ClientError) as caught:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="webid-canary", WebIdentityToken=value)
    response = caught.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == expected
    assert response["Error"]["Type"] == "Sender"


def test_an_expired_token_is_refused_over_http(
    local_moto_server: LocalMotoServer, role_arn: str, local_issuer: LocalIssuer
) -> None:
    sts = local_moto_server.client("sts")
    with pytest.raises(sts.exceptions.ExpiredTokenException):
        sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName="webid-canary",
            WebIdentityToken=local_issuer.mint({"sub": SUB, "aud": AUD}, expires_in=-1),
        )


def test_the_wire_answer_is_an_sts_error_document(moto_server: str, role_arn: str) -> None:
    """Without any SDK: status 400 and STS's query-protocol error XML."""
    form = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": "webid-canary",
            "WebIdentityToken": "garbage-not-a-jwt",
        }
    ).encode()
    request = urllib.request.Request(moto_server + "/", data=form, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    document = ElementTree.fromstring(caught.value.read())
    namespace = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    assert document.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"
    assert document.findtext("sts:Error/sts:Type", namespaces=namespace) == "Sender"
    assert document.findtext("sts:Error/sts:Code", namespaces=namespace) == "InvalidIdentityToken"
    assert document.findtext("sts:RequestId", namespaces=namespace)


def test_the_environment_points_processes_at_the_server(local_moto_server: LocalMotoServer) -> None:
    environment = local_moto_server.environment()
    assert environment["AWS_ENDPOINT_URL"] == local_moto_server.endpoint_url
    assert environment["AWS_DEFAULT_REGION"] == "us-east-1"
