"""The request context STS builds for a web identity token, from the dated table in data/context_keys.json."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final, NamedTuple

from .claims import TAGS_CLAIM, Claims
from .conditions import glob_match
from .model import CallerFacts

NO_CALLER_FACTS = CallerFacts()


class Unknown(enum.Enum):
    """A key STS puts in the request from facts about the caller that the engine was not given."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One dated fact: for providers of `families`, STS puts `<prefix>:<key>` from `claim` since `since`."""

    families: tuple[str, ...]
    key: str
    claim: str
    since: date | None
    source: str


@dataclass(frozen=True, slots=True)
class ThumbprintRow:
    """From `since`, AWS verifies these hosts' chains against trusted root CAs instead of thumbprints."""

    hosts: tuple[str, ...]
    since: date
    source: str


@dataclass(frozen=True, slots=True)
class FamilyRow:
    family: str
    match: str
    url: str


@dataclass(frozen=True, slots=True)
class Facts:
    """The whole table, loaded once."""

    builtin: Mapping[str, str]
    families: tuple[FamilyRow, ...]
    keys: tuple[KeyRow, ...]
    global_keys: tuple[KeyRow, ...]
    caller_keys: Mapping[str, str]
    thumbprints: tuple[ThumbprintRow, ...]


def _date(value: object) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


@cache
def facts() -> Facts:
    """The dated facts shipped with the package."""
    text = resources.files("webid_canary.core").joinpath("data/context_keys.json").read_text("utf-8")
    doc = json.loads(text)
    return Facts(
        builtin=MappingProxyType({row["name"]: row["family"] for row in doc["builtin_providers"]}),
        families=tuple(FamilyRow(row["family"], row["match"], row["url"]) for row in doc["families"]),
        keys=tuple(
            KeyRow(tuple(row["families"]), row["key"], row["claim"], _date(row["since"]), row["source"])
            for row in doc["keys"]
        ),
        global_keys=tuple(
            KeyRow(("global",), row["key"], "", _date(row["since"]), row["source"]) for row in doc["global_keys"]
        ),
        caller_keys=MappingProxyType({row["key"].lower(): row["fact"] for row in doc["caller_keys"]}),
        thumbprints=tuple(
            ThumbprintRow(tuple(row["hosts"]), date.fromisoformat(row["since"]), row["source"])
            for row in doc["thumbprint_trusted_root_ca"]
        ),
    )


def builtin_family(name: str) -> str | None:
    """The family of a built-in federated principal (`cognito-identity.amazonaws.com`, ...), else None."""
    return facts().builtin.get(name)


@cache
def family_of(url: str) -> str:
    """The provider family for a provider URL (as IAM stores it); `oidc` for any other issuer."""
    for row in facts().families:
        if (
            (row.match == "exact" and url == row.url)
            or (row.match == "prefix" and url.startswith(row.url))
            or (row.match == "regex" and re.match(row.url, url))
        ):
            return row.family
    return "oidc"


def _applies(row: KeyRow, family: str, builtin: bool, day: date) -> bool:
    if row.since is not None and day < row.since:
        return False
    if family in row.families:
        return True
    # Generic OIDC rows apply to every IAM OIDC provider whose family has no rows of its own for them.
    return "oidc" in row.families and not builtin and family not in ("google", "cognito", "facebook", "amazon")


def key_rows(family: str, builtin: bool, day: date) -> tuple[KeyRow, ...]:
    return _key_rows(family, builtin, day)


@cache
def _key_rows(family: str, builtin: bool, day: date) -> tuple[KeyRow, ...]:
    return tuple(row for row in facts().keys if _applies(row, family, builtin, day))


def key_added_later(family: str, builtin: bool, key: str) -> KeyRow | None:
    """The row that adds `key` for this family at a later date, if any."""
    for row in facts().keys:
        if row.key.lower() == key.lower() and row.since is not None and _applies(row, family, builtin, row.since):
            return row
    return None


