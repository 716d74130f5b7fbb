"""The request context STS builds for a web identity token, from the dated table in data/context_keys.json."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from types import MappingProxyType

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


def thumbprints_ignored_since(host: str) -> ThumbprintRow | None:
    """The earliest row from which AWS verifies `host` against trusted root CAs (if its chain reaches one)."""
    rows = [row for row in facts().thumbprints if host in row.hosts or "*" in row.hosts]
    return min(rows, key=lambda row: row.since, default=None)


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


def _claim_values(claims: Claims, claim: str) -> tuple[str, ...] | None:
    for name in claim.split("|"):
        if name == "aud":
            if claims.aud:
                return claims.aud
            continue
        if name in claims.raw:
            values = _as_values(claims.raw[name])
            if values:
                return values
    return None


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The keys STS puts in the request context (names lower-cased: key names are case-insensitive)."""

    prefix: str
    family: str
    builtin: bool
    values: Mapping[str, tuple[str, ...]]
    known: frozenset[str]

    def get(self, key: str) -> tuple[str, ...] | None:
        return self.values.get(key.lower())

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
        return lowered in self.known or lowered.startswith("aws:requesttag/")


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
    family = builtin_family(prefix) if builtin else family_of(prefix)
    family = family or "oidc"
    day = now.astimezone(UTC).date()
    values: dict[str, tuple[str, ...]] = {}
    known: set[str] = set()
    lowered_prefix = prefix.lower()
    for row in key_rows(family, builtin, day):
        name = f"{lowered_prefix}:{row.key.lower()}"
        known.add(name)
        found = _claim_values(claims, row.claim)
        if found:
            values[name] = found
    known.update(row.key.lower() for row in facts().global_keys)
    values["aws:federatedprovider"] = (federated_provider,)
    values["aws:currenttime"] = (now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),)
    values["aws:epochtime"] = (str(int(now.timestamp())),)
    if session_name is not None:
        values["sts:rolesessionname"] = (session_name,)
    if claims.session_tags is not None and claims.session_tags.tags:
        for tag_key, tag_value in claims.session_tags.tags:
            values[f"aws:requesttag/{tag_key.lower()}"] = (tag_value,)
        values["aws:tagkeys"] = tuple(tag_key for tag_key, _ in claims.session_tags.tags)
        if claims.session_tags.transitive_keys:
            values["sts:transitivetagkeys"] = claims.session_tags.transitive_keys
    if claims.source_identity is not None:
        values["sts:sourceidentity"] = (claims.source_identity,)
    return RequestContext(prefix, family, builtin, MappingProxyType(values), frozenset(known))
