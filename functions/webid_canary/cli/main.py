"""Entry point of `webid-canary`. Sub-commands load lazily so that `explain` starts fast."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from webid_canary import __version__

# command name -> (module under webid_canary.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "explain": (
        "explain",
        "explain",
        "Predict what STS answers to one AssumeRoleWithWebIdentity request, and why.",
    ),
    "lint": ("explain", "lint", "Report risky shapes in a role's trust policy."),
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
    "cost": ("cost", "cost", "Estimate the monthly cost of the stack."),
    "demo": ("demo", "demo", "Run the whole story on the embedded local AWS."),
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="webid-canary")
def cli() -> None:
    """webid-canary: keep AWS web identity federation working and safe."""


def main() -> None:
    sys.exit(cli.main(prog_name="webid-canary", standalone_mode=True))
