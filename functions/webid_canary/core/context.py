"""The request context STS builds for a web identity token, from the dated table in data/context_keys.json."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import NamedTuple

from .claims import Claims


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
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


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


def _claim_values(claims: Claims, claim: tuple[str, ...]) -> tuple[str, ...] | None:
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
    known = frozenset(index) | frozenset(row.key.lower() for row in facts().global_keys)
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

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    @property
    def family(self) -> str:
        return self.keys.family

    def get(self, key: str) -> tuple[str, ...] | None:
        lowered = key.lower()
        claim = self.keys.index.get(lowered)
        if claim is not None:
            return _claim_values(self.claims, claim)
        return self._global(lowered)

    def _global(self, lowered: str) -> tuple[str, ...] | None:
        if lowered == "aws:federatedprovider":
            return (self.federated_provider,)
        if lowered == "aws:currenttime":
            return (self.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),)
        if lowered == "aws:securetransport":
            return ("true",)
        if lowered == "aws:epochtime":
            return (str(int(self.now.timestamp())),)
        if lowered == "sts:rolesessionname":
            return None if self.session_name is None else (self.session_name,)
        if lowered == "sts:sourceidentity":
            return None if self.claims.source_identity is None else (self.claims.source_identity,)
        tags = self.claims.session_tags
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


def build_context(
    *,
    prefix: str,
    claims: Claims,
    now: datetime,
    builtin: bool,
    federated_provider: str,
    session_name: str | None = None,
) -> RequestContext:
    """The request context for this token and provider, as of `now`."""
    return RequestContext(provider_keys(prefix, builtin, utc_day(now)), claims, now, federated_provider, session_name)
