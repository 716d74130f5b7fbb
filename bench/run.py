"""Run every benchmark in bench/ (each writes bench/results/<name>.json), then print a table of all figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name in ("run.py", "__init__.py"):
            continue
        print(f"== {script.stem}", flush=True)
        done = subprocess.run([sys.executable, "-P", str(script)], cwd=HERE.parent, check=False)
        if done.returncode != 0:
            failed.append(script.stem)
    rows = []
    for result in sorted(RESULTS.glob("*.json")):
        try:
            figures = json.loads(result.read_text())
        except ValueError:
            continue
        rows += [(result.stem, name, value) for name, value in figures.items()]
    width = max((len(f"{bench}.{name}") for bench, name, _ in rows), default=10)
    print(f"\n{'figure':<{width}}  value")
    for bench, name, value in rows:
        print(f"{bench + '.' + name:<{width}}  {value}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
