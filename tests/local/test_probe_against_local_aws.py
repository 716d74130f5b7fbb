"""The live probe (adapters/sts.py) against the local AWS: a real unsigned call, confirmed, as in production."""

from __future__ import annotations

from webid_canary.adapters.sts import StsProber
from webid_canary.core.model import Token
from webid_canary.local.aws import LocalAws, LocalMotoServer
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.seed import Seeder

SUB = "system:serviceaccount:payments:api"


def trusting_role(seed: Seeder, issuer: LocalIssuer) -> str:
    provider_arn = seed.provider(issuer)
    return seed.web_identity_role("payments-api", issuer, provider_arn, sub=SUB, aud="sts.amazonaws.com")


def test_a_probe_is_allowed_and_confirmed_in_process(aws: LocalAws, seed: Seeder, local_issuer: LocalIssuer) -> None:
    role_arn = trusting_role(seed, local_issuer)
    token = Token(local_issuer.mint({"sub": SUB, "aud": "sts.amazonaws.com"}))
    answer = StsProber(aws.client).probe(role_arn, token, session_name="webid-canary", duration_seconds=900)
    assert answer.allowed
    assert (
        answer.caller_arn
        == answer.assumed_role_arn
        == "arn:aws:sts::123456789012:assumed-role/payments-api/webid-canary"
    )


def test_a_probe_with_a_neighbour_sub_is_denied_over_http(
    local_moto_server: LocalMotoServer, server_seed: Seeder, local_issuer: LocalIssuer
) -> None:
    role_arn = trusting_role(server_seed, local_issuer)
    token = Token(local_issuer.mint({"sub": "system:serviceaccount:payments:debug-shell", "aud": "sts.amazonaws.com"}))
    answer = StsProber(local_moto_server.client, sleep=lambda _: None).probe(
        role_arn, token, session_name="webid-canary", duration_seconds=900
    )
    assert not answer.allowed
    assert (answer.error_code, answer.message) == (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )
    assert answer.attempts == 1
