"""Organization mode: one cycle as four steps of a state machine (infra/orchestration.py): plan, issuers, shards,
report. Each step is a use case over ports; the handlers in handler.py only feed them and return their summaries.

- plan: takes the lease, lists the accounts (of the targets, and of the organization where it answers), cuts them
  into shards, reads the resource control policies once, and writes the plan to the plan store;
- issuer: inspects one issuer and stores what it saw, so that an issuer shared by many accounts is fetched once;
- shard: for each account of its shard, the one-account cycle (Reader, Cycle, drift) through the account's reader
  role, then the Reporter for its own subjects only; an account that cannot be read makes its targets `error`;
- report: fleet metrics once per cycle, the heartbeat only when every shard answered, the targets of a shard that
  crashed reported as not checked, the lease released.

The plan store's layout (S3): cycles/<cycle>/issuers.json (the issuer URLs), cycles/<cycle>/shards.json (one
entry per shard), cycles/<cycle>/shards/<shard>.json (the shard's target items and RCPs),
cycles/<cycle>/issuers/<sha256 of the issuer>.json (one inspection). The State table keeps the lease
(`lease#cycle`), the organization's active accounts for an hour (`organization#accounts`) and, per account, the
providers it has State for (`account#<id>`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from webid_canary.app.cycle import Cycle, Reader
from webid_canary.app.drift import DriftRules
from webid_canary.app.monitor import checks_deadline
from webid_canary.app.ports import (
    AccountIamPort,
    AwsAccessError,
    AwsError,
    AwsMissingError,
    FleetCounts,
    FleetMetricsPort,
    InspectorPort,
    OrganizationPort,
    PlanStoreError,
    PlanStorePort,
    ProberPort,
    StatePort,
    TargetsPort,
    TokenPort,
)
from webid_canary.app.reporting import Outcome, Reporter, provider_subject
from webid_canary.core.check import failed
from webid_canary.core.drift import ProviderBaseline
from webid_canary.core.inspection import IssuerInspection
from webid_canary.core.model import InputError
from webid_canary.core.rcp import parse_rcps
from webid_canary.core.report import CycleReport, TargetResult
from webid_canary.core.state import (
    StateRecord,
    Status,
    Subject,
    bookkeeping_record,
    expected_version,
    state_key,
)
from webid_canary.core.targets import Target, TargetError, parse_target, target_to_item

log = logging.getLogger("webid-canary.organization")

# The State table item that keeps two cycles from overlapping (a conditional write: absent or expired).
LEASE_KEY: Final = "lease#cycle"
# Per account: the provider URLs that have a State item, so that a provider deleted since its baseline is still
# found (organization mode reads the State items it needs by key, never the whole table).
ACCOUNT_INDEX_PREFIX: Final = "account#"
ACCOUNTS_CACHE_KEY: Final = "organization#accounts"
# The organization's accounts change rarely; ListAccounts is asked again after this long.
ACCOUNTS_CACHE_TTL: Final = timedelta(hours=1)
DEFAULT_LEASE: Final = timedelta(minutes=15)


def cycle_prefix(cycle_id: str) -> str:
    return f"cycles/{cycle_id}"


def issuers_key(cycle_id: str) -> str:
    return f"{cycle_prefix(cycle_id)}/issuers.json"


def shards_key(cycle_id: str) -> str:
    return f"{cycle_prefix(cycle_id)}/shards.json"


def shard_key(cycle_id: str, shard: str) -> str:
    return f"{cycle_prefix(cycle_id)}/shards/{shard}.json"


def inspection_key(cycle_id: str, issuer: str) -> str:
    return f"{cycle_prefix(cycle_id)}/issuers/{hashlib.sha256(issuer.encode()).hexdigest()}.json"


def account_of(role_arn: str) -> str:
    """The account id of a role ARN (`arn:aws:iam::123456789012:role/x` -> `123456789012`)."""
    return role_arn.split(":", 5)[4]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ----- shards


def plan_shards(targets_by_account: Mapping[str, int], *, max_targets: int, max_accounts: int) -> list[list[str]]:
    """Accounts (in id order) cut into shards of at most `max_accounts` accounts and `max_targets` targets.

    An account is never split: its drift pass (every provider of the account against its baseline) must run in
    exactly one shard, so an account with more than `max_targets` targets gets a shard of its own, over the limit.
    """
    shards: list[list[str]] = []
    current: list[str] = []
    load = 0
    for account in sorted(targets_by_account):
        count = targets_by_account[account]
        if current and (len(current) >= max_accounts or load + count > max_targets):
            shards.append(current)
            current, load = [], 0
        current.append(account)
        load += count
    if current:
        shards.append(current)
    return shards


# ----- the lease


class Lease:
    """A State-table item held by one cycle until it is released or expires (conditional writes only)."""

    def __init__(self, state: StatePort, *, ttl: timedelta = DEFAULT_LEASE) -> None:
        self.state = state
        self.ttl = ttl

    def _current(self) -> StateRecord | None:
        return self.state.load([LEASE_KEY]).get(LEASE_KEY)

    @staticmethod
    def holder_of(record: StateRecord | None, now: datetime) -> str | None:
        """Who holds the lease at `now` (None: nobody, or it expired)."""
        if record is None:
            return None
        holder, expires = record.last_result.get("holder"), record.last_result.get("expires")
        if not holder or not expires or datetime.fromisoformat(str(expires)) <= now:
            return None
        return str(holder)

    def _write(self, before: StateRecord | None, holder: str | None, expires: datetime, now: datetime) -> bool:
        record = bookkeeping_record(
            LEASE_KEY, {"holder": holder, "expires": expires.isoformat()}, now, before, fingerprint=holder
        )
        return self.state.put(record, expected_version=expected_version(before))

    def acquire(self, holder: str, now: datetime) -> bool:
        """Take the lease for `holder` until now + ttl; False while another cycle holds it (or won the race)."""
        before = self._current()
        current = self.holder_of(before, now)
        if current is not None and current != holder:
            log.warning("another cycle holds the lease; this one stops", extra={"holder": current, "cycle": holder})
            return False
        return self._write(before, holder, now + self.ttl, now)

    def release(self, holder: str, now: datetime) -> bool:
        """Give the lease back if `holder` still holds it (a cycle that never took it releases nothing)."""
        before = self._current()
        if self.holder_of(before, now) != holder:
            return False
        return self._write(before, None, now, now)


# ----- plan


@dataclass(frozen=True, slots=True)
class PlanLimits:
    max_targets: int
    max_accounts: int


class Planner:
    """The plan step: lease, accounts, shards, issuers and RCPs, written to the plan store."""

    def __init__(
        self,
        targets: TargetsPort,
        store: PlanStorePort,
        lease: Lease,
        *,
        bucket: str,
        limits: PlanLimits,
        organization: OrganizationPort | None = None,
    ) -> None:
        self.targets = targets
        self.store = store
        self.lease = lease
        self.bucket = bucket
        self.limits = limits
        self.organization = organization

    def plan(self, cycle_id: str, started: str, *, now: datetime, deadline: datetime | None = None) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "cycle_id": cycle_id,
            "started": started,
            "skipped": False,
            "bucket": self.bucket,
            "issuers_key": issuers_key(cycle_id),
            "shards_key": shards_key(cycle_id),
            "issuers": 0,
            "shards": 0,
            "accounts": 0,
            "targets": 0,
        }
        if not self.lease.acquire(cycle_id, now):
            return summary | {"skipped": True}
        by_account: dict[str, list[Target]] = {}
        invalid: list[dict[str, str]] = []
        for target_id, item in self.targets.scan():
            if isinstance(item, TargetError):
                invalid.append({"target_id": target_id, "error": f"configuration: {item}"})
            elif item.enabled:
                by_account.setdefault(account_of(item.role_arn), []).append(item)
        accounts = set(by_account) | set(self._organization_accounts(now))
        counts = {account: len(by_account.get(account, ())) for account in accounts}
        shards = plan_shards(counts, max_targets=self.limits.max_targets, max_accounts=self.limits.max_accounts)
        if not shards and invalid:
            shards = [[]]
        rcps = self._rcps(sorted(accounts), deadline)
        entries = []
        for index, shard_accounts in enumerate(shards):
            shard = f"{index:04d}"
            items = [target_to_item(t) for a in shard_accounts for t in by_account.get(a, ())]
            document = {
                "shard": shard,
                "accounts": shard_accounts,
                "targets": items,
                "invalid": invalid if index == 0 else [],
                "resource_control_policies": {a: rcps[a] for a in shard_accounts if a in rcps},
            }
            key = shard_key(cycle_id, shard)
            self.store.put_json(key, document)
            entries.append({"shard": shard, "accounts": shard_accounts, "key": key, "targets": len(items)})
        issuers = sorted({t.issuer for ts in by_account.values() for t in ts if not t.issuer_is_builtin})
        self.store.put_json(issuers_key(cycle_id), issuers)
        self.store.put_json(shards_key(cycle_id), entries)
        targets = sum(counts.values())
        log.info(
            "cycle planned",
            extra={"cycle": cycle_id, "accounts": len(accounts), "shards": len(entries), "targets": targets},
        )
        return summary | {
            "issuers": len(issuers),
            "shards": len(entries),
            "accounts": len(accounts),
            "targets": targets + len(invalid),
        }

    def _organization_accounts(self, now: datetime) -> list[str]:
        """The organization's ACTIVE accounts (kept an hour in the State table, which the plan reads and writes
        anyway); none where Organizations does not answer."""
        if self.organization is None:
            return []
        state = self.lease.state
        cached = state.load([ACCOUNTS_CACHE_KEY]).get(ACCOUNTS_CACHE_KEY)
        listed = cached.last_result.get("accounts") if cached is not None else None
        kept = [str(a) for a in listed] if isinstance(listed, list) else None
        if cached is not None and kept is not None and now - cached.since < ACCOUNTS_CACHE_TTL:
            return kept
        try:
            accounts = self.organization.list_active_accounts()
        except (AwsAccessError, AwsMissingError) as exc:
            log.info("Organizations does not answer; planning the targets' accounts only", extra={"reason": str(exc)})
            self.organization = None
            return []
        except AwsError as exc:
            log.warning("listing the organization's accounts failed", extra={"error": str(exc)})
            return kept or []
        record = bookkeeping_record(ACCOUNTS_CACHE_KEY, {"accounts": accounts}, now, cached)
        if not state.put(record, expected_version=expected_version(cached)):
            log.info("another plan refreshed the organization's accounts first")
        return accounts

    def _rcps(self, accounts: Sequence[str], deadline: datetime | None) -> dict[str, list[dict[str, Any]]]:
        """The RCPs on each account's path, once per cycle; none (said once) where Organizations refuses."""
        if self.organization is None or not accounts:
            return {}
        try:
            return self.organization.resource_control_policies(accounts, deadline=deadline)
        except (AwsAccessError, AwsMissingError) as exc:
            log.info("Organizations refuses its policies; judging without RCPs", extra={"reason": str(exc)})
        except AwsError as exc:
            log.warning("reading resource control policies failed; judging without RCPs", extra={"error": str(exc)})
        return {}


