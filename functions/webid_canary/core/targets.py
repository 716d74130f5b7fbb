"""The one schema of a Targets table item: parsed once into a frozen Target, every refusal naming its field.

Items come from DynamoDB (numbers as Decimal, string sets as sets), from JSON or YAML files and from CLI flags;
all go through `parse_target`. `target_to_item` writes a Target back as plain JSON-compatible data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Final, cast
from urllib.parse import urlsplit

from webid_canary.core.case import parse_caller
from webid_canary.core.catalogue import Severity
from webid_canary.core.hosts import host_refusal
from webid_canary.core.model import CallerFacts, InputError, json_kind
from webid_canary.core.sts import DURATION_MAX, DURATION_MIN, SESSION_NAME_MAX, SESSION_NAME_MIN, session_name_ok

DEFAULT_SESSION_NAME: Final = "webid-canary"
# The monitor may read only secrets under this prefix (its IAM policy says the same: infra/permissions.py).
SECRET_PREFIX: Final = "webid-canary/"  # noqa: S105 - a name prefix, not a secret
DEFAULT_DURATION_SECONDS: Final = 900
MIN_DURATION_SECONDS: Final = DURATION_MIN
MAX_DURATION_SECONDS: Final = DURATION_MAX
DEFAULT_SEVERITY: Final = Severity.HIGH
TARGET_SEVERITIES: Final = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
DEFAULT_AUDIENCE: Final = "sts.amazonaws.com"

# Federated principals that need no IAM OIDC provider; their tokens carry these issuers.
BUILTIN_ISSUERS: Final = frozenset(
    {
        "https://cognito-identity.amazonaws.com",
        "https://accounts.google.com",
        "https://www.amazon.com",
        "https://graph.facebook.com",
    }
)

# Claims the cycle sets from its own clock and the target's issuer: a fixed value would only go stale.
CLOCK_CLAIMS: Final = frozenset({"exp", "iat", "nbf"})

# DynamoDB stores at most 400 KB per item, attribute names included
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
MAX_ITEM_BYTES: Final = 400 * 1024
# A partition key may be 2,048 bytes; a target id is far shorter (it is also an alarm dimension and an SNS
# message attribute, and people type it): 3 to 64 of a-z 0-9 . _ -.
MAX_TARGET_ID_CHARS: Final = 64
MAX_OWNER_CHARS: Final = 128
MAX_NOTES_CHARS: Final = 2048
MAX_CLAIM_TEXT_CHARS: Final = 2048
MAX_CLAIM_DEPTH: Final = 16

_TARGET_ID = re.compile(rf"[a-z0-9._-]{{3,{MAX_TARGET_ID_CHARS}}}")
_ROLE_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/((?:[\x21-\x7e]+/)?)([\w+=,.@-]{1,64})", re.ASCII)
_TOPIC_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
_SECRET_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:secret:(.+)")
_SECRET_NAME = re.compile(r"[\w/+=.@-]{1,512}", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_IDENTITY_POOL_ID = re.compile(r"([a-z]{2}(?:-[a-z]+)+-\d+):[0-9a-f-]{1,50}")
_DEVELOPER_PROVIDER = re.compile(r"[\w.-]{1,100}", re.ASCII)


type _Parser[T] = Callable[[object, str], T]


class TargetError(InputError):
    """A Targets table item that does not validate: the field (dotted path) and the reason."""


type ClaimValue = str | int | bool | tuple[ClaimValue, ...] | Claims


class Claims(Mapping[str, ClaimValue]):
    """An immutable, hashable set of token claims; JSON lists become tuples and objects become Claims."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, ClaimValue] | Iterable[tuple[str, ClaimValue]] = ()) -> None:
        self._items: dict[str, ClaimValue] = dict(items)

    def __getitem__(self, key: str) -> ClaimValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Claims({self._items!r})"

    def merged(self, override: Mapping[str, ClaimValue]) -> Claims:
        """These claims with `override`'s keys replacing (or adding to) them."""
        return Claims({**self._items, **override})

    def to_json(self) -> dict[str, object]:
        """Plain JSON-compatible data: tuples become lists, nested Claims become dicts."""
        return {key: _claim_json(value) for key, value in self._items.items()}