def _host_matches(pattern: str, host: str) -> bool:
    """A host against a row's pattern: `*` stands for any run of characters, dots included."""
    return glob_match(pattern.lower(), host.lower())


@lru_cache(maxsize=1024)
def thumbprints_ignored_since(provider_url: str) -> ThumbprintRow | None:
    """The earliest row from which AWS verifies this provider (URL as IAM stores it) against trusted root CAs."""
    host = provider_url.removeprefix("https://").split("/", 1)[0]
    rows = [row for row in facts().thumbprints if any(_host_matches(pattern, host) for pattern in row.hosts)]
    return min(rows, key=lambda row: row.since, default=None)


def trusted_roots_apply(provider_url: str, now: datetime) -> bool:
    """Whether at `now` AWS verifies this provider's chain against trusted root CAs instead of its thumbprints.

    When it does, the thumbprints are still used for a chain that does not reach such a root.
    """
    row = thumbprints_ignored_since(provider_url)
    return row is not None and utc_day(now) >= row.since


@lru_cache(maxsize=256)
def utc_day(now: datetime) -> date:
    """The UTC date of an instant, which selects the rows that apply (a cycle asks for the same one often)."""
    return now.astimezone(UTC).date()


def _as_values(value: object) -> tuple[str, ...] | None:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, int | float):
        return (json.dumps(value),)
    if isinstance(value, list):
        flat: list[str] = []
        for item in value:
            if not isinstance(item, list | dict) and (found := _as_values(item)) is not None:
                flat.extend(found)
        return tuple(flat) or None
    return None


def claim_values(claims: Claims, claim: tuple[str, ...]) -> tuple[str, ...] | None:
    """The values of the first of these claims the token carries (`aud` as normalised), or None."""
    for name in claim:
        if name == "aud":
            if claims.aud:
                return claims.aud
            continue
        value = claims.raw.get(name)
        if isinstance(value, str):
            return (value,)
        if value is not None and (values := _as_values(value)):
            return values
    return None


@dataclass(frozen=True, slots=True)
class ProviderKeys:
    """The keys STS defines for one provider on one day, built once and shared by every request.

    `index` maps a lower-cased key to the claims it reads (the first present wins); `known` holds every key name
    STS defines, global ones included.
    """

    prefix: str
    family: str
    builtin: bool
    index: Mapping[str, tuple[str, ...]]
    known: frozenset[str]


@lru_cache(maxsize=1024)
def provider_keys(prefix: str, builtin: bool, day: date) -> ProviderKeys:
    """The keys of this provider (URL as IAM stores it, or a built-in principal) on this day."""
    family = (builtin_family(prefix) if builtin else family_of(prefix)) or "oidc"
    lowered = prefix.lower()
    index = {f"{lowered}:{row.key.lower()}": tuple(row.claim.split("|")) for row in key_rows(family, builtin, day)}
    global_keys = frozenset(row.key.lower() for row in facts().global_keys)
    known = frozenset(index) | global_keys | frozenset(facts().caller_keys)
    return ProviderKeys(prefix, family, builtin, MappingProxyType(index), known)


