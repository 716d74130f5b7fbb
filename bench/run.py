"""Run every benchmark in bench/ (each writes bench/results/<name>.json), then print one table of all figures.

`python bench/run.py` runs every bench/*.py but this one; `python bench/run.py explain issuers` runs those
only, and the table marks figures left from an earlier run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NOT_BENCHMARKS = {"run", "__init__"}


def scripts() -> dict[str, Path]:
    """Every benchmark script in bench/, by name."""
    return {path.stem: path for path in sorted(HERE.glob("*.py")) if path.stem not in NOT_BENCHMARKS}


def written() -> dict[Path, int]:
    """Each result file with its modification time, to tell what a script wrote."""
    return {path: path.stat().st_mtime_ns for path in RESULTS.glob("*.json")}


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """Nested figures as dotted names: {"calls": {"Scan": 3}} -> calls.Scan 3."""
    if isinstance(value, dict):
        return [row for key, inner in value.items() for row in flatten(f"{prefix}.{key}", inner)]
    return [(prefix, value)]


def run(name: str, script: Path) -> tuple[bool, set[Path]]:
    """Run one script from the repository root; whether it succeeded and which result files it wrote."""
    if name in sys.stdlib_module_names:
        print(f"error: bench/{script.name} shadows the standard library's `{name}`; rename it", flush=True)
        return False, set()
    print(f"== {name}", flush=True)
    before = written()
    done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
    after = written()
    fresh = {path for path, mtime in after.items() if before.get(path) != mtime}
    if done.returncode == 0 and not fresh:
        print(f"note: {name} wrote nothing under bench/results/", flush=True)
    return done.returncode == 0, fresh


def table(fresh: set[Path]) -> list[str]:
    """One line per figure of every result file; figures not written by this run are marked."""
    rows: list[tuple[str, str]] = []
    for result in sorted(RESULTS.glob("*.json")):
        try:
            figures = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rows.append((result.stem, "(unreadable)"))
            continue
        if not isinstance(figures, dict):
            rows.append((result.stem, "(not an object of figures)"))
            continue
        mark = "" if result in fresh else "  (earlier run)"
        for key, inner in figures.items():
            rows += [(name, f"{value}{mark}") for name, value in flatten(f"{result.stem}.{key}", inner)]
    width = max((len(name) for name, _ in rows), default=10)
    return [f"{'figure':<{width}}  value", *(f"{name:<{width}}  {value}" for name, value in rows)]


def main(argv: list[str]) -> int:
    available = scripts()
    unknown = [name for name in argv if name not in available]
    if unknown:
        print(f"error: no such benchmark: {', '.join(unknown)} (have: {', '.join(available)})")
        return 2
    failed: list[str] = []
    fresh: set[Path] = set()
    for name in argv or list(available):
        ok, wrote = run(name, available[name])
        fresh |= wrote
        if not ok:
            failed.append(name)
    print()
    print("\n".join(table(fresh)))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
