"""A web identity token's claims, parsed once: `aud` normalised, missing or mistyped claims named."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from .frozen import builder
from .model import Token

TAGS_CLAIM: Final = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM: Final = "https://aws.amazon.com/source_identity"
REQUIRED: Final = ("iss", "aud", "sub", "exp")
# WebIdentityToken: 4 to 20000 characters
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html).
MIN_TOKEN_LENGTH, MAX_TOKEN_LENGTH = 4, 20000
# Signing algorithms STS verifies for an OIDC provider: RSA and ECDSA with SHA-256/384/512
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html; also the drift contract).
SUPPORTED_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SessionTags:
    """Session tags a token asks for (the `https://aws.amazon.com/tags` claim)."""

    tags: tuple[tuple[str, str], ...] = ()
    transitive_keys: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims STS reads from a token. `problems` names each required claim missing or mistyped."""

    # The decoded payload: a read-only view of a copy of its own.
    raw: Mapping[str, object] = field(default=_EMPTY, repr=False)
    iss: str | None = None
    aud: tuple[str, ...] = ()
    sub: str | None = None
    exp: float | None = None
    azp: str | None = None
    amr: tuple[str, ...] | None = None
    kid: str | None = None
    problems: tuple[str, ...] = ()
    session_tags: SessionTags | None = None
    source_identity: str | None = None
    # From a raw token only: its header's `alg` and its length in characters.
    alg: str | None = None
    token_length: int | None = None

    @property
    def well_formed(self) -> bool:
        return not self.problems

    @property
    def issuer_host(self) -> str | None:
        """The issuer as IAM stores provider URLs: without `https://`."""
        return None if self.iss is None else self.iss.removeprefix("https://")


if TYPE_CHECKING:
    _build_claims = Claims  # what the builder takes, checked as the class's own __init__
else:
    _build_claims = builder(Claims)


def _number(value: object) -> float | None:
    """A JSON number as float; None for booleans, strings, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _session_tags(value: object) -> SessionTags:
    if not isinstance(value, Mapping):
        return SessionTags(problems=("the tags claim is not an object",))
    problems: list[str] = []
    tags: list[tuple[str, str]] = []
    principal_tags = value.get("principal_tags", {})
    if isinstance(principal_tags, Mapping):
        for key, raw in principal_tags.items():
            values = _strings(raw)
            if values is None or len(values) != 1:
                problems.append(f"tag {key!r} must hold exactly one string value")
                continue
            tags.append((str(key), values[0]))
    else:
        problems.append("principal_tags is not an object")
    transitive = _strings(value.get("transitive_tag_keys", []))
    if transitive is None:
        problems.append("transitive_tag_keys is not a list of strings")
    return SessionTags(tuple(tags), transitive or (), tuple(problems))


def parse_claims(
    doc: Mapping[str, object], *, kid: str | None = None, alg: str | None = None, token_length: int | None = None
) -> Claims:
    """Claims from a decoded JWT payload; never raises for odd values, it records them in `problems`."""
    get = doc.get
    iss, aud_raw, sub, exp, azp = get("iss"), get("aud"), get("sub"), get("exp"), get("azp")
    aud = (aud_raw,) if isinstance(aud_raw, str) else _strings(aud_raw)
    # A float or an int (the JSON numbers) without the general check; float() of an int is finite or raises.
    exp_number = float(exp) if type(exp) is int else exp if type(exp) is float and math.isfinite(exp) else _number(exp)
    problems: tuple[str, ...] = ()
    if not (isinstance(iss, str) and iss and aud and isinstance(sub, str) and exp_number is not None):
        problems = _problems(iss, aud_raw, aud, sub, exp, exp_number)
    tags = _session_tags(doc[TAGS_CLAIM]) if TAGS_CLAIM in doc else None
    source_identity = get(SOURCE_IDENTITY_CLAIM)
    return _build_claims(
        MappingProxyType(dict(doc)),
        iss if isinstance(iss, str) and iss else None,
        aud or (),
        sub if isinstance(sub, str) else None,
        exp_number,
        azp if isinstance(azp, str) else None,
        _strings(doc["amr"]) if "amr" in doc else None,
        kid,
        problems,
        tags,
        str(source_identity) if source_identity is not None else None,
        alg,
        token_length,
    )


def _problems(
    iss: object, aud_raw: object, aud: tuple[str, ...] | None, sub: object, exp: object, exp_number: float | None
) -> tuple[str, ...]:
    """Each required claim that is missing or mistyped, in the order iss, aud, sub, exp."""
    problems: list[str] = []
    if iss is None:
        problems.append("iss: missing")
    elif not isinstance(iss, str) or not iss:
        problems.append("iss: not a non-empty string")
    if aud_raw is None:
        problems.append("aud: missing")
    elif not aud:
        problems.append("aud: not a string or a non-empty list of strings")
    if sub is None:
        problems.append("sub: missing")
    elif not isinstance(sub, str):
        problems.append("sub: not a string")
    if exp is None:
        problems.append("exp: missing")
    elif exp_number is None:
        problems.append("exp: not a number of seconds since the epoch")
    return tuple(problems)


def decode_token(token: Token) -> Claims:
    """Claims of a raw JWT, decoded without verifying its signature (STS verifies; we predict)."""
    import jwt  # PyJWT pulls in cryptography: a cold start that predicts from claims never needs it

    try:
        header = jwt.get_unverified_header(token.value)
        payload = jwt.decode(
            token.value,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return Claims(problems=(f"token: not a JWT ({type(exc).__name__})",), token_length=len(token.value))
    if not isinstance(payload, dict):
        return Claims(problems=("token: the payload is not a JSON object",), token_length=len(token.value))
    kid, alg = _header_strings(header)
    return parse_claims(payload, kid=kid, alg=alg, token_length=len(token.value))


def _header_strings(header: Mapping[str, object]) -> tuple[str | None, str | None]:
    kid, alg = header.get("kid"), header.get("alg")
    return (kid if isinstance(kid, str) else None), (alg if isinstance(alg, str) else None)


def token_header(token: Token) -> tuple[str | None, str | None]:
    """The `kid` and `alg` of a raw JWT's header (None each when absent or when the token is not a JWT)."""
    import jwt

    try:
        return _header_strings(jwt.get_unverified_header(token.value))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None, None


def token_kid(token: Token) -> str | None:
    """The `kid` of a raw JWT's header, or None when there is none or the token is not a JWT."""
    return token_header(token)[0]
