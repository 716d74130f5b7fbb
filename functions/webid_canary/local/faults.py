"""Faults for real cycles on the local AWS: AWS errors at the SDK boundary, a process killed between two steps of
the report, and a scan of everything logged and published for secrets.

Used by bench/faults.py (the figures) and tests/functional/test_faults.py (the behaviour a person would notice).
AWS errors are raised by a botocore `before-call` hook on the session the monitor is built from, so every call
the cycle makes (IAM, DynamoDB, SNS, Secrets Manager, STS) can fail the way AWS fails, without retries.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote, quote_plus

import boto3
from botocore.exceptions import ClientError

from webid_canary import names, redaction
from webid_canary.adapters.targets_table import TargetsTable
from webid_canary.app.monitor import Monitor
from webid_canary.app.ports import Message, NotifierPort, StatePort
from webid_canary.core.limits import DYNAMODB_ITEM_BYTES
from webid_canary.core.report import CycleReport
from webid_canary.core.state import StateRecord
from webid_canary.core.targets import parse_target
from webid_canary.local.aws import DEFAULT_ACCOUNT, FAKE_CREDENTIALS, LocalAws
from webid_canary.local.issuer import LocalIssuer
from webid_canary.local.pki import Pki
from webid_canary.local.seed import Seeder, oidc_trust_policy
from webid_canary.settings import Settings
from webid_canary.wiring import build_monitor

# How each service says "slow down" and "failing on my side" (their APIs' documented error codes).
THROTTLED: Final[Mapping[str, str]] = {
    "iam": "Throttling",
    "dynamodb": "ThrottlingException",
    "sns": "Throttled",
    "secretsmanager": "ThrottlingException",
    "sts": "Throttling",
}
SERVER_ERRORS: Final[Mapping[str, str]] = {
    "iam": "ServiceFailure",
    "dynamodb": "InternalServerError",
    "sns": "InternalError",
    "secretsmanager": "InternalServiceError",
    "sts": "InternalFailure",
}
# Every AWS operation a monitor cycle makes, by service.
CYCLE_OPERATIONS: Final[tuple[tuple[str, str], ...]] = (
    ("iam", "ListRoles"),
    ("iam", "GetRole"),
    ("iam", "ListOpenIDConnectProviders"),
    ("iam", "GetOpenIDConnectProvider"),
    ("dynamodb", "Scan"),
    ("dynamodb", "PutItem"),
    ("sns", "Publish"),
    ("secretsmanager", "GetSecretValue"),
    ("sts", "AssumeRoleWithWebIdentity"),
    ("sts", "GetCallerIdentity"),
)


@dataclass(frozen=True, slots=True)
class AwsFault:
    """One AWS operation failing with `code` (HTTP `status`): on every call while armed, or on the first `calls`."""

    service: str
    operation: str
    code: str
    status: int = 400
    table: str | None = None  # DynamoDB only: calls on this table
    calls: int | None = None

    @property
    def name(self) -> str:
        where = f"[{self.table}]" if self.table else ""
        return f"{self.service}.{self.operation}{where}:{self.code}"

    def matches(self, service: str, operation: str, request: Mapping[str, Any]) -> bool:
        if (service, operation) != (self.service, self.operation):
            return False
        return self.table is None or api_params(request).get("TableName") == self.table


def api_params(request: Mapping[str, Any]) -> dict[str, Any]:
    """The call's parameters from the request botocore is about to send (JSON protocols: DynamoDB and the like)."""
    body = request.get("body") or b""
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def throttled(service: str, operation: str, *, table: str | None = None, calls: int | None = None) -> AwsFault:
    return AwsFault(service, operation, THROTTLED[service], 400, table, calls)


def server_error(service: str, operation: str, *, table: str | None = None, calls: int | None = None) -> AwsFault:
    return AwsFault(service, operation, SERVER_ERRORS[service], 500, table, calls)


