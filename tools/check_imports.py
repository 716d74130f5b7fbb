#!/usr/bin/env python3
"""Keep the import directions of the package honest.

- core/ is pure: standard library (and PyJWT's unverified decoding) only; no AWS SDK, no sockets, no
  environment, no clock; and nothing of ours outside core/.
- app/ (the application layer) imports core/ and itself: no adapter, no shell, no AWS SDK, no sockets.
- adapters/ implement the ports: they import core/, app/ports.py and each other, never the rest of app/ or a shell.
- The shells (handler.py, cli/) reach the world through the app layer and wiring.py, never through each other.
- Nothing the Lambda ships (everything but cli/ and local/) imports cli/ or local/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "functions" / "webid_canary"

CORE_BANNED = (
    "boto3",
    "botocore",
    "socket",
    "ssl",
    "http",
    "urllib.request",
    "requests",
    "os",
    "subprocess",
    "time",
    "aws_lambda_powertools",
    "moto",
    "click",
    "rich",
    "webid_canary.adapters",
    "webid_canary.local",
    "webid_canary.cli",
    "webid_canary.service",
    "webid_canary.handler",
    "webid_canary.settings",
)
CORE_BANNED_CALLS = ("datetime.now", "datetime.utcnow", "date.today", "time.time")
LAMBDA_BANNED = ("webid_canary.cli", "webid_canary.local", "click", "rich", "jinja2", "moto")
WORLD = ("boto3", "botocore", "socket", "ssl", "http", "urllib.request", "requests", "aws_lambda_powertools", "moto")
OURS = "webid_canary"
# area -> (prefixes of ours it may import, prefixes it may not import at all)
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core": (("webid_canary.core",), ()),
    "app": (("webid_canary.core", "webid_canary.app"), WORLD),
    "adapters": (
        (
            "webid_canary.core",
            "webid_canary.app.ports",
            "webid_canary.adapters",
            "webid_canary.names",
            "webid_canary.redaction",
        ),
        (),
    ),
    "handler": (("webid_canary.app", "webid_canary.adapters", "webid_canary.wiring", "webid_canary.names"), ()),
    "cli": (
        (
            "webid_canary.core",
            "webid_canary.app",
            "webid_canary.adapters",
            "webid_canary.wiring",
            "webid_canary.settings",
            "webid_canary.names",
            "webid_canary.cli",
            "webid_canary.local",
        ),
        (),
    ),
}


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def banned(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def main() -> int:
    problems: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent)
        parts = rel.with_suffix("").parts
        package = ".".join(parts[:-1])
        tree = ast.parse(path.read_text(), str(path))
        area = parts[1] if len(parts) > 2 else parts[-1]
        for lineno, name in imported_modules(tree, package):
            if area == "core" and banned(name, CORE_BANNED):
                problems.append(f"{rel}:{lineno}: core must stay pure, but imports {name}")
            if area in LAYERS:
                allowed, world = LAYERS[area]
                if banned(name, (OURS,)) and name != OURS and not banned(name, allowed):
                    problems.append(f"{rel}:{lineno}: {area} may not import {name} (see the layers above)")
                if banned(name, world):
                    problems.append(f"{rel}:{lineno}: {area} reaches the world directly through {name}")
            if area not in ("cli", "local") and banned(name, LAMBDA_BANNED):
                problems.append(f"{rel}:{lineno}: Lambda code imports {name}, which is not in the asset")
        if area == "core":
            source = path.read_text()
            for call in CORE_BANNED_CALLS:
                if call + "(" in source:
                    problems.append(f"{rel}: core must take time as an argument, but calls {call}()")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
