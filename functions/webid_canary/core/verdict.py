"""The answer to one request: what STS says, why, and what to change. Built from codes and evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from .catalogue import Entry, Kind, entry
from .catalogue.explain import STS_ANSWERS
from .frozen import builder

# Checks that need facts about the live identity provider or the whole token, and say so in the trace when absent.
UNCHECKABLE = ("keys", "thumbprint", "signature", "expiry")
_NOT_CHECKED = ": not checked"

ALLOW = "allow"
DENY = "deny"
INDETERMINATE = "indeterminate"
SCHEMA = "webid-canary/explain/v2"
# Root causes that the answer's caller cannot fix and no check decides: the answer depends on unknown keys.
UNDECIDED = "context_key_unknown"

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Finding:
    """A failed check: its root cause code, the evidence behind it, and for conditions the key and values."""

    code: str
    evidence: Mapping[str, object] = field(default=_EMPTY)
    condition_key: str | None = None
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()
    operator: str | None = None
    actual_from: str | None = None
    unknown_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Remedy:
    """A trust-policy fix: the whole edited document (`patch`) and each edit in words, made from the same edits."""

    patch: Mapping[str, object]
    edits: tuple[str, ...]
    # Whether an edit loosens a condition or removes a Deny: the policy may refuse this workload on purpose.
    deliberate: bool = False


def remedy_text(role_arn: object, remedy: Remedy) -> str:
    """The prose of a trust-policy remedy, generated from its edits."""
    edits = "; ".join(remedy.edits)
    text = f"In the trust policy of {role_arn}: {edits}."
    if remedy.deliberate:
        lead = "If this workload should be trusted: "
        return f"{lead}{text[0].lower()}{text[1:]} Otherwise the denial is the policy doing its job."
    return text


class _Evidence(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, evidence: Mapping[str, object]) -> str:
    """A catalogue template filled with evidence; an unknown field shows as `?`, never raises."""
    return _fill(template, _Evidence(evidence))


def _fill(template: str, evidence: _Evidence) -> str:
    if "{" not in template:
        return template
    try:
        return template.format_map(evidence)
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


def unchecked_in(trace: tuple[str, ...]) -> tuple[str, ...]:
    """The checks a trace says the engine could not make for lack of facts: each line `NAME: not checked (...)`
    of a check in UNCHECKABLE, in trace order, once each."""
    found = [line.partition(":")[0] for line in trace if _NOT_CHECKED in line]
    return tuple(dict.fromkeys([name for name in found if name in UNCHECKABLE])) if found else ()


class _Derived:
    """What a verdict derives from its fields, kept in a slot beside them (not a field: equality, repr, replace
    and the JSON are the fields' alone). The engine stores it as it builds the verdict; otherwise it is worked
    out on first use."""

    __slots__ = ("_unchecked",)
    _unchecked: tuple[str, ...]


_store_unchecked = _Derived.__dict__["_unchecked"].__set__  # the slot's own setter (a Verdict is frozen)


@dataclass(frozen=True, slots=True)
class Verdict(_Derived):
    """The prediction for one AssumeRoleWithWebIdentity request (the explain contract's JSON, as a type).

    `outcome` is ALLOW, DENY or INDETERMINATE; an indeterminate verdict names in `unknown_keys` the keys (as
    written in the policy) whose values the engine was not given, and has no error code.
    """

    outcome: str
    error_code: str | None
    message: str
    root_cause: str
    condition_key: str | None = None
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    explanation: str = ""
    remedy: str = ""
    trace: tuple[str, ...] = ()
    condition_operator: str | None = None
    actual_from: str | None = None
    unknown_keys: tuple[str, ...] = ()
    remedy_patch: Mapping[str, object] | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW

    @property
    def indeterminate(self) -> bool:
        return self.outcome == INDETERMINATE

    @property
    def unchecked(self) -> tuple[str, ...]:
        """The checks the engine could not make for lack of facts (keys, thumbprint, signature, expiry): an allow
        holds only if they would pass. Read from the trace, where each says `NAME: not checked (...)`."""
        try:
            return self._unchecked
        except AttributeError:
            found = unchecked_in(self.trace)
            _store_unchecked(self, found)
            return found

    def to_json(self) -> dict[str, object]:
        try:
            unchecked = self._unchecked
        except AttributeError:
            unchecked = self.unchecked
        patch = self.remedy_patch
        return {
            "schema": SCHEMA,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "message": self.message,
            "root_cause": self.root_cause,
            "condition_key": self.condition_key,
            "condition_operator": self.condition_operator,
            "expected": [*self.expected],
            "actual": [*self.actual],
            "actual_from": self.actual_from,
            "unknown_keys": [*self.unknown_keys],
            "unchecked": [*unchecked],
            "hints": [*self.hints],
            "explanation": self.explanation,
            "remedy": self.remedy,
            "remedy_patch": None if patch is None else _plain(patch),
            "trace": [*self.trace],
        }


if TYPE_CHECKING:
    _build_verdict = Verdict  # what the builder takes, checked as the class's own __init__
else:
    _build_verdict = builder(Verdict)


def _plain(value: object) -> object:
    """A frozen JSON-like value (mappings and tuples) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@cache
def _cause(code: str) -> tuple[Entry, str | None, str]:
    """A root cause's catalogue entry with STS's error code and message template, looked up once per code."""
    return (entry(Kind.ROOT_CAUSE, code), *STS_ANSWERS[code])


@cache
def _hint_remedy(code: str) -> str:
    return entry(Kind.HINT, code).remedy


# A hint whose remedy gives way to a more specific hint's when both are raised: requiring a ForAllValues key
# with Null would lock the role when STS never supplies the key.
_SUPERSEDED_BY = {"vacuous_for_all_values": "for_all_values_key_never_supplied"}


def make_verdict(
    finding: Finding,
    hints: tuple[str, ...],
    trace: tuple[str, ...],
    remedy: Remedy | None = None,
    unchecked: tuple[str, ...] | None = None,
) -> Verdict:
    """Turn a finding into a verdict using the catalogue's texts and STS's error code and message; a
    trust-policy remedy, when there is one, gives both the patch and the remedy's prose. `unchecked`, when
    given, is what `unchecked_in(trace)` would find, worked out by the caller from the steps that make it."""
    code, evidence = finding.code, finding.evidence
    if remedy is None and len(evidence) == 1 and isinstance(role_arn := evidence.get("role_arn"), str):
        # Evidence that names only the role (an allow, a missing role): the texts are the same for every
        # request to that role with these hints.
        texts = _role_texts(code, role_arn, hints)
    else:
        texts = _texts(code, evidence, hints, remedy)
    error_code, message, explanation, remedy_prose = texts
    outcome = ALLOW if code == "none" else INDETERMINATE if code == UNDECIDED else DENY
    verdict = _build_verdict(
        outcome,
        error_code,
        message,
        code,
        finding.condition_key,
        finding.expected,
        finding.actual,
        hints,
        explanation,
        remedy_prose,
        trace,
        finding.operator,
        finding.actual_from,
        finding.unknown_keys,
        remedy.patch if remedy is not None else None,
    )
    if unchecked is not None:
        _store_unchecked(verdict, unchecked)
    return verdict


# A verdict's texts: STS's error code and message, the explanation, and the remedy's prose.
Texts = tuple[str | None, str, str, str]


def _texts(code: str, found: Mapping[str, object], hints: tuple[str, ...], remedy: Remedy | None) -> Texts:
    """The texts of a verdict from the catalogue, filled with its evidence; a trust-policy remedy's prose first."""
    cause, error_code, message = _cause(code)
    evidence = _Evidence(found)
    remedies = [_fill(_hint_remedy(hint), evidence) for hint in hints if _SUPERSEDED_BY.get(hint, "") not in hints]
    if remedy is not None:
        remedies.insert(0, remedy_text(evidence["role_arn"], remedy))
    elif code != "none" or not hints:
        remedies.insert(0, _fill(cause.remedy, evidence))
    return error_code, _fill(message, evidence), _fill(cause.explanation, evidence), " ".join(remedies)


@lru_cache(maxsize=4096)
def _role_texts(code: str, role_arn: str, hints: tuple[str, ...]) -> Texts:
    return _texts(code, {"role_arn": role_arn}, hints, None)
