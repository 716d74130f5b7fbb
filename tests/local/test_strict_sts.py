"""Self-tests of the local AWS: the strict STS answers AssumeRoleWithWebIdentity as STS does, through boto3.

These are what keep the suite from silently falling back to stock moto, which hands out credentials for any
token at all (see test_stock_moto_would_accept_garbage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.sts.responses import TokenResponse

from webid_canary.local.aws import LocalAws, StrictStsInstallation, strict_sts_installed
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder

SUB = "system:serviceaccount:payments:api"
AUD = "sts.amazonaws.com"
NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})

IssuerFactory = Callable[..., LocalIssuer]


def refusal(call: Callable[[], Any]) -> tuple[str, int, str]:
    """The AWS error code, HTTP status and message of a refused call."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


class Federation:
    """One issuer registered as an IAM OIDC provider, with a role trusting one service account."""

    def __init__(
        self, aws: LocalAws, seed: Seeder, issuer: LocalIssuer, *, thumbprints: list[str] | None = None
    ) -> None:
        self.aws = aws
        self.issuer = issuer
        self.provider_arn = seed.provider(issuer, client_ids=[AUD], thumbprints=thumbprints)
        self.role_arn = seed.web_identity_role("payments-api", issuer, self.provider_arn, sub=SUB, aud=AUD)
        self.sts = aws.client("sts", config=NO_RETRIES)

    def assume(self, token: str, **kwargs: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": "webid-canary",
            "WebIdentityToken": token,
        }
        params.update(kwargs)
        answer: dict[str, Any] = self.sts.assume_role_with_web_identity(**params)
        return answer

    def refused(self, token: str, **kwargs: Any) -> tuple[str, int, str]:
        return refusal(lambda: self.assume(token, **kwargs))

    def good_token(self, **claims: Any) -> str:
        return self.issuer.mint({"sub": SUB, "aud": AUD, **claims})


@pytest.fixture
def federation(aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer) -> Federation:
    return Federation(aws, seed, local_issuer)


def test_the_right_token_is_accepted_with_what_sts_returns(federation: Federation) -> None:
    answer = federation.assume(federation.good_token())

    assert answer["SubjectFromWebIdentityToken"] == SUB
    assert answer["Audience"] == AUD
    assert answer["Provider"] == federation.provider_arn
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/payments-api/webid-canary"
    assert answer["AssumedRoleUser"]["AssumedRoleId"].endswith(":webid-canary")
    assert set(answer["Credentials"]) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}


def test_the_credentials_are_the_assumed_role_for_get_caller_identity(federation: Federation) -> None:
    credentials = federation.assume(federation.good_token(), DurationSeconds=900)["Credentials"]
    session = federation.aws.client(
        "sts",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    identity = session.get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/payments-api/webid-canary"
    assert identity["Account"] == "123456789012"


def test_a_garbage_token_is_refused(federation: Federation) -> None:
    code, status, message = federation.refused("garbage-not-a-jwt")
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "not a valid JWT" in message


def test_an_expired_token_is_refused(federation: Federation) -> None:
    code, status, message = federation.refused(federation.issuer.mint({"sub": SUB, "aud": AUD}, expires_in=-60))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert message.startswith("Token expired: current date/time ")


def test_a_token_not_yet_valid_is_refused(federation: Federation) -> None:
    code, status, _ = federation.refused(federation.good_token(nbf=4_000_000_000))
    assert (code, status) == ("InvalidIdentityToken", 400)


def test_a_wrong_audience_is_refused(federation: Federation) -> None:
    code, status, message = federation.refused(federation.issuer.mint({"sub": SUB, "aud": "someone-else"}))
    assert (code, status, message) == ("InvalidIdentityToken", 400, "Incorrect token audience")


def test_a_token_signed_by_an_unknown_key_is_refused(federation: Federation) -> None:
    forged = federation.issuer.mint({"sub": SUB, "aud": AUD}, sign_with_unknown_key=True)
    code, status, message = federation.refused(forged)
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "could not be validated" in message


def test_a_kid_the_jwks_does_not_hold_is_refused(federation: Federation) -> None:
    code, _, message = federation.refused(federation.issuer.mint({"sub": SUB, "aud": AUD}, kid="retired-key"))
    assert code == "InvalidIdentityToken"
    assert message.startswith("Couldn't retrieve verification key from your identity provider")


def test_a_thumbprint_that_does_not_match_the_chain_is_refused(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer
) -> None:
    # The local roots are no public CA, so STS must rely on the pinned thumbprint, and this one is wrong.
    federation = Federation(aws, seed, local_issuer, thumbprints=["0" * 40])
    code, status, message = federation.refused(federation.good_token())
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert message == "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"


def test_a_rotated_intermediate_breaks_the_pinned_thumbprint(federation: Federation) -> None:
    federation.assume(federation.good_token())
    federation.issuer.rotate_intermediate()
    federation.aws.clear_jwks_cache()

    code, _, message = federation.refused(federation.good_token())
    assert code == "InvalidIdentityToken"
    assert "thumbprint" in message


def test_updating_the_thumbprint_list_repairs_the_provider(federation: Federation) -> None:
    federation.issuer.rotate_intermediate()
    federation.aws.clear_jwks_cache()
    assert federation.refused(federation.good_token())[0] == "InvalidIdentityToken"

    federation.aws.client("iam").update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=federation.provider_arn, ThumbprintList=[federation.issuer.thumbprint]
    )
    assert federation.assume(federation.good_token())["SubjectFromWebIdentityToken"] == SUB


