"""`webid-canary sandbox`: the embedded local AWS with sample targets, to try every command without an account."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click
from rich.console import Console

from webid_canary.cli.errors import OneLineCommand, OneLineError
from webid_canary.settings import sandbox_environment

# Variables of the caller's AWS set-up that would point a command away from the sandbox.
LEFT_OUT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@click.command(
    cls=OneLineCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--print-env", is_flag=True, help="Print the variables to export in another shell; run until Ctrl-C.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- COMMAND ...]")
def sandbox(print_env: bool, command: tuple[str, ...]) -> None:
    """Start the local AWS (moto with a strict STS), two OIDC issuers on 127.0.0.1 and four sample targets.

    Either run one command in it and stop (its exit status is the sandbox's):

        webid-canary sandbox -- webid-canary probe --all

    or print the environment for a second shell and keep running until Ctrl-C (--print-env, the default).
    Nothing leaves 127.0.0.1.
    """
    try:
        from webid_canary.local.sandbox import start_sandbox
    except ModuleNotFoundError as exc:
        raise OneLineError(
            f"sandbox: needs {exc.name} from the local extra: pip install 'webid-canary[cli,local]'"
        ) from exc

    if print_env and command:
        raise OneLineError("usage: give --print-env or a command after --, not both")
    err = Console(stderr=True, highlight=False)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="webid-canary-sandbox-") as tmp:
        with err.status("starting the sandbox") as status:
            world = start_sandbox(stack, Path(tmp), progress=status.update)
        err.print(
            f"sandbox ready: {len(world.target_ids)} targets ({', '.join(world.target_ids)}), "
            f"issuers {', '.join(world.issuers)}"
        )
        environment = sandbox_environment(world.environment, LEFT_OUT)
        # The CLI that started the sandbox is found first, installed or not.
        environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
        if command:
            try:
                completed = subprocess.run(list(command), env=environment, check=False)
            except OSError as exc:
                raise OneLineError(f"COMMAND: cannot run {command[0]}: {exc.strerror or exc}") from exc
            sys.exit(completed.returncode)
        for key, value in sorted(world.environment.items()):
            click.echo(f"export {key}={shlex.quote(value)}")
        err.print("[dim]paste these lines into another shell; Ctrl-C here stops the sandbox[/]")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            err.print("sandbox stopped")
