"""The organization cycle's state machine run for real on moto, with the step handlers called in this process.

moto executes Amazon States Language when its `stepfunctions.execute_state_machine` setting is on (Task, Choice,
Map with an S3 ItemReader in DISTRIBUTED mode, Catch, Retry), and calls Lambda tasks through its own Lambda
backend, which needs Docker to run a function. Two small hooks make that work here, while a `LocalStateMachine`
is running:

- moto's `LambdaFunction.invoke` runs a function whose handler is one of this package's (`webid_canary.*`) in
  this process: the real handler, its event as Step Functions sent it, a `LocalContext` counting down the
  function's timeout, and the function's environment variables set for the call. Invocations run one at a time
  (one process has one environment and one stdout; the EMF lines each call prints are kept per invocation).
- moto's `AssumeRole` answers AccessDenied, as STS does, when the role does not exist or its trust policy does
  not name the caller's account (stock moto hands out credentials for any ARN). Only `Principal.AWS` account
  and ARN matching is modelled: no conditions, no external ids.

The definition is taken as text (what the synthesized template's DefinitionString carries), its `${...}`
placeholders filled with the moto functions' ARNs by `infra.orchestration.substitute`, exactly as
CloudFormation's DefinitionSubstitutions would. moto keeps a separate IAM per account behind AssumeRole and
runs Organizations (an organization, OUs, member accounts each with OrganizationAccountAccessRole); it does not
run StackSets' automatic deployment, so a test creates the reader role in each member account itself.

Not proven here: Lambda's concurrency and cold starts, the map's real parallelism (moto runs the iterations, and
this hook serialises the calls), IAM permissions of the functions' roles (moto does not enforce them), and
Step Functions' payload limits.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self
from unittest import mock

from moto.awslambda.models import LambdaFunction
from moto.core.config import default_user_config
from moto.sts.responses import TokenResponse

from webid_canary.adapters.iam import policy_text
from webid_canary.local.aws import DEFAULT_ACCOUNT, DEFAULT_REGION, MotoDirectory, StsErrorResponse
from webid_canary.local.lambda_runtime import LocalContext, environment
from webid_canary.local.strict_sts import StsRejectedError

ClientFactory = Callable[..., Any]

PACKAGE_PREFIX: Final = "webid_canary."
STEPS_ROLE: Final = "webid-canary-org-steps"
STATE_MACHINE_NAME: Final = "webid-canary-cycle"
FUNCTION_TIMEOUT_SECONDS: Final = 120
RUNTIME: Final = "python3.13"
# How often an execution's status is asked for while it runs.
POLL_SECONDS: Final = 0.05


@dataclass
class Invocation:
    """One call of a step handler: which function, the event, what it answered (or raised), its EMF lines."""

    function: str
    event: Any
    answer: Any = None
    error: str | None = None  # the traceback of what the handler raised
    stdout: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Execution:
    """A finished execution: its status, its output (parsed) and, when it failed, the error and cause."""

    arn: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


# ----- the hooks


_lock = threading.RLock()
_invoke_lock = threading.Lock()
_active: list[LocalStateMachine] = []
_originals: dict[str, Any] = {}


def _resolve(handler: str) -> Callable[[Any, Any], Any]:
    module, _, name = handler.rpartition(".")
    function: Callable[[Any, Any], Any] = getattr(importlib.import_module(module), name)
    return function


def _invoke_in_process(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    """moto's LambdaFunction.invoke, for this package's handlers: the real handler, here, one call at a time."""
    if not str(self.handler).startswith(PACKAGE_PREFIX) or not _active:
        original: Callable[..., str | bytes] = _originals["invoke"]
        return original(self, body, request_headers, response_headers)
    machine = _active[-1]
    event = json.loads(body) if body else {}
    record = Invocation(function=str(self.function_name), event=event)
    with _invoke_lock:
        context = LocalContext(str(self.account_id), timeout_seconds=float(self.timeout or FUNCTION_TIMEOUT_SECONDS))
        context.function_name = str(self.function_name)
        context.invoked_function_arn = str(self.function_arn)
        out = io.StringIO()
        began = time.monotonic()
        try:
            with environment(dict(self.environment_vars or {})), contextlib.redirect_stdout(out):
                record.answer = _resolve(str(self.handler))(event, context)
            payload = json.dumps(record.answer)
        except Exception as exc:
            # As Lambda reports an error the function raised: FunctionError "Unhandled", the type and message.
            record.error = traceback.format_exc()
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})
        record.stdout = out.getvalue().splitlines()
        record.seconds = time.monotonic() - began
    machine.invocations.append(record)
    return payload.encode()


def _trusted(trust_policy: str, caller_account: str) -> bool:
    """Whether an Allow of sts:AssumeRole names the caller's account (its root, the bare id, or any of its ARNs)."""
    try:
        document = json.loads(trust_policy)
    except ValueError:
        return False
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principals = statement.get("Principal", {})
        aws = principals.get("AWS", []) if isinstance(principals, dict) else principals
        aws = [aws] if isinstance(aws, str) else aws
        if any(p in ("*", caller_account) or f":{caller_account}:" in p for p in aws):
            return True
    return False


