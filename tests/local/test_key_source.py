"""How the strict STS fetches an issuer's keys: real HTTPS, the chain the key host presents, refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from webid_canary.local.aws import LocalAws, strict_sts_service
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.pki import Pki
from webid_canary.local.seed import Seeder
from webid_canary.local.strict_sts import HttpsKeySource, IdpKeysError, IdpUnreachableError

IssuerFactory = Callable[..., LocalIssuer]


def test_keys_and_the_presented_thumbprint_are_fetched(local_issuer: LocalIssuer, local_pki: Pki) -> None:
    keys = HttpsKeySource(ca_file=str(local_pki.ca_file), allow_private=True).fetch(local_issuer.url)
    assert keys.kids == local_issuer.kids
    assert keys.presented_thumbprints == (local_issuer.thumbprint,)
    assert keys.trusted_root_ca is False


def test_the_key_host_is_the_one_pinned_when_keys_live_elsewhere(issuer_factory: IssuerFactory, local_pki: Pki) -> None:
    issuer = issuer_factory(jwks_on_second_host=True)
    keys = HttpsKeySource(ca_file=str(local_pki.ca_file), allow_private=True).fetch(issuer.url)
    assert keys.presented_thumbprints == (issuer.jwks_thumbprint,)
    assert issuer.jwks_thumbprint != issuer.thumbprint


def test_loopback_issuers_are_refused_unless_allowed(local_issuer: LocalIssuer, local_pki: Pki) -> None:
    with pytest.raises(IdpUnreachableError, match="loopback"):
        HttpsKeySource(ca_file=str(local_pki.ca_file)).fetch(local_issuer.url)


def test_a_jwks_that_is_not_json_gives_no_keys(local_issuer: LocalIssuer, local_pki: Pki) -> None:
    local_issuer.set_mode(broken="jwks", failure="not_json")
    with pytest.raises(IdpKeysError):
        HttpsKeySource(ca_file=str(local_pki.ca_file), allow_private=True).fetch(local_issuer.url)


def test_the_local_roots_can_play_a_public_ca(local_issuer: LocalIssuer, local_pki: Pki) -> None:
    keys = HttpsKeySource(ca_file=str(local_pki.ca_file), allow_private=True, ca_file_is_public=True).fetch(
        local_issuer.url
    )
    assert keys.trusted_root_ca is True


@pytest.fixture
def public_ca_aws(monkeypatch: pytest.MonkeyPatch, local_pki: Pki) -> Iterator[LocalAws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    source = HttpsKeySource(ca_file=str(local_pki.ca_file), allow_private=True, ca_file_is_public=True)
    with LocalAws(strict_sts_service(source)) as environment:
        yield environment


def test_thumbprints_do_not_matter_for_a_chain_to_a_trusted_root(
    public_ca_aws: LocalAws, local_issuer: LocalIssuer
) -> None:
    """AWS ignores the thumbprint list when the chain verifies to a CA it trusts (IAM User Guide, OIDC providers)."""
    seed = Seeder(public_ca_aws.client)
    provider_arn = seed.provider(local_issuer, thumbprints=["0" * 40])
    role_arn = seed.web_identity_role("app", local_issuer, provider_arn, sub="app")
    answer = public_ca_aws.client("sts").assume_role_with_web_identity(
        RoleArn=role_arn,
        RoleSessionName="webid-canary",
        WebIdentityToken=local_issuer.mint({"sub": "app", "aud": "sts.amazonaws.com"}),
    )
    assert answer["SubjectFromWebIdentityToken"] == "app"
