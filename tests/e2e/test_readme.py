"""Every README command annotated with its exit status runs as printed and exits as documented.

Commands that need AWS run in the sandbox (the embedded local AWS with its sample targets); nothing leaves
127.0.0.1. Commands without an `# exit N` annotation need a real account or a file of your own and are not run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "webid-canary"
ANNOTATED = re.compile(r"^(?P<command>webid-canary .+?)\s+# exit (?P<status>\d)\b")

pytestmark = pytest.mark.slow


def documented_commands() -> list[tuple[str, int]]:
    """(command, exit status) for each annotated command of the README's bash blocks, continuations joined."""
    commands: list[tuple[str, int]] = []
    for block in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if match := ANNOTATED.match(" ".join(line.split())):
                commands.append((match["command"], int(match["status"])))
    return commands


def test_the_readme_documents_the_sandbox_and_every_table_command() -> None:
    words = {command.split()[1] for command, _ in documented_commands()}
    assert {"sandbox", "list", "show", "probe", "drift", "discover", "register", "remove", "enable", "disable"} <= words


def test_every_annotated_readme_command_exits_as_documented(tmp_path: Path) -> None:
    commands = documented_commands()
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    env = {"PATH": f"{CLI.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    script = "\n".join(
        f"( {command} ) > out-{index}.txt 2>&1; echo $? > status-{index}.txt"
        for index, (command, _) in enumerate(commands)
        if not command.startswith("webid-canary sandbox")
    )
    subprocess.run([str(CLI), "sandbox", "--", "bash", "-c", script], cwd=tmp_path, env=env, timeout=600, check=False)
    for index, (command, status) in enumerate(commands):
        if command.startswith("webid-canary sandbox"):
            ran = subprocess.run(
                command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            exited, said = ran.returncode, ran.stderr
        else:
            exited = int((tmp_path / f"status-{index}.txt").read_text())
            said = (tmp_path / f"out-{index}.txt").read_text()
        assert exited == status, (command, said[-1500:])
