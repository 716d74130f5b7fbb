"""The strict STS's own checks, one at a time: parameters, JWT parsing, signatures, the JWKS cache."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from webid_canary.core.model import Token
from webid_canary.local.strict_sts import (
    CachedKeySource,
    IssuerKeys,
    StsRejectedError,
    WebIdentityRequest,
    parse_claims,
    validate_parameters,
    verify_signature,
)

ROLE = "arn:aws:iam::123456789012:role/app"
CLAIMS = {
    "iss": "https://127.0.0.1:4443",
    "sub": "system:serviceaccount:app:api",
    "aud": "sts.amazonaws.com",
    "exp": 2_000_000_000,
}


def request(**changes: object) -> WebIdentityRequest:
    base: dict[str, object] = {"role_arn": ROLE, "role_session_name": "probe", "token": Token("a.b.c")}
    base.update(changes)
    return WebIdentityRequest(**base)  # type: ignore[arg-type]


def rejected(call: object, *args: object) -> StsRejectedError:
    with pytest.raises(StsRejectedError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"role_session_name": "a"},
            "at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
        ),
        ({"role_session_name": "x" * 65}, "Member must have length less than or equal to 64"),
        ({"role_session_name": "has space"}, r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
        (
            {"role_session_name": None},
            "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"duration_seconds": 899},
            "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
        ),
        ({"duration_seconds": 43201}, "Member must have value less than or equal to 43200"),
        (
            {"token": Token("abc")},
            "at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4",
        ),
        (
            {"policy": "x" * 2049},
            "at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048",
        ),
    ],
)
def test_bad_parameters_are_validation_errors_in_aws_wording(changes: dict[str, object], fragment: str) -> None:
    error = rejected(validate_parameters, request(**changes))
    assert (error.code, error.status) == ("ValidationError", 400)
    assert error.message.startswith("1 validation error detected: ")
    assert fragment in error.message


def test_several_bad_parameters_are_counted_in_one_message() -> None:
    error = rejected(validate_parameters, request(role_session_name="a b", duration_seconds=10))
    assert error.message.startswith("2 validation errors detected: ")


def test_a_rejected_token_value_is_never_echoed() -> None:
    error = rejected(validate_parameters, request(token=Token("x" * 20001)))
    assert "x" * 50 not in error.message


def test_good_parameters_pass() -> None:
    validate_parameters(request(duration_seconds=900, policy='{"Version":"2012-10-17","Statement":[]}'))


@pytest.mark.parametrize("value", ["garbage", "a.b", "not.a.jwt", "e30.e30.", "...."])
def test_garbage_is_an_invalid_identity_token(value: str) -> None:
    error = rejected(parse_claims, Token(value))
    assert (error.code, error.status) == ("InvalidIdentityToken", 400)


@pytest.mark.parametrize("missing", ["iss", "sub", "aud", "exp"])
def test_a_missing_required_claim_is_named(missing: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {k: v for k, v in CLAIMS.items() if k != missing}
    error = rejected(parse_claims, Token(jwt.encode(claims, key, algorithm="RS256")))
    assert error.code == "InvalidIdentityToken"
    assert error.message == f"Missing a required claim: {missing}"


def test_aud_may_be_a_list_and_claims_are_read() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({**CLAIMS, "aud": ["a", "b"], "nbf": 5}, key, algorithm="RS256", headers={"kid": "k1"})
    claims, header = parse_claims(Token(token))
    assert claims.aud == ("a", "b")
    assert claims.nbf == 5.0
    assert header["kid"] == "k1"


def test_wrongly_typed_claims_are_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = rejected(parse_claims, Token(jwt.encode({**CLAIMS, "exp": "tomorrow"}, key, algorithm="RS256")))
    assert error.code == "InvalidIdentityToken"


def _rsa_keys(kid: str = "k1") -> tuple[rsa.RSAPrivateKey, IssuerKeys]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256"}
    return key, IssuerKeys.from_jwks({"keys": [jwk]})


def test_signature_by_the_published_key_verifies() -> None:
    key, keys = _rsa_keys()
    token = Token(jwt.encode(CLAIMS, key, algorithm="RS256", headers={"kid": "k1"}))
    _, header = parse_claims(token)
    verify_signature(token, header, keys)


def test_es256_tokens_verify_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "e1", "alg": "ES256"}
    token = Token(jwt.encode(CLAIMS, key, algorithm="ES256", headers={"kid": "e1"}))
    _, header = parse_claims(token)
    verify_signature(token, header, IssuerKeys(keys={"e1": jwk}))


def test_signature_by_another_key_with_the_same_kid_is_invalid() -> None:
    _, keys = _rsa_keys()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = Token(jwt.encode(CLAIMS, other, algorithm="RS256", headers={"kid": "k1"}))
    _, header = parse_claims(token)
    error = rejected(verify_signature, token, header, keys)
    assert (error.code, error.status) == ("InvalidIdentityToken", 400)


def test_a_kid_missing_from_the_jwks_means_no_verification_key() -> None:
    key, keys = _rsa_keys()
    token = Token(jwt.encode(CLAIMS, key, algorithm="RS256", headers={"kid": "rotated-away"}))
    _, header = parse_claims(token)
    error = rejected(verify_signature, token, header, keys)
    assert error.message.startswith("Couldn't retrieve verification key from your identity provider")


def test_a_key_published_for_another_algorithm_is_not_used() -> None:
    key, keys = _rsa_keys()
    token = Token(jwt.encode(CLAIMS, key, algorithm="RS512", headers={"kid": "k1"}))
    _, header = parse_claims(token)
    assert rejected(verify_signature, token, header, keys).code == "InvalidIdentityToken"


def test_a_key_without_alg_verifies_with_the_token_algorithm() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    token = Token(jwt.encode(CLAIMS, key, algorithm="RS512", headers={"kid": "k1"}))
    _, header = parse_claims(token)
    verify_signature(token, header, IssuerKeys.from_jwks({"keys": [jwk]}))


def test_symmetric_and_unsigned_tokens_are_refused() -> None:
    _, keys = _rsa_keys()
    token = Token(jwt.encode(CLAIMS, "shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": "k1"}))
    _, header = parse_claims(token)
    assert rejected(verify_signature, token, header, keys).code == "InvalidIdentityToken"


class CountingSource:
    def __init__(self) -> None:
        self.fetches = 0

    def fetch(self, issuer: str) -> IssuerKeys:
        self.fetches += 1
        return IssuerKeys.from_jwks({"keys": []}, presented_thumbprints=(f"{self.fetches:040x}",))


def test_keys_are_cached_per_issuer_until_cleared_or_stale() -> None:
    clock = [0.0]
    inner = CountingSource()
    cache = CachedKeySource(inner, ttl_seconds=60, monotonic=lambda: clock[0])
    first = cache.fetch("https://a")
    assert cache.fetch("https://a") is first
    cache.fetch("https://b")
    assert inner.fetches == 2
    cache.clear("https://a")
    assert cache.fetch("https://a") is not first
    clock[0] = 61.0
    cache.fetch("https://b")
    assert inner.fetches == 4
