"""A person installs the package the published way and runs the CLI, in a fresh virtual environment."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def pip_install(python: Path, requirement: str) -> None:
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", requirement], capture_output=True, text=True, timeout=900
    )
    assert installed.returncode == 0, installed.stderr[-2000:]


def test_pip_install_names_the_cli_extra_and_with_it_gives_a_working_command(tmp_path: Path) -> None:
    # A copy of what the package is built from, so that the build leaves nothing behind in the checkout.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "functions", source / "functions", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv.create(tmp_path / "venv", with_pip=True)
    python, cli = tmp_path / "venv" / "bin" / "python", tmp_path / "venv" / "bin" / "webid-canary"

    pip_install(python, str(source))
    bare = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)
    pip_install(python, f"{source}[cli]")
    full = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)

    assert bare.returncode == 2
    assert "pip install 'webid-canary[cli]'" in bare.stderr
    assert full.returncode == 0, full.stderr
    assert "sandbox" in full.stdout
    assert "Exit status, the same in every command" in full.stdout