class RequestContext(NamedTuple):
    """The keys STS puts in the request context; values are read from the claims when asked for.

    Key names are case-insensitive, so lookups go through lower-cased names. A tuple rather than a frozen
    dataclass: one is built for every request, and a tuple is several times cheaper to build.
    """

    keys: ProviderKeys
    claims: Claims
    now: datetime
    federated_provider: str
    session_name: str | None
    caller: CallerFacts = NO_CALLER_FACTS
    # The claims whose values are known (None: all of them); a key read only from other claims is UNKNOWN.
    known_claims: frozenset[str] | None = None

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    @property
    def family(self) -> str:
        return self.keys.family

    def get(self, key: str) -> tuple[str, ...] | Unknown | None:
        """The key's values, None when the request does not carry it, UNKNOWN when that depends on caller facts."""
        return self.get_lowered(key.lower())

    def get_lowered(self, lowered: str) -> tuple[str, ...] | Unknown | None:
        """`get` for a key name already lower-cased (a parsed policy holds its keys so)."""
        claim = self.keys.index.get(lowered)
        if claim is not None:
            known = self.known_claims
            if known is not None and not any(name in known for name in claim):
                return UNKNOWN
            return claim_values(self.claims, claim)
        return self._global(lowered)

    def claim_of(self, key: str) -> str | None:
        """The token claim a provider key was read from (`azp` for an `aud` key when the token has azp)."""
        claims = self.keys.index.get(key.lower())
        if claims is None:
            return None
        for name in claims:
            if (name == "aud" and self.claims.aud) or (name != "aud" and self.claims.raw.get(name) is not None):
                return name
        return None

    def _global(self, lowered: str) -> tuple[str, ...] | Unknown | None:
        if lowered == "aws:federatedprovider":
            return (self.federated_provider,)
        if lowered == "aws:currenttime":
            return (self.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),)
        fact = facts().caller_keys.get(lowered)
        if fact is not None:
            return caller_value(self.caller, lowered, fact)
        if lowered == "aws:epochtime":
            return (str(int(self.now.timestamp())),)
        if lowered == "sts:rolesessionname":
            return None if self.session_name is None else (self.session_name,)
        if lowered == "sts:sourceidentity":
            return None if self.claims.source_identity is None else (self.claims.source_identity,)
        tags = self.claims.session_tags
        if self.known_claims is not None and TAGS_CLAIM not in self.known_claims and _is_tag_key(lowered):
            return UNKNOWN
        if tags is None or not tags.tags:
            return None
        if lowered == "aws:tagkeys":
            return tuple(tag_key for tag_key, _ in tags.tags)
        if lowered == "sts:transitivetagkeys":
            return tags.transitive_keys or None
        if lowered.startswith("aws:requesttag/"):
            wanted = lowered.removeprefix("aws:requesttag/")
            return next(((value,) for tag_key, value in tags.tags if tag_key.lower() == wanted), None)
        return None

    def provider_of(self, key: str) -> str | None:
        """The provider prefix of a key (`host/path:claim` -> `host/path`), None for global keys."""
        if key.lower().startswith(("aws:", "sts:")) or ":" not in key:
            return None
        return key.rsplit(":", 1)[0]

    def names_this_provider(self, key: str) -> bool:
        prefix = self.provider_of(key)
        return prefix is None or prefix.lower() == self.prefix.lower()

    def knows(self, key: str) -> bool:
        """Whether STS defines this key for this provider at this instant (present or not in the token)."""
        lowered = key.lower()
        return lowered in self.keys.known or lowered.startswith("aws:requesttag/")


def _is_tag_key(lowered: str) -> bool:
    return lowered in ("aws:tagkeys", "sts:transitivetagkeys") or lowered.startswith("aws:requesttag/")


_VPC_KEYS = frozenset({"aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip"})


def caller_value(caller: CallerFacts, lowered: str, fact: str) -> tuple[str, ...] | Unknown | None:
    """A caller-side key from the caller's facts (rows `caller_keys` of data/context_keys.json).

    Over a VPC endpoint the request carries the VPC keys and no aws:SourceIp; over the internet it is the other
    way round (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip),
    so a source address given without an endpoint makes the VPC keys known to be absent, and an endpoint given
    without a source address makes aws:SourceIp known to be absent.
    """
    value = getattr(caller, fact)
    if value is None:
        if lowered in _VPC_KEYS and caller.source_ip is not None and caller.source_vpce is None:
            return None
        if lowered == "aws:sourceip" and caller.source_vpce is not None:
            return None
        return UNKNOWN
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, tuple):
        if not value:
            return None
        if lowered == "aws:calledviafirst":
            return (value[0],)
        if lowered == "aws:calledvialast":
            return (value[-1],)
        return value
    return (str(value),)


def caller_fact_of(key: str) -> str | None:
    """The caller fact (a field of CallerFacts) a key is read from, or None for keys that are not caller-side."""
    return facts().caller_keys.get(key.lower())