class AwsFaults:
    """A botocore hook on a session that fails the armed operations; counts what it failed, by fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[AwsFault, int] = {}  # fault -> calls failed since armed
        self.fired: Counter[str] = Counter()

    def install(self, session: Any) -> Self:
        """Hook into every client the (boto3) session makes from now on."""
        session.events.register("before-call", self._before_call, unique_id="webid-canary-faults")
        return self

    def arm(self, *faults: AwsFault) -> None:
        with self._lock:
            for fault in faults:
                self._armed[fault] = 0

    def disarm(self) -> dict[AwsFault, int]:
        """Stop failing; how many calls each armed fault failed."""
        with self._lock:
            armed, self._armed = self._armed, {}
        return armed

    def _before_call(self, *, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        with self._lock:
            fault = next((f for f, n in self._armed.items() if f.matches(service, operation, params)), None)
            if fault is None or (fault.calls is not None and self._armed[fault] >= fault.calls):
                return
            self._armed[fault] += 1
            self.fired[fault.name] += 1
        error = {"Code": fault.code, "Message": f"injected fault: {fault.code}"}
        response = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": fault.status}}
        raise ClientError(response, operation)  # type: ignore[arg-type]


def item_bytes(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of an item in its wire form: attribute names plus values (numbers counted as text)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # SS, NS, BS


class ItemSizes:
    """The size of every item written to one DynamoDB table through a session (a `before-call` hook)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.largest = 0
        self.oversized: list[str] = []

    def install(self, session: Any) -> Self:
        session.events.register("before-call.dynamodb.PutItem", self._before_put, unique_id="webid-canary-sizes")
        return self

    def _before_put(self, *, params: Mapping[str, Any], **_: Any) -> None:
        call = api_params(params)
        if call.get("TableName") != self.table:
            return
        size = item_bytes(call["Item"])
        self.largest = max(self.largest, size)
        if size > DYNAMODB_ITEM_BYTES:
            self.oversized.append(str(call["Item"].get(names.STATE_PK, {}).get("S", "?")))


class Killed(BaseException):
    """The process dies here (Lambda's timeout, an out-of-memory kill): no `except Exception` of ours runs."""


class ReportKiller:
    """Kills the report at one subject's k-th step: 1 its first State write, 2 the publish, 3 the clearing write.

    From then on every step dies too, as nothing runs in a dead process. Wrap a monitor with `install`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._target: tuple[str, int] | None = None
        self._steps: Counter[str] = Counter()
        self.dead = False
        self.kills = 0

    def arm(self, key: str, step: int) -> None:
        """Die before `key`'s step number `step` of the next report."""
        with self._lock:
            self._target, self._steps, self.dead = (key, step), Counter(), False

    def disarm(self) -> None:
        with self._lock:
            self._target, self.dead = None, False

    def install(self, monitor: Monitor) -> None:
        """Put the killer between the monitor's reporter and its State table and notifier."""
        reporter = monitor.reporter
        reporter.state = _KilledState(self, reporter.state)
        if reporter.notifier is not None:
            reporter.notifier = _KilledNotifier(self, reporter.notifier)

    def step(self, key: str | None) -> None:
        if key is not None:
            self._local.key = key
        key = getattr(self._local, "key", None)
        with self._lock:
            if self.dead:
                raise Killed("the process is gone")
            if self._target is None or key != self._target[0]:
                return
            self._steps[key] += 1
            if self._steps[key] == self._target[1]:
                self.dead, self._target = True, None
                self.kills += 1
                raise Killed(f"killed at step {self._steps[key]} of {key}")


