"""Entry point of `webid-canary`. Sub-commands load lazily so that `explain` starts fast."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import click
from botocore.exceptions import BotoCoreError, ClientError

from webid_canary import __version__, names, redaction
from webid_canary.app.ports import AwsError
from webid_canary.cli.errors import EXIT_INPUT, AwsFailureError, aws_words, botocore_failure, exit_status_text
from webid_canary.settings import use_aws

# command name -> (module under webid_canary.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "explain": (
        "explain",
        "explain",
        "Predict what STS answers to one AssumeRoleWithWebIdentity request, and why.",
    ),
    "lint": ("lint", "lint_command", "Report risky shapes in trust policies, templates and plans."),
    "thumbprint": (
        "providers",
        "thumbprint",
        "Show each issuer host's certificate chain and AWS thumbprint.",
    ),
    "drift": (
        "providers",
        "drift",
        "Compare IAM OIDC providers with their live issuers and the last baseline.",
    ),
    "register": ("targets", "register", "Register targets in the Targets table."),
    "list": ("targets", "list_targets", "List registered targets."),
    "show": ("targets", "show", "Show one registered target."),
    "remove": ("targets", "remove", "Remove a registered target."),
    "enable": ("targets", "enable", "Enable a target."),
    "disable": ("targets", "disable", "Disable a target."),
    "discover": ("targets", "discover", "Find roles that trust web identity providers and propose targets."),
    "probe": ("probe", "probe", "Run a cycle from this machine and print the report."),
    "report": (
        "report",
        "report",
        "Write the fleet as one HTML page or OCSF findings, from the State table or a probe file.",
    ),
    "trail": ("trail", "trail", "Explain the AssumeRoleWithWebIdentity calls CloudTrail logged, refusals first."),
    "cost": ("cost", "cost", "Estimate the monthly cost of the stack."),
    "demo": ("demo", "demo", "Run the whole story on the embedded local AWS."),
    "sandbox": ("sandbox", "sandbox", "Start a local AWS with sample targets to try every command in."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._module_exists(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attribute, _ = spec
        try:
            module = importlib.import_module(f"webid_canary.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"webid_canary.cli.{module_name}":
                return None
            raise
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    @staticmethod
    def _module_exists(name: str) -> bool:
        return importlib.util.find_spec(f"webid_canary.cli.{COMMANDS[name][0]}") is not None


EPILOG = (
    "\b\nExit status, the same in every command:\n"
    + exit_status_text()
    + (
        "\n\nGlobal options (--debug, --json, --region, --profile, --endpoint-url) may come before or after the "
        "command name."
    )
)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="webid-canary")
@click.option("--debug", is_flag=True, help="Show the product's log lines and full tracebacks on stderr.")
@click.option("--region", metavar="REGION", help="The AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's).")
@click.option("--profile", metavar="NAME", help="The AWS profile (else AWS_PROFILE, or the default chain).")
@click.option("--endpoint-url", metavar="URL", help="Send AWS calls to this endpoint (else AWS_ENDPOINT_URL).")
def cli(debug: bool, region: str | None, profile: str | None, endpoint_url: str | None) -> None:
    """webid-canary: keep AWS web identity federation working and safe."""
    configure_logging(debug)
    use_aws(region=region, profile=profile, endpoint_url=endpoint_url)


class OneLine(logging.Formatter):
    """Log records as one line on stderr: no traceback unless --debug."""

    def __init__(self, debug: bool) -> None:
        super().__init__("%(levelname)s: %(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        context = [f"{k}={v}" for k in ("target_id", "issuer", "role_arn") if (v := record.__dict__.get(k))]
        line = f"{record.levelname.lower()}: {record.getMessage()}" + (f" ({', '.join(context)})" if context else "")
        if record.exc_info and record.exc_info[1] is not None:
            if self.debug:
                return line + "\n" + self.formatException(record.exc_info)
            error = record.exc_info[1]
            line += f": {type(error).__name__}: {error}"
        return line


def configure_logging(debug: bool) -> None:
    """The CLI reports through its own output; the service's log lines show only as errors (or with --debug)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLine(debug))
    product = logging.getLogger(names.SERVICE_NAME)
    product.handlers[:] = [handler]
    product.setLevel(logging.DEBUG if debug else logging.ERROR)
    product.propagate = False
    redaction.install(handler)


# Options of the main command that a person may also write after the command name, and whether they take a value.
GLOBAL_OPTIONS: dict[str, bool] = {"--debug": False, "--region": True, "--profile": True, "--endpoint-url": True}
# Options of the commands that a person may also write before the command name.
COMMAND_OPTIONS = frozenset({"--json"})


def normalise(args: list[str]) -> list[str]:
    """Put global options before the command name and command options after it, wherever they were written.

    Nothing after `--` moves (what `sandbox --` runs is another command line)."""
    end = args.index("--") if "--" in args else len(args)
    head, tail = args[:end], args[end:]
    global_args: list[str] = []
    command_args: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(head):
        arg = head[index]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            global_args.append(arg)
            if GLOBAL_OPTIONS[name] and "=" not in arg and index + 1 < len(head):
                global_args.append(head[index + 1])
                index += 1
        elif arg in COMMAND_OPTIONS:
            command_args.append(arg)
        else:
            rest.append(arg)
        index += 1
    command_at = next((i for i, a in enumerate(rest) if a in COMMANDS), None)
    if command_at is None:
        return [*global_args, *rest, *command_args, *tail]
    return [*global_args, *rest[: command_at + 1], *command_args, *rest[command_at + 1 :], *tail]


def main() -> None:
    """Run the CLI; every error a person can meet ends in one line on stderr, never a traceback."""
    args = normalise(sys.argv[1:])
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="webid-canary", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except AwsFailureError as exc:
        if debug and exc.__cause__ is not None:
            raise
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        command = f"{ctx.info_name} " if ctx is not None and ctx.parent is not None else ""
        hint = f" (see 'webid-canary {command}--help')" if ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except AwsError as exc:
        if debug:
            raise
        click.echo(f"error: {aws_words(exc)}", err=True)
        sys.exit(EXIT_INPUT)
    except (BotoCoreError, ClientError) as exc:
        if debug:
            raise
        click.echo(f"error: {botocore_failure(exc).message}", err=True)
        sys.exit(EXIT_INPUT)
    sys.exit(code if isinstance(code, int) else 0)