def _guarded_assume_role(self: TokenResponse) -> Any:
    """STS's AssumeRole refusal for a role that does not exist or does not trust the caller's account."""
    role_arn = str(self._get_param("RoleArn") or "")
    role = MotoDirectory().get_role(role_arn)
    if role is None or not _trusted(policy_text(role.trust_policy_document), str(self.current_account)):
        raise StsErrorResponse(
            StsRejectedError(
                "AccessDenied",
                f"User: arn:aws:sts::{self.current_account}:assumed-role/{STEPS_ROLE} is not authorized to perform: "
                f"sts:AssumeRole on resource: {role_arn}",
            )
        )
    original: Callable[[TokenResponse], Any] = _originals["assume_role"]
    return original(self)


def _install(machine: LocalStateMachine) -> None:
    with _lock:
        if not _active:
            _originals["invoke"] = LambdaFunction.invoke
            _originals["assume_role"] = TokenResponse.assume_role
            LambdaFunction.invoke = _invoke_in_process  # type: ignore[method-assign]
            TokenResponse.assume_role = _guarded_assume_role  # type: ignore[method-assign]
        _active.append(machine)


def _uninstall(machine: LocalStateMachine) -> None:
    with _lock:
        if machine in _active:
            _active.remove(machine)
        if not _active and _originals:
            LambdaFunction.invoke = _originals.pop("invoke")  # type: ignore[method-assign]
            TokenResponse.assume_role = _originals.pop("assume_role")  # type: ignore[method-assign]


# ----- the state machine


def definition_from_template(template: Mapping[str, Any]) -> str:
    """The DefinitionString of the one state machine of a synthesized template (placeholders unfilled)."""
    machines = [
        resource["Properties"]
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::StepFunctions::StateMachine"
    ]
    if len(machines) != 1:
        raise ValueError(f"expected one AWS::StepFunctions::StateMachine in the template, found {len(machines)}")
    definition = machines[0].get("DefinitionString")
    if not isinstance(definition, str):
        raise ValueError("the state machine's DefinitionString is not plain text")
    return definition


def _zip() -> bytes:
    """A function package moto accepts (the code is not used: the hook calls the installed package)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "# the handler runs in the local environment's process\n")
    return buffer.getvalue()


class LocalStateMachine:
    """The cycle's state machine in moto (inside a running `mock_aws`), its steps' functions run in-process.

    `definition` is the DefinitionString with its placeholders; `handlers` maps each placeholder to its handler
    (infra.orchestration.HANDLERS); `environment` is the functions' environment (they share one here)."""

    def __init__(
        self,
        client: ClientFactory,
        definition: str,
        handlers: Mapping[str, str],
        *,
        environment: Mapping[str, str],
        substitute: Callable[[str, dict[str, str]], str],
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        timeout_seconds: int = FUNCTION_TIMEOUT_SECONDS,
    ) -> None:
        self.client = client
        self.definition = definition
        self.handlers = dict(handlers)
        self.environment = dict(environment)
        self.substitute = substitute
        self.account = account
        self.region = region
        self.timeout_seconds = timeout_seconds
        self.invocations: list[Invocation] = []
        self.state_machine_arn: str | None = None
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        stack = contextlib.ExitStack()
        stack.enter_context(mock.patch.dict(default_user_config["stepfunctions"], {"execute_state_machine": True}))
        _install(self)
        stack.callback(_uninstall, self)
        self._stack = stack
        role_arn = self._role()
        arns = {
            placeholder: self._function(placeholder, handler, role_arn)
            for placeholder, handler in self.handlers.items()
        }
        answer = self.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=self.substitute(self.definition, arns),
            roleArn=role_arn,
            type="STANDARD",
        )
        self.state_machine_arn = str(answer["stateMachineArn"])
        return self

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def _role(self) -> str:
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        try:
            return str(iam.get_role(RoleName=STEPS_ROLE)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            return str(iam.create_role(RoleName=STEPS_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])

    def _function(self, placeholder: str, handler: str, role_arn: str) -> str:
        name = f"webid-canary-{placeholder.removesuffix('FunctionArn').lower()}"
        answer = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": _zip()},
            Timeout=self.timeout_seconds,
            Environment={"Variables": self.environment},
        )
        return str(answer["FunctionArn"])

    def run(self, name: str | None = None, *, execution_input: Any = None, timeout_seconds: float = 120) -> Execution:
        """Start one execution and wait until it ends (or `timeout_seconds` pass: then TimeoutError)."""
        sfn = self.client("stepfunctions")
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "input": json.dumps(execution_input or {})}
        # Step Functions names an execution with a UUID when none is given; moto leaves it empty.
        kwargs["name"] = name or str(uuid.uuid4())
        arn = str(sfn.start_execution(**kwargs)["executionArn"])
        ends = time.monotonic() + timeout_seconds
        while True:
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                output = described.get("output")
                return Execution(
                    arn=arn,
                    status=str(described["status"]),
                    output=json.loads(output) if output else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                )
            if time.monotonic() > ends:
                raise TimeoutError(f"execution {arn} still running after {timeout_seconds} s")
            time.sleep(POLL_SECONDS)

    def emf_lines(self, function_suffix: str | None = None) -> list[str]:
        """The EMF (and other) lines the handlers printed, of one function (by name suffix) or all."""
        return [
            line
            for record in self.invocations
            if function_suffix is None or record.function.endswith(function_suffix)
            for line in record.stdout
        ]