class _KilledState:
    def __init__(self, killer: ReportKiller, state: StatePort) -> None:
        self._killer, self._state = killer, state

    def load_all(self) -> dict[str, StateRecord]:
        return self._state.load_all()

    def load(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        return self._state.load(keys)

    def put(self, record: StateRecord, *, expected_version: int | None) -> bool:
        self._killer.step(record.key)
        return self._state.put(record, expected_version=expected_version)


class _KilledNotifier:
    def __init__(self, killer: ReportKiller, notifier: NotifierPort) -> None:
        self._killer, self._notifier = killer, notifier

    def publish(self, topic_arn: str, message: Message) -> str:
        self._killer.step(None)
        return self._notifier.publish(topic_arn, message)


class RecordedMetrics:
    """A metrics port that keeps each cycle's report and deadline headroom (what EMF would carry)."""

    def __init__(self) -> None:
        self.cycles: list[tuple[CycleReport, float | None]] = []

    def publish_cycle(self, report: CycleReport, *, deadline_headroom_seconds: float | None) -> None:
        self.cycles.append((report, deadline_headroom_seconds))


# ----- secrets

# A signed JWT: base64url JSON header and payload (both start with eyJ), then a signature.
JWT_SHAPE: Final = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{16,}")
ACCESS_KEY_ID: Final = re.compile(r"\b(?:ASIA|AKIA)[A-Z0-9]{16}\b")


class SecretScanner:
    """Finds secrets in text: JWT-shaped strings, AWS access key ids, and known values (raw or URL-encoded).

    Findings name the kind and the index of the known value, never the value itself.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        with self._lock:
            self._secrets += [s for s in secrets if s and s not in self._secrets]

    def watch_credentials(self, session: Any) -> Self:
        """Learn the credentials STS hands out through this session, so they can be looked for."""
        session.events.register(
            "after-call.sts.AssumeRoleWithWebIdentity", self._after_assume, unique_id="webid-canary-scan"
        )
        return self

    def _after_assume(self, *, parsed: Mapping[str, Any], **_: Any) -> None:
        credentials = parsed.get("Credentials") or {}
        self.add(*(str(credentials.get(k) or "") for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")))

    def findings(self, text: str) -> list[str]:
        found = [f"jwt-shaped string at {m.start()}" for m in JWT_SHAPE.finditer(text)]
        found += [f"access key id at {m.start()}" for m in ACCESS_KEY_ID.finditer(text)]
        with self._lock:
            secrets = list(self._secrets)
        for index, secret in enumerate(secrets):
            for form, shown in ((secret, "raw"), (quote(secret, safe=""), "url-encoded"), (quote_plus(secret), "form")):
                if form in text:
                    found.append(f"known secret #{index} ({shown})")
                    break
        return found


_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LogCapture(logging.Handler):
    """Every log line of the process with the root logger at DEBUG, formatted with its extra fields and
    traceback, through the redaction filter the shells put on their handlers.

    `sdk_debug` also opens the AWS SDK's and urllib3's loggers at DEBUG (the shells keep them at WARNING),
    so that the scan covers what they would write.
    """

    def __init__(self, *, sdk_debug: bool = False) -> None:
        super().__init__(logging.DEBUG)
        self.sdk_debug = sdk_debug
        self.lines: list[str] = []
        self._saved: dict[str, int] = {}
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
            if extra:
                line += " " + json.dumps(extra, default=str)
        except Exception:  # a record that cannot be formatted is kept as what it holds
            line = repr(vars(record))
        self.lines.append(line)  # logging holds the handler's lock around emit

    def __enter__(self) -> Self:
        root = logging.getLogger()
        names = ["", *redaction.QUIET_LOGGERS]
        self._saved = {name: logging.getLogger(name).level for name in names}
        root.setLevel(logging.DEBUG)
        redaction.install(self)
        if self.sdk_debug:
            for name in redaction.QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.DEBUG)
        root.addHandler(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        logging.getLogger().removeHandler(self)
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)

    def text(self) -> str:
        return "\n".join(self.lines)


# ----- a fleet to break


AUDIENCE: Final = "sts.amazonaws.com"
STEADY_SA: Final = "system:serviceaccount:payments:api"
CLIENT_ID: Final = "fault-suite-client"
# Characters that URL-encoding changes, so that the scan can tell a raw leak from an encoded one.
CLIENT_SECRET: Final = "fault+suite/secret=1&two three"
TOKEN_SECRET_ID: Final = "webid-canary/fault-suite-token"
CLIENT_SECRET_ID: Final = "webid-canary/fault-suite-client"
# Subjects that are never broken on purpose: a failing or open notice for one of them is a false page.
HEALTHY: Final = ("steady-predicted", "steady-live", "steady-client", "slow-predicted", "slow-client")
# Open to the wrong workload from the start, to every one of its (many, long) must-deny entries: its result is
# too large for one State item and its notice too large for one SNS message.
HUGE: Final = "huge-open"
FLAPPING: Final = "flap-predicted"
BREAKABLE: Final[Mapping[str, str]] = {"break-sub": "failing", "break-open": "open"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice as the topic delivered it: whom it is about, the event, the root cause, its transition id."""

    subject: str
    event: str
    root_cause: str
    transition_id: str
    malformed: bool = False

    @property
    def is_page(self) -> bool:
        """Whether it pages someone: failing, open or drifting, not merely "cannot be checked"."""
        return self.event in ("failing", "open", "drift", "changed") and self.root_cause != "check_error"

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> Notice:
        """From what SNS delivered: the message attributes, and the body for a provider's URL. A body that is
        not JSON (a notice mangled on its way) keeps its attributes and is marked `malformed`."""
        attributes = {k: str(v.get("Value", "")) for k, v in (envelope.get("MessageAttributes") or {}).items()}
        try:
            body = json.loads(envelope["Message"])
        except ValueError:
            body = None
        found = body if isinstance(body, dict) else {}
        return cls(
            subject=attributes.get("target_id") or str(found.get("provider_url") or found.get("target_id") or "?"),
            event=attributes.get("event") or str(found.get("event")),
            root_cause=attributes.get("root_cause") or str(found.get("root_cause")),
            transition_id=attributes.get("transition_id") or str(found.get("transition_id")),
            malformed=not isinstance(body, dict) or found.get("transition_id") != attributes.get("transition_id"),
        )


@dataclass
class CycleRun:
    """What one cycle did, as a person would see it."""

    number: int
    deadline: datetime
    ended: datetime
    killed: bool
    summary: dict[str, Any]
    statuses: dict[str, str]
    errors: dict[str, str]
    notices: list[Notice]
    envelopes: list[str]

    @property
    def overrun_seconds(self) -> float:
        return (self.ended - self.deadline).total_seconds()


class FaultFleet:
    """Issuers on loopback and a fleet on the local AWS, built to be broken.

    A steady issuer with healthy targets (predicted, live from a stored token, live by client credentials); a
    slow issuer (stalled and dripping on demand) with a predicted and a client-credentials target; a flapping
    issuer whose chain alternates; two targets broken and repaired on purpose (`break-sub` fails, `break-open`
    opens to the wrong workload); optionally a target open to each of its many must-deny entries. The monitor is the
    production one (`wiring.build_monitor`) on a session carrying the AWS fault hook.
    """

    def __init__(
        self, aws: LocalAws, pki: Pki, *, cycle_seconds: float = 6.0, huge_must_deny: int = 0, concurrency: int = 8
    ) -> None:
        self.aws = aws
        self.seed = Seeder(aws.client)
        self.cycle_seconds = cycle_seconds
        self.steady = LocalIssuer(pki, path="steady").start()
        self.slow = LocalIssuer(pki, path="slow").start()
        self.flapping = LocalIssuer(pki, path="flapping").start()
        self.targets_table, self.state_table = self.seed.tables()
        self.topic = self.seed.topic()
        self.scanner = SecretScanner([CLIENT_SECRET])
        self.faults = AwsFaults()
        self.sizes = ItemSizes(self.state_table)
        self.killer = ReportKiller()
        self.metrics = RecordedMetrics()
        self._providers = {i.path: self.seed.provider(i, client_ids=[AUDIENCE]) for i in self._issuers}
        for issuer in (self.steady, self.slow):
            issuer.clients[CLIENT_ID] = CLIENT_SECRET
        self.seed.secret(CLIENT_SECRET_ID, {"client_secret": CLIENT_SECRET})
        token = self.steady.mint({"sub": STEADY_SA, "aud": AUDIENCE}, expires_in=7 * 86400)
        self.scanner.add(token, token.rsplit(".", 1)[1])
        self.seed.secret(TOKEN_SECRET_ID, token)
        self._register(huge_must_deny)
        session = boto3.session.Session(
            region_name=aws.region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        self.faults.install(session)
        self.sizes.install(session)
        self.scanner.watch_credentials(session)
        settings = Settings(
            targets_table=self.targets_table,
            state_table=self.state_table,
            topic_arn=self.topic.topic_arn,
            concurrency=concurrency,
            allow_private_issuers=True,
            ca_file=str(pki.ca_file),
        )
        self.monitor = build_monitor(settings, session, metrics=self.metrics)
        self.killer.install(self.monitor)
        self.runs: list[CycleRun] = []

    @property
    def _issuers(self) -> tuple[LocalIssuer, ...]:
        return (self.steady, self.slow, self.flapping)

    def close(self) -> None:
        for issuer in self._issuers:
            issuer.stop()

    # ----- the fleet
    def _trust(self, issuer: LocalIssuer, sub: str, operator: str = "StringEquals") -> dict[str, Any]:
        return oidc_trust_policy(
            self._providers[issuer.path], issuer.provider_url, sub=sub, aud=AUDIENCE, operator=operator
        )

    def _register(self, huge_must_deny: int) -> None:
        seed, steady, slow = self.seed, self.steady, self.slow
        seed.role("steady", self._trust(steady, STEADY_SA))
        seed.role("steady-client", self._trust(steady, CLIENT_ID))
        seed.role("slow", self._trust(slow, STEADY_SA))
        seed.role("slow-client", self._trust(slow, CLIENT_ID))
        seed.role("flapping", self._trust(self.flapping, STEADY_SA))
        for name in BREAKABLE:
            seed.role(name, self._trust(steady, STEADY_SA))
        # Open to every service account of the namespace: each must-deny entry is accepted, and named in the result.
        seed.role(HUGE, self._trust(steady, "system:serviceaccount:payments:*", operator="StringLike"))
        role = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/"
        claims = {"sub": STEADY_SA, "aud": AUDIENCE}
        deny = [{"sub": "system:serviceaccount:payments:debug-shell"}]

        def client_source(issuer: LocalIssuer) -> dict[str, Any]:
            return {
                "type": "client_credentials",
                "token_endpoint": issuer.token_endpoint,
                "client_id": CLIENT_ID,
                "secret_id": CLIENT_SECRET_ID,
                "audience": AUDIENCE,
            }

        items: list[dict[str, Any]] = [
            {"target_id": "steady-predicted", "role_arn": role + "steady", "issuer": steady.url, "claims": claims},
            {
                "target_id": "steady-live",
                "role_arn": role + "steady",
                "issuer": steady.url,
                "claims": claims,
                "token_source": {"type": "secret", "secret_id": TOKEN_SECRET_ID},
            },
            {
                "target_id": "steady-client",
                "role_arn": role + "steady-client",
                "issuer": steady.url,
                "claims": {"sub": CLIENT_ID, "aud": AUDIENCE},
                "token_source": client_source(steady),
            },
            {"target_id": "slow-predicted", "role_arn": role + "slow", "issuer": slow.url, "claims": claims},
            {
                "target_id": "slow-client",
                "role_arn": role + "slow-client",
                "issuer": slow.url,
                "claims": {"sub": CLIENT_ID, "aud": AUDIENCE},
                "token_source": client_source(slow),
            },
            {"target_id": FLAPPING, "role_arn": role + "flapping", "issuer": self.flapping.url, "claims": claims},
            *(
                {"target_id": name, "role_arn": role + name, "issuer": steady.url, "claims": claims, "must_deny": deny}
                for name in BREAKABLE
            ),
        ]
        if huge_must_deny:
            padding = "x" * 240
            many = [
                {"sub": f"system:serviceaccount:payments:intruder-{n:05d}-{padding}"} for n in range(huge_must_deny)
            ]
            items.append(
                {
                    "target_id": HUGE,
                    "role_arn": role + HUGE,
                    "issuer": steady.url,
                    "claims": claims,
                    "must_deny": many,
                }
            )
        TargetsTable(self.aws.client("dynamodb"), self.targets_table).put_all([parse_target(i) for i in items])

    def break_target(self, name: str) -> None:
        """`break-sub`: the trust policy names another service account; `break-open`: any service account."""
        if name == "break-sub":
            policy = self._trust(self.steady, "system:serviceaccount:payments:someone-else")
        else:
            policy = self._trust(self.steady, "system:serviceaccount:*", operator="StringLike")
        self._set_trust(name, policy)

    def repair_target(self, name: str) -> None:
        self._set_trust(name, self._trust(self.steady, STEADY_SA))

    def _set_trust(self, role: str, policy: Mapping[str, Any]) -> None:
        self.aws.client("iam").update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(policy))

    def flap(self, cross_signed: bool) -> None:
        """The flapping issuer presents its intermediate cross-signed (another thumbprint) or as registered."""
        self.flapping.use_cross_signed_chain(cross_signed)

    # ----- cycles
    def run_cycle(self, now: datetime) -> CycleRun:
        """One real cycle within `cycle_seconds` of wall time; what it reported and what the topic delivered."""
        deadline = datetime.now(UTC) + timedelta(seconds=self.cycle_seconds)
        summary: dict[str, Any] = {}
        statuses: dict[str, str] = {}
        errors: dict[str, str] = {}
        killed = False
        try:
            result = self.monitor.run(now=now, deadline=deadline)
        except Killed:
            killed = True
        else:
            summary = result.summary()
            statuses = {t.target_id: t.status.value for t in result.cycle.targets}
            statuses |= {p.url: p.status.value for p in result.cycle.providers}
            errors = {t.target_id: t.error for t in result.cycle.targets if t.error}
        ended = datetime.now(UTC)
        envelopes = self.seed.messages(self.topic, max_messages=500)
        run = CycleRun(
            number=len(self.runs),
            deadline=deadline,
            ended=ended,
            killed=killed,
            summary=summary,
            statuses=statuses,
            errors=errors,
            notices=[Notice.from_envelope(e) for e in envelopes],
            envelopes=[json.dumps(e) for e in envelopes],
        )
        self.runs.append(run)
        return run

    def state_items(self) -> list[dict[str, Any]]:
        """Every State item as stored (raw DynamoDB form)."""
        pages = self.aws.client("dynamodb").get_paginator("scan").paginate(TableName=self.state_table)
        return [item for page in pages for item in page.get("Items", [])]