def _claim_json(value: ClaimValue) -> object:
    if isinstance(value, Claims):
        return value.to_json()
    if isinstance(value, tuple):
        return [_claim_json(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ClientCredentialsSource:
    """OAuth 2.0 client credentials grant at a token endpoint; the client secret lives in Secrets Manager."""

    type: ClassVar[str] = "client_credentials"
    token_endpoint: str
    client_id: str
    secret_id: str
    scope: str | None = None
    audience: str | None = None
    resource: str | None = None
    auth_method: str = "client_secret_basic"
    token_field: str = "access_token"  # noqa: S105 - the name of a response field

    def describe(self) -> str:
        return f"client_credentials (client {self.client_id} at {self.token_endpoint})"


@dataclass(frozen=True, slots=True)
class CognitoDeveloperIdentitySource:
    """A Cognito identity pool token minted with GetOpenIdTokenForDeveloperIdentity."""

    type: ClassVar[str] = "cognito_developer_identity"
    identity_pool_id: str
    developer_provider_name: str
    login_id: str
    region: str

    def describe(self) -> str:
        return f"cognito_developer_identity (pool {self.identity_pool_id})"


@dataclass(frozen=True, slots=True)
class SecretSource:
    """A token kept fresh by something else and stored in Secrets Manager."""

    type: ClassVar[str] = "secret"
    secret_id: str

    def describe(self) -> str:
        return f"secret ({self.secret_id})"


type TokenSource = ClientCredentialsSource | CognitoDeveloperIdentitySource | SecretSource

TOKEN_SOURCE_TYPES: Final = ("client_credentials", "cognito_developer_identity", "secret")
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
TOKEN_FIELDS: Final = ("access_token", "id_token")


@dataclass(frozen=True, slots=True)
class Target:
    """One registered (role, issuer) pair with the claims its workload presents and how to check it."""

    target_id: str
    role_arn: str
    issuer: str
    claims: Claims = field(default_factory=Claims)
    must_deny: tuple[Claims, ...] = ()
    token_source: TokenSource | None = None
    session_name: str = DEFAULT_SESSION_NAME
    duration_seconds: int = DEFAULT_DURATION_SECONDS
    severity: Severity = DEFAULT_SEVERITY
    owner: str | None = None
    alarm: bool = False
    enabled: bool = True
    topic_arn: str | None = None
    claims_are_representative: bool = False
    notes: str | None = None
    # The workload's caller facts (its source IP, VPC endpoint…), for trust policies that test them.
    caller: CallerFacts | None = None

    @property
    def role_name(self) -> str:
        """The role name, without its path."""
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def is_live(self) -> bool:
        """True when a real token can be fetched for this target."""
        return self.token_source is not None

    @property
    def issuer_is_builtin(self) -> bool:
        """True for Cognito, Google, Amazon and Facebook: no IAM OIDC provider is involved."""
        return self.issuer in BUILTIN_ISSUERS

    def deny_claims(self) -> tuple[Claims, ...]:
        """Each registered must-deny entry merged over the target's claims: the full claim sets to probe."""
        return tuple(self.claims.merged(entry) for entry in self.must_deny)


FIELDS: Final = (
    "target_id",
    "role_arn",
    "issuer",
    "claims",
    "must_deny",
    "token_source",
    "session_name",
    "duration_seconds",
    "severity",
    "owner",
    "alarm",
    "enabled",
    "topic_arn",
    "claims_are_representative",
    "notes",
    "caller",
)
REQUIRED_FIELDS: Final = ("target_id", "role_arn", "issuer")


def parse_target(item: Mapping[str, object]) -> Target:
    """The Target an item describes; raises the first TargetError (in field order) when it does not validate."""
    target, errors = _parse(item)
    if errors:
        raise errors[0]
    assert target is not None
    return target


def validate_target(item: object) -> tuple[TargetError, ...]:
    """Every problem of an item at once (empty when it is valid), for reports that list them all."""
    return tuple(_parse(item)[1])


def target_to_item(target: Target) -> dict[str, object]:
    """A Target as a plain JSON-compatible item; `parse_target` of it gives the same Target back."""
    item: dict[str, object] = {
        "target_id": target.target_id,
        "role_arn": target.role_arn,
        "issuer": target.issuer,
        "claims": target.claims.to_json(),
        "must_deny": [entry.to_json() for entry in target.must_deny],
        "token_source": None if target.token_source is None else token_source_to_item(target.token_source),
        "session_name": target.session_name,
        "duration_seconds": target.duration_seconds,
        "severity": str(target.severity),
        "owner": target.owner,
        "alarm": target.alarm,
        "enabled": target.enabled,
    }
    if target.owner is None:
        del item["owner"]
    if target.topic_arn is not None:
        item["topic_arn"] = target.topic_arn
    if target.claims_are_representative:
        item["claims_are_representative"] = True
    if target.notes is not None:
        item["notes"] = target.notes
    if target.caller is not None:
        item["caller"] = caller_to_item(target.caller)
    return item


def caller_to_item(caller: CallerFacts) -> dict[str, object]:
    """The caller facts as plain data, unset ones left out."""
    item: dict[str, object] = {}
    for name in CallerFacts.__dataclass_fields__:
        value = getattr(caller, name)
        if value is not None:
            item[name] = list(value) if isinstance(value, tuple) else value
    return item


def _caller(value: object, name: str) -> CallerFacts | None:
    try:
        return None if value is None else parse_caller(value, name)
    except InputError as exc:
        raise TargetError(exc.field, exc.reason) from exc


def token_source_to_item(source: TokenSource) -> dict[str, object]:
    """A token source as plain data, `type` first, unset optional parameters left out."""
    item: dict[str, object] = {"type": source.type}
    for name in source.__dataclass_fields__:
        value = getattr(source, name)
        if value is not None:
            item[name] = value
    return item


def secret_name(secret_id: str) -> str:
    """The secret's name from a name or an ARN (the ARN's random six-character suffix kept)."""
    match = _SECRET_ARN.fullmatch(secret_id)
    return match.group(1) if match else secret_id


# --- parsing -----------------------------------------------------------------------------------------------


def _parse(item: object) -> tuple[Target | None, list[TargetError]]:
    errors: list[TargetError] = []
    if not isinstance(item, Mapping):
        return None, [TargetError("item", f"must be an object, not {json_kind(item)}")]
    raw = cast(Mapping[object, object], item)
    for key in raw:
        if not isinstance(key, str) or key not in FIELDS:
            errors.append(TargetError(str(key), _unknown_field(key, FIELDS)))
    for name in REQUIRED_FIELDS:
        if raw.get(name) is None:
            errors.append(TargetError(name, "required"))

    def get[T](name: str, parser: _Parser[T], default: T) -> T:
        value = raw.get(name)
        if name not in raw or (value is None and name in REQUIRED_FIELDS):
            return default
        try:
            return parser(value, name)
        except TargetError as exc:
            errors.append(exc)
            return default

    target_id = get("target_id", _target_id, "")
    role_arn = get("role_arn", _role_arn, "")
    issuer = get("issuer", _issuer, "")
    claims = get("claims", _claims, None)
    no_entries: tuple[Claims, ...] = ()
    must_deny = get("must_deny", _must_deny, no_entries)
    token_source = get("token_source", _token_source, None)
    session_name = get("session_name", _session_name, DEFAULT_SESSION_NAME)
    duration = get("duration_seconds", _duration, DEFAULT_DURATION_SECONDS)
    severity = get("severity", _severity, DEFAULT_SEVERITY)
    owner = get("owner", _optional_text(MAX_OWNER_CHARS), None)
    alarm = get("alarm", _boolean, False)
    enabled = get("enabled", _boolean, True)
    topic_arn = get("topic_arn", _topic_arn, None)
    representative = get("claims_are_representative", _boolean, False)
    notes = get("notes", _optional_text(MAX_NOTES_CHARS), None)
    caller = get("caller", _caller, None)

    token_source_ok = not any(e.field.startswith("token_source") for e in errors)
    predicted = token_source is None and token_source_ok
    if "claims" not in raw or raw.get("claims") is None:
        if predicted:
            errors.append(TargetError("claims", "required when there is no token_source (the target is predicted)"))
    elif claims is not None:
        _check_claims(claims, "claims", issuer, require_identity=predicted, errors=errors)
    base = claims or Claims()
    claims_ok = not any(e.field == "claims" or e.field.startswith("claims.") for e in errors)
    for index, entry in enumerate(must_deny if claims_ok else no_entries):
        _check_claims(
            base.merged(entry), f"must_deny[{index}]", issuer, require_identity=True, errors=errors, only=entry
        )

    if errors:
        return None, sorted(errors, key=_field_order)
    target = Target(
        target_id=target_id,
        role_arn=role_arn,
        issuer=issuer,
        claims=base,
        must_deny=must_deny,
        token_source=token_source,
        session_name=session_name,
        duration_seconds=duration,
        severity=severity,
        owner=owner,
        alarm=alarm,
        enabled=enabled,
        topic_arn=topic_arn,
        claims_are_representative=representative,
        notes=notes,
        caller=caller,
    )
    size = item_bytes(target_to_item(target))
    if size > MAX_ITEM_BYTES:
        return None, [TargetError("item", f"is {size} bytes as stored; a DynamoDB item holds at most {MAX_ITEM_BYTES}")]
    return target, []


def item_bytes(item: Mapping[str, object]) -> int:
    """The size DynamoDB counts for an item: attribute names and values, by its published sizing rules
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | Decimal):
        digits = len(str(abs(value)).replace(".", "").lstrip("0")) or 1
        return min(21, (digits + 1) // 2 + 1)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        inner = cast(Mapping[object, object], value)
        return 3 + sum(len(str(k).encode()) + 1 + _value_bytes(v) for k, v in inner.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(1 + _value_bytes(v) for v in value)
    return len(str(value).encode())


def _field_order(error: TargetError) -> int:
    head = re.split(r"[.\[]", error.field, maxsplit=1)[0]
    return FIELDS.index(head) if head in FIELDS else -1


def _unknown_field(key: object, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
    return f"unknown field{hint}"


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TargetError(name, f"must be a string, not {json_kind(value)}")
    return value


def _nonempty(value: object, name: str, limit: int = MAX_CLAIM_TEXT_CHARS) -> str:
    text = _text(value, name)
    if not text.strip():
        raise TargetError(name, "must not be empty")
    if len(text) > limit:
        raise TargetError(name, f"must be at most {limit} characters, not {len(text)}")
    if any(not ch.isprintable() for ch in text):
        raise TargetError(name, "must not contain control characters")
    return text


def _optional_text(limit: int) -> _Parser[str | None]:
    def parse(value: object, name: str) -> str | None:
        return None if value is None else _nonempty(value, name, limit)

    return parse


def _target_id(value: object, name: str) -> str:
    text = _text(value, name)
    if not _TARGET_ID.fullmatch(text):
        raise TargetError(name, f"{text!r} must be 3 to 64 characters of lowercase letters, digits, '.', '_' and '-'")
    return text


def _role_arn(value: object, name: str) -> str:
    text = _text(value, name)
    match = _ROLE_ARN.fullmatch(text)
    if not match:
        raise TargetError(
            name, f"{text!r} is not a role ARN (arn:aws:iam::<12-digit account>:role/<optional path/><name>)"
        )
    if len(match.group(2)) + 1 > 512:
        raise TargetError(name, "the role path is longer than 512 characters")
    return text


def _issuer(value: object, name: str) -> str:
    text = _text(value, name)
    if not text.startswith("https://"):
        raise TargetError(name, f"{text!r} must be an https:// URL (exactly as the token's iss claim)")
    if any(ch.isspace() for ch in text):
        raise TargetError(name, "must not contain spaces")
    _https_url(text, name, what="issuer")
    return text


def _https_url(text: str, name: str, *, what: str) -> None:
    if "?" in text or "#" in text:
        raise TargetError(name, f"{text!r}: an {what} URL has no query or fragment")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(name, f"{text!r} is not a valid URL ({exc})") from exc
    if not parts.hostname:
        raise TargetError(name, f"{text!r} has no host")
    if (reason := host_refusal(parts.hostname)) is not None:
        raise TargetError(name, f"{text!r}: {reason}")
    if "@" in parts.netloc:
        raise TargetError(name, f"{text!r} must not carry user information")
    if port == 0:
        raise TargetError(name, f"{text!r} has an invalid port")


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TargetError(name, f"must be true or false, not {json_kind(value)}")
    return value


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TargetError(name, f"must be a whole number, not {json_kind(value)}")
    if isinstance(value, int):
        return value
    if not Decimal(value).is_finite() or value != int(value):
        raise TargetError(name, f"must be a whole number, not {value}")
    return int(value)


def _duration(value: object, name: str) -> int:
    seconds = _integer(value, name)
    if not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise TargetError(
            name, f"must be between {MIN_DURATION_SECONDS} and {MAX_DURATION_SECONDS} seconds, not {seconds}"
        )
    return seconds


def _session_name(value: object, name: str) -> str:
    text = _text(value, name)
    if not session_name_ok(text):
        raise TargetError(
            name, f"{text!r} must be {SESSION_NAME_MIN} to {SESSION_NAME_MAX} characters of letters, digits and +=,.@_-"
        )
    return text


def _severity(value: object, name: str) -> Severity:
    allowed = [str(s) for s in TARGET_SEVERITIES]
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value) if isinstance(value, str) else json_kind(value)
        raise TargetError(name, f"must be one of {', '.join(allowed)}, not {shown}")
    return Severity(value)


def _topic_arn(value: object, name: str) -> str | None:
    if value is None:
        return None
    text = _text(value, name)
    if not _TOPIC_ARN.fullmatch(text):
        raise TargetError(name, f"{text!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    return text


# --- claims ------------------------------------------------------------------------------------------------


def _claims(value: object, name: str) -> Claims:
    if not isinstance(value, Mapping):
        raise TargetError(name, f"must be an object of claims, not {json_kind(value)}")
    result = _claim_value(value, name)
    assert isinstance(result, Claims)
    return result


def _claim_value(value: object, name: str, depth: int = 0) -> ClaimValue:
    if depth > MAX_CLAIM_DEPTH:
        raise TargetError(name, f"nested deeper than {MAX_CLAIM_DEPTH} levels")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return _integer(value, name)
    if isinstance(value, Mapping):
        items: dict[str, ClaimValue] = {}
        for key, inner in cast(Mapping[object, object], value).items():
            if not isinstance(key, str) or not key:
                raise TargetError(name, f"claim names must be non-empty strings, not {key!r}")
            items[key] = _claim_value(inner, f"{name}.{key}", depth + 1)
        return Claims(items)
    if isinstance(value, list | tuple):
        return tuple(_claim_value(inner, f"{name}[{i}]", depth + 1) for i, inner in enumerate(value))
    if isinstance(value, set | frozenset):
        return tuple(_claim_value(inner, f"{name}[]", depth + 1) for inner in sorted(value, key=str))
    raise TargetError(name, f"must be a string, whole number, boolean, list or object, not {json_kind(value)}")


def _check_claims(
    claims: Claims,
    name: str,
    issuer: str,
    *,
    require_identity: bool,
    errors: list[TargetError],
    only: Claims | None = None,
) -> None:
    """Rules for the claims STS reads itself; `only` limits the checks to the keys an entry really gave."""
    given = claims if only is None else only
    for key in CLOCK_CLAIMS & set(given):
        errors.append(TargetError(f"{name}.{key}", "is set at probe time from the cycle's clock; leave it out"))
    if "iss" in given and given["iss"] != issuer and issuer:
        errors.append(TargetError(f"{name}.iss", f"must equal issuer ({issuer!r}) or be left out"))
    for key in ("sub", "aud"):
        if key not in claims:
            if require_identity:
                where = "" if only is None else " (neither in this entry nor in claims)"
                errors.append(TargetError(f"{name}.{key}", f"required: STS refuses a token without {key}{where}"))
            continue
        if key not in given:
            continue
        try:
            _identity_claim(given[key], f"{name}.{key}", many=key == "aud")
        except TargetError as exc:
            errors.append(exc)


def _identity_claim(value: ClaimValue, name: str, *, many: bool) -> None:
    if isinstance(value, str):
        _nonempty(value, name)
        return
    if many and isinstance(value, tuple) and value:
        for index, inner in enumerate(value):
            if not isinstance(inner, str):
                raise TargetError(f"{name}[{index}]", f"must be a string, not {json_kind(inner)}")
            _nonempty(inner, f"{name}[{index}]")
        return
    wanted = "a string or a non-empty list of strings" if many else "a string"
    raise TargetError(name, f"must be {wanted}, not {json_kind(value)}")


def _must_deny(value: object, name: str) -> tuple[Claims, ...]:
    if not isinstance(value, list | tuple):
        raise TargetError(name, f"must be a list of claim objects, not {json_kind(value)}")
    entries: list[Claims] = []
    for index, entry in enumerate(value):
        path = f"{name}[{index}]"
        if not isinstance(entry, Mapping):
            raise TargetError(path, f"must be an object of claims, not {json_kind(entry)}")
        if not entry:
            raise TargetError(path, "must name at least one claim (e.g. sub)")
        entries.append(_claims(entry, path))
    return tuple(entries)


# --- token sources -----------------------------------------------------------------------------------------

_SOURCE_FIELDS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    # type -> (required parameters, optional parameters)
    "client_credentials": (
        ("token_endpoint", "client_id", "secret_id"),
        ("scope", "audience", "resource", "auth_method", "token_field"),
    ),
    "cognito_developer_identity": (("identity_pool_id", "developer_provider_name", "login_id"), ("region",)),
    "secret": (("secret_id",), ()),
}


def _token_source(value: object, name: str) -> TokenSource | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TargetError(name, f"must be an object or null, not {json_kind(value)}")
    raw = cast(Mapping[object, object], value)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _SOURCE_FIELDS:
        shown = repr(kind) if isinstance(kind, str) else json_kind(kind) if "type" in raw else "missing"
        raise TargetError(f"{name}.type", f"must be one of {', '.join(TOKEN_SOURCE_TYPES)}, not {shown}")
    required, optional = _SOURCE_FIELDS[kind]
    known = ("type", *required, *optional)
    for key in raw:
        if key not in known:
            raise TargetError(f"{name}.{key}", _unknown_field(key, known) + f" for type {kind}")
    for key in required:
        if raw.get(key) is None:
            raise TargetError(f"{name}.{key}", f"required for type {kind}")

    def text(key: str) -> str:
        return _nonempty(raw[key], f"{name}.{key}", 512)

    def optional_text(key: str) -> str | None:
        return None if raw.get(key) is None else text(key)

    if kind == "client_credentials":
        endpoint = text("token_endpoint")
        if not endpoint.startswith("https://"):
            raise TargetError(f"{name}.token_endpoint", f"{endpoint!r} must be an https:// URL")
        _https_url(endpoint, f"{name}.token_endpoint", what="token endpoint")
        auth_method = optional_text("auth_method") or AUTH_METHODS[0]
        if auth_method not in AUTH_METHODS:
            raise TargetError(f"{name}.auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
        token_field = optional_text("token_field") or TOKEN_FIELDS[0]
        if token_field not in TOKEN_FIELDS:
            raise TargetError(f"{name}.token_field", f"must be one of {', '.join(TOKEN_FIELDS)}")
        return ClientCredentialsSource(
            token_endpoint=endpoint,
            client_id=text("client_id"),
            secret_id=_secret_id(raw["secret_id"], f"{name}.secret_id"),
            scope=optional_text("scope"),
            audience=optional_text("audience"),
            resource=optional_text("resource"),
            auth_method=auth_method,
            token_field=token_field,
        )
    if kind == "cognito_developer_identity":
        pool = text("identity_pool_id")
        match = _IDENTITY_POOL_ID.fullmatch(pool)
        if not match:
            raise TargetError(f"{name}.identity_pool_id", f"{pool!r} is not an identity pool id (<region>:<uuid>)")
        region = optional_text("region") or match.group(1)
        if not _REGION.fullmatch(region):
            raise TargetError(f"{name}.region", f"{region!r} is not an AWS region")
        if region != match.group(1):
            raise TargetError(f"{name}.region", f"{region!r} is not the identity pool's region {match.group(1)!r}")
        provider = text("developer_provider_name")
        if not _DEVELOPER_PROVIDER.fullmatch(provider):
            raise TargetError(
                f"{name}.developer_provider_name", "must be 1 to 100 characters of letters, digits, '.', '_', '-'"
            )
        return CognitoDeveloperIdentitySource(
            identity_pool_id=pool, developer_provider_name=provider, login_id=text("login_id"), region=region
        )
    return SecretSource(secret_id=_secret_id(raw["secret_id"], f"{name}.secret_id"))


def _secret_id(value: object, name: str) -> str:
    text = _nonempty(value, name, 2048)
    secret = secret_name(text)
    if not _SECRET_NAME.fullmatch(secret):
        raise TargetError(name, f"{text!r} is not a Secrets Manager secret name or ARN")
    if not secret.startswith(SECRET_PREFIX) or secret == SECRET_PREFIX:
        raise TargetError(name, f"{text!r} must be under {SECRET_PREFIX!r}: the monitor may read only those secrets")
    return text