# ----- issuers


class IssuerStep:
    """Inspect one issuer and keep what was seen for the shards (an issuer shared by accounts is fetched once)."""

    def __init__(self, inspector: InspectorPort, store: PlanStorePort) -> None:
        self.inspector = inspector
        self.store = store

    def run(self, cycle_id: str, issuer: str, *, deadline: datetime | None = None) -> dict[str, Any]:
        try:
            inspection = self.inspector.inspect(issuer, deadline=deadline)
            self.store.put_json(inspection_key(cycle_id, issuer), inspection.to_json(complete=True))
        except Exception as exc:
            # Not stored: a shard that needs the issuer inspects it itself.
            log.exception("inspecting issuer failed", extra={"issuer": issuer})
            return {"issuer": issuer, "ok": False, "error": _reason(exc)}
        failures = [f.error or str(f.failure) for f in (inspection.discovery, inspection.jwks) if f and not f.ok]
        return {"issuer": issuer, "ok": not failures, "error": failures[0] if failures else None}


class PlannedInspector:
    """The InspectorPort of a shard: the issuer steps' inspections from the plan store, each read once; an issuer
    the plan did not list (a provider no target uses) is inspected here, once per shard."""

    def __init__(self, store: PlanStorePort, cycle_id: str, fallback: InspectorPort | None) -> None:
        self.store = store
        self.cycle_id = cycle_id
        self.fallback = fallback
        self._lock = threading.Lock()
        self._seen: dict[str, Future[IssuerInspection]] = {}
        self.inspected_here: list[str] = []

    def inspect(self, issuer_url: str, *, deadline: datetime | None = None) -> IssuerInspection:
        with self._lock:
            pending = self._seen.get(issuer_url)
            mine = pending is None
            if pending is None:
                pending = self._seen[issuer_url] = Future()
        if not mine:
            return pending.result()
        try:
            pending.set_result(self._inspect(issuer_url, deadline))
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        return pending.result()

    def _inspect(self, issuer_url: str, deadline: datetime | None) -> IssuerInspection:
        document = self.store.get_json(inspection_key(self.cycle_id, issuer_url))
        if isinstance(document, Mapping):
            try:
                return IssuerInspection.from_json(document)
            except (KeyError, ValueError, TypeError) as exc:
                log.warning(
                    "stored inspection unreadable; inspecting again", extra={"issuer": issuer_url, "e": str(exc)}
                )
        if self.fallback is None:
            raise PlanStoreError("GetObject", "NoInspection", f"no inspection of {issuer_url} in this cycle's plan")
        self.inspected_here.append(issuer_url)
        return self.fallback.inspect(issuer_url, deadline=deadline)


