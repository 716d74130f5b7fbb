"""The command-line shell: parses arguments and renders; the logic lives in the service and the core."""

from __future__ import annotations

import sys

# The CLI's own dependencies (the `cli` extra), kept out of the Lambda.
CLI_EXTRAS = frozenset({"click", "rich", "yaml", "jinja2"})


def main() -> None:
    """The `webid-canary` console script: says which extra to install when the CLI's dependencies are missing."""
    try:
        from webid_canary.cli.main import main as run
    except ModuleNotFoundError as exc:
        if exc.name not in CLI_EXTRAS:
            raise
        print(
            f"error: the CLI needs {exc.name}: install it with its extra, pip install 'webid-canary[cli]' "
            "(or pipx install '.[cli]' from a checkout)",
            file=sys.stderr,
        )
        sys.exit(2)
    run()