def test_a_sub_the_trust_policy_does_not_allow_is_access_denied(federation: Federation) -> None:
    token = federation.issuer.mint({"sub": "system:serviceaccount:payments:debug-shell", "aud": AUD})
    assert federation.refused(token) == ("AccessDenied", 403, NOT_AUTHORIZED)


def test_a_missing_role_is_access_denied(federation: Federation) -> None:
    missing = "arn:aws:iam::123456789012:role/does-not-exist"
    assert federation.refused(federation.good_token(), RoleArn=missing) == ("AccessDenied", 403, NOT_AUTHORIZED)


def test_an_unregistered_issuer_has_no_provider(aws: LocalAws, seed: Seeder, issuer_factory: IssuerFactory) -> None:
    registered, other = issuer_factory(), issuer_factory()
    federation = Federation(aws, seed, registered)
    code, status, message = federation.refused(other.mint({"sub": SUB, "aud": AUD}))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert message == f"No OpenIDConnect provider found in your account for {other.url}"


def test_a_bad_session_name_is_a_validation_error(federation: Federation) -> None:
    code, status, message = federation.refused(federation.good_token(), RoleSessionName="web identity")
    assert (code, status) == ("ValidationError", 400)
    assert "at 'roleSessionName' failed to satisfy constraint" in message


def test_a_duration_above_the_role_maximum_is_a_validation_error(federation: Federation) -> None:
    code, status, message = federation.refused(federation.good_token(), DurationSeconds=7200)
    assert (code, status) == ("ValidationError", 400)
    assert message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


def test_a_malformed_session_policy_is_refused(federation: Federation) -> None:
    code, status, _ = federation.refused(federation.good_token(), Policy="{not json")
    assert (code, status) == ("MalformedPolicyDocument", 400)


def test_the_probe_session_policy_is_accepted(federation: Federation) -> None:
    from webid_canary import names

    answer = federation.assume(federation.good_token(), Policy=names.PROBE_SESSION_POLICY, DurationSeconds=900)
    assert answer["SubjectFromWebIdentityToken"] == SUB


def test_an_issuer_that_cannot_be_reached_is_an_idp_communication_error(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer
) -> None:
    federation = Federation(aws, seed, local_issuer)
    token = federation.good_token()
    local_issuer.stop()
    code, status, _ = federation.refused(token)
    assert (code, status) == ("IDPCommunicationError", 400)


def test_keys_are_cached_until_the_cache_is_cleared(federation: Federation) -> None:
    federation.assume(federation.good_token())
    federation.issuer.rotate_signing_key(keep_old=False)
    fresh = federation.good_token()

    code, _, _ = federation.refused(fresh)
    assert code == "InvalidIdentityToken"

    federation.aws.clear_jwks_cache()
    assert federation.assume(fresh)["SubjectFromWebIdentityToken"] == SUB


def test_leaving_the_environment_restores_stock_moto(strict_sts: StrictStsInstallation) -> None:
    stock = TokenResponse.assume_role_with_web_identity
    with LocalAws(strict_sts):
        assert strict_sts_installed()
        assert TokenResponse.assume_role_with_web_identity is not stock
    assert not strict_sts_installed()
    assert TokenResponse.assume_role_with_web_identity is stock


def test_stock_moto_would_accept_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the strict STS switched off, moto hands out credentials for garbage: the self-tests above would fail."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with LocalAws(None) as stock:
        assert not strict_sts_installed()
        answer = stock.client("sts").assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/does-not-exist",
            RoleSessionName="webid-canary",
            WebIdentityToken="garbage-not-a-jwt",
        )
    assert answer["Credentials"]["AccessKeyId"]


def test_switching_the_strict_sts_off_lets_the_garbage_self_test_fail(
    aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer
) -> None:
    federation = Federation(aws, seed, local_issuer)
    installation = aws.installation
    assert installation is not None and strict_sts_installed()

    installation.__exit__(None, None, None)
    try:
        assert not strict_sts_installed()
        with pytest.raises(pytest.fail.Exception):
            test_a_garbage_token_is_refused(federation)
    finally:
        installation.__enter__()
    test_a_garbage_token_is_refused(federation)