# ----- shards


class ItemTargets:
    """The TargetsPort over a shard's items (already read by the plan)."""

    def __init__(self, items: Sequence[tuple[str, Target | TargetError]]) -> None:
        self.items = items

    def scan(self) -> Iterable[tuple[str, Target | TargetError]]:
        return iter(self.items)


def parse_items(raw: object) -> list[tuple[str, Target | TargetError]]:
    """The shard's target items as targets (an item that does not validate, as its error)."""
    parsed: list[tuple[str, Target | TargetError]] = []
    for item in raw if isinstance(raw, list) else []:
        target_id = str(item.get("target_id", "")) if isinstance(item, Mapping) else ""
        try:
            parsed.append((target_id, parse_target(item)))
        except TargetError as exc:
            parsed.append((target_id, exc))
    return parsed


@dataclass
class AccountOutcome:
    account: str
    report: CycleReport
    outcome: Outcome
    failure: str | None = None


@dataclass
class ShardRules:
    drift: DriftRules = field(default_factory=DriftRules)
    concurrency: int = 16


def index_key(account: str) -> str:
    return f"{ACCOUNT_INDEX_PREFIX}{account}"


class ShardStep:
    """One shard: for each of its accounts, the one-account cycle through the account's reader role, then the
    Reporter for the shard's own subjects (their State items read by key). Never raises for one account."""

    def __init__(
        self,
        store: PlanStorePort,
        state: StatePort,
        reporter: Reporter,
        accounts: AccountIamPort,
        inspector: InspectorPort | None,
        *,
        rules: ShardRules | None = None,
        tokens: TokenPort | None = None,
        prober: ProberPort | None = None,
        metrics: FleetMetricsPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.state = state
        self.reporter = reporter
        self.accounts = accounts
        self.inspector = inspector
        self.rules = rules or ShardRules()
        self.tokens = tokens
        self.prober = prober
        self.metrics = metrics
        self.clock = clock

    def run(
        self, cycle_id: str, shard: Mapping[str, Any], *, now: datetime, deadline: datetime | None = None
    ) -> dict[str, Any]:
        began = time.monotonic()
        shard_id = str(shard["shard"])
        document = self.store.get_json(str(shard.get("key") or shard_key(cycle_id, shard_id)))
        if not isinstance(document, Mapping):
            raise PlanStoreError("GetObject", "NoShard", f"shard {shard_id} of cycle {cycle_id} is not in the plan")
        items = parse_items(document.get("targets"))
        by_account: dict[str, list[tuple[str, Target | TargetError]]] = {a: [] for a in document.get("accounts", [])}
        invalid = [
            TargetResult(str(i["target_id"]), Status.ERROR, error=str(i["error"]))
            for i in document.get("invalid") or []
        ]
        for target_id, item in items:
            if isinstance(item, TargetError):
                invalid.append(TargetResult(target_id, Status.ERROR, error=f"configuration: {item}"))
            else:
                by_account.setdefault(account_of(item.role_arn), []).append((target_id, item))
        rcps = document.get("resource_control_policies") or {}
        inspector = PlannedInspector(self.store, cycle_id, self.inspector)
        until = None if deadline is None else checks_deadline(deadline, self.clock())
        outcomes: list[AccountOutcome] = []
        accounts = sorted(by_account)
        if accounts:
            with ThreadPoolExecutor(max_workers=len(accounts), thread_name_prefix="account") as pool:
                futures = [
                    pool.submit(self._account_safely, a, by_account[a], rcps.get(a), inspector, now, until)
                    for a in accounts
                ]
                outcomes = [f.result() for f in futures]
        if invalid:
            outcomes.append(self._report_results("", invalid, now))
        return summarize(shard_id, outcomes, seconds=time.monotonic() - began)

    def _account_safely(
        self,
        account: str,
        items: list[tuple[str, Target | TargetError]],
        rcps: object,
        inspector: InspectorPort,
        now: datetime,
        deadline: datetime | None,
    ) -> AccountOutcome:
        try:
            return self._account(account, items, rcps, inspector, now, deadline)
        except Exception as exc:
            log.exception("checking an account failed", extra={"account": account})
            reason = f"not checked this cycle: account {account}: {_reason(exc)}"
            targets = [failed(t, reason) for _, t in items if isinstance(t, Target)]
            crashed = self._report_results(account, targets, now)
            crashed.failure = reason
            return crashed

    def _account(
        self,
        account: str,
        items: list[tuple[str, Target | TargetError]],
        rcps: object,
        inspector: InspectorPort,
        now: datetime,
        deadline: datetime | None,
    ) -> AccountOutcome:
        target_keys = [state_key(Subject.TARGET, target_id) for target_id, _ in items]
        previous: dict[str, StateRecord] | None
        try:
            previous = self.state.load([index_key(account), *target_keys])
            known = _indexed(previous.get(index_key(account)))
            previous |= self.state.load(state_key(Subject.PROVIDER, provider_subject(u, account)) for u in known)
        except AwsError as exc:
            log.error("State table unreadable; checking without notices", extra={"account": account, "e": str(exc)})
            previous, known = None, []
        try:
            iam = self.accounts.iam_for(account)
        except AwsError as exc:
            reason = f"not checked this cycle: account {account} could not be read: {exc}"
            log.error("account not readable", extra={"account": account, "error": str(exc)})
            targets = [failed(t, reason) for _, t in items if isinstance(t, Target)]
            refused = self._report_results(account, targets, now, previous)
            refused.failure = reason
            return refused
        try:
            policies = parse_rcps(rcps) if rcps else ()
        except InputError as exc:
            log.warning("resource control policies unreadable; judging without them", extra={"e": str(exc)})
            policies = ()
        reader = Reader(iam, inspector, concurrency=self.rules.concurrency, clock=self.clock, rcps=policies)
        cycle = Cycle(
            ItemTargets(items),
            reader,
            tokens=self.tokens,
            prober=self.prober,
            drift=self.rules.drift,
            concurrency=self.rules.concurrency,
            clock=self.clock,
        )
        baselines = _baselines(previous or {}, account, known)
        report = cycle.run(now, deadline, baselines=baselines)
        if self.metrics is not None:
            self.metrics.publish_alarmed_targets(report)
        if previous is None:
            return AccountOutcome(account, report, Outcome(state_errors=["*"]))
        keys = [state_key(Subject.PROVIDER, provider_subject(p.url, account)) for p in report.providers]
        unread = [key for key in keys if key not in previous]
        try:
            previous |= self.state.load(unread) if unread else {}
            outcome = self.reporter.report(report, now=now, previous=previous, account=account)
            self._index(account, previous.get(index_key(account)), known, report, now)
        except AwsError as exc:
            log.error("State table unreadable; no notices this cycle", extra={"account": account, "e": str(exc)})
            outcome = Outcome(state_errors=["*"])
        return AccountOutcome(account, report, outcome)

    def _report_results(
        self,
        account: str,
        targets: list[TargetResult],
        now: datetime,
        previous: dict[str, StateRecord] | None = None,
    ) -> AccountOutcome:
        report = CycleReport(started=now, finished=self.clock(), targets=tuple(targets), providers=())
        outcome = report_results(self.reporter, self.state, report, now=now, previous=previous)
        return AccountOutcome(account, report, outcome)

    def _index(
        self, account: str, before: StateRecord | None, known: list[str], report: CycleReport, now: datetime
    ) -> None:
        reported = {p.url for p in report.providers}
        kept = (set(known) - reported) | {p.url for p in report.providers if p.baseline is not None}
        if sorted(kept) == sorted(known) and before is not None:
            return
        record = bookkeeping_record(index_key(account), {"providers": sorted(kept)}, now, before)
        if not self.state.put(record, expected_version=expected_version(before)):
            log.warning("account index changed under this run", extra={"account": account})


def report_results(
    reporter: Reporter,
    state: StatePort,
    report: CycleReport,
    *,
    now: datetime,
    previous: dict[str, StateRecord] | None = None,
) -> Outcome:
    """Report targets that were not checked (their State items read by key), so the usual notices go out."""
    if not report.targets:
        return Outcome()
    try:
        if previous is None:
            previous = state.load(state_key(Subject.TARGET, t.target_id) for t in report.targets)
        return reporter.report(report, now=now, previous=previous)
    except AwsError as exc:
        log.error("State table unreadable; not-checked targets not recorded", extra={"error": str(exc)})
        return Outcome(state_errors=["*"])


def _indexed(record: StateRecord | None) -> list[str]:
    if record is None:
        return []
    providers = record.last_result.get("providers")
    return [str(url) for url in providers] if isinstance(providers, list) else []


def _baselines(records: Mapping[str, StateRecord], account: str, urls: Iterable[str]) -> dict[str, ProviderBaseline]:
    """The account's providers' baselines, by URL; a broken one is dropped, and logged."""
    found: dict[str, ProviderBaseline] = {}
    for url in urls:
        record = records.get(state_key(Subject.PROVIDER, provider_subject(url, account)))
        if record is None or record.baseline is None:
            continue
        try:
            found[url] = ProviderBaseline.from_json(record.baseline)
        except (ValueError, AttributeError) as exc:
            log.warning("stored baseline unreadable; starting a new one", extra={"url": url, "reason": str(exc)})
    return found


def summarize(shard: str, outcomes: Sequence[AccountOutcome], *, seconds: float) -> dict[str, Any]:
    """The shard's small answer (never the results themselves: Step Functions' 256 KiB limit)."""
    by_status: Counter[str] = Counter()
    by_account: dict[str, dict[str, int]] = {}
    for item in outcomes:
        counts = Counter(t.status.value for t in item.report.targets)
        by_status.update(counts)
        if item.account:
            by_account[item.account] = dict(counts)
    return {
        "shard": shard,
        "ok": True,
        "accounts": sorted(o.account for o in outcomes if o.account),
        "targets": sum(len(o.report.targets) for o in outcomes),
        "by_status": dict(by_status),
        "by_account": by_account,
        "failed_accounts": {o.account: o.failure for o in outcomes if o.failure},
        "providers": sum(len(o.report.providers) for o in outcomes),
        "drifting": sum(o.report.drifting for o in outcomes),
        "notifications": sum(len(o.outcome.deliveries) for o in outcomes),
        "error": None,
        "seconds": round(seconds, 3),
    }


# ----- report


class ReportStep:
    """The last step, run whatever happened before it: fleet metrics, the heartbeat, crashed shards' targets, the
    lease."""

    def __init__(
        self,
        store: PlanStorePort,
        state: StatePort,
        reporter: Reporter,
        lease: Lease,
        *,
        metrics: FleetMetricsPort | None = None,
        account_metrics: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.state = state
        self.reporter = reporter
        self.lease = lease
        self.metrics = metrics
        self.account_metrics = account_metrics
        self.clock = clock

    def run(self, cycle_id: str, started: datetime, execution: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
        planned = (execution.get("planned") or {}).get("result") or {}
        failure = execution.get("failure")
        summaries = execution.get("shards")
        answered: list[Mapping[str, Any]] = []
        crashed: list[tuple[str, str, int]] = []
        if isinstance(summaries, list):
            for summary in summaries:
                if summary.get("ok"):
                    answered.append(summary)
                else:
                    error = str(summary.get("error") or "no answer")
                    crashed.append((str(summary.get("shard")), error, int(summary.get("targets") or 0)))
        elif planned:
            # The accounts map failed as a whole: no shard answered.
            why = _failure_text(failure)
            for entry in self._planned_shards(cycle_id, planned):
                crashed.append((str(entry.get("shard")), why, int(entry.get("targets") or 0)))
        in_error = 0
        for shard, error, planned_targets in crashed:
            reported = self._not_checked(cycle_id, shard, error, now)
            in_error += reported if reported is not None else planned_targets
        by_status: Counter[str] = Counter()
        by_account: dict[str, Counter[str]] = {}
        for summary in answered:
            by_status.update(summary.get("by_status") or {})
            for account, counts in (summary.get("by_account") or {}).items():
                if account in self.account_metrics:
                    by_account.setdefault(account, Counter()).update(counts)
        completed = bool(planned) and failure is None and not crashed
        counts = FleetCounts(
            targets=sum(by_status.values()) + in_error,
            failing=by_status[Status.FAILING.value],
            in_error=by_status[Status.ERROR.value] + in_error,
            open=by_status[Status.OPEN.value],
            drifting=sum(int(s.get("drifting") or 0) for s in answered),
            duration_seconds=max(0.0, (self.clock() - started).total_seconds()),
            shards_failed=len(crashed),
            completed=completed,
            by_account={a: dict(c) for a, c in by_account.items()},
        )
        if self.metrics is not None:
            self.metrics.publish_fleet(counts)
        if failure is not None:
            log.error("the cycle did not run every step", extra={"cycle": cycle_id, "failure": _failure_text(failure)})
        try:
            released = self.lease.release(cycle_id, now)
        except AwsError as exc:
            # Not released: it expires by itself (the lease's time), and the next cycle takes it then.
            log.error("lease not released; it expires by itself", extra={"cycle": cycle_id, "error": str(exc)})
            released = False
        return {
            "cycle_id": cycle_id,
            "shards": len(answered) + len(crashed),
            "shards_failed": len(crashed),
            "targets": counts.targets,
            "heartbeat": completed,
            "lease_released": released,
        }

    def _planned_shards(self, cycle_id: str, planned: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        try:
            entries = self.store.get_json(str(planned.get("shards_key") or shards_key(cycle_id)))
        except AwsError as exc:
            log.error("the plan's shard list is unreadable", extra={"cycle": cycle_id, "error": str(exc)})
            return []
        return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []

    def _not_checked(self, cycle_id: str, shard: str, error: str, now: datetime) -> int | None:
        """The targets of a shard that crashed, reported as `error` through the Reporter; how many (None: the
        shard's items could not be read, so only the count the plan gave is known)."""
        try:
            document = self.store.get_json(shard_key(cycle_id, shard))
        except AwsError as exc:
            log.error("crashed shard's items unreadable", extra={"shard": shard, "error": str(exc)})
            return None
        if not isinstance(document, Mapping):
            log.error("crashed shard not in the plan", extra={"cycle": cycle_id, "shard": shard})
            return None
        reason = f"not checked this cycle: shard {shard} failed: {error}"
        results = [
            failed(item, reason) if isinstance(item, Target) else TargetResult(target_id, Status.ERROR, error=reason)
            for target_id, item in parse_items(document.get("targets"))
        ]
        results += [
            TargetResult(str(i["target_id"]), Status.ERROR, error=reason) for i in document.get("invalid") or []
        ]
        report = CycleReport(started=now, finished=self.clock(), targets=tuple(results), providers=())
        report_results(self.reporter, self.state, report, now=now)
        return len(results)


def _failure_text(failure: object) -> str:
    if isinstance(failure, Mapping):
        return ": ".join(str(failure[k]) for k in ("Error", "Cause") if failure.get(k)) or "failed"
    return "failed" if failure is None else str(failure)


__all__ = [
    "IssuerStep",
    "Lease",
    "PlanLimits",
    "PlannedInspector",
    "Planner",
    "ReportStep",
    "ShardRules",
    "ShardStep",
    "plan_shards",
]
