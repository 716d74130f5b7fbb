"""The Lambda asset without Docker: the package plus third-party wheels for arm64, cached between synths."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "functions" / "webid_canary"
LOCK_FILE = ROOT / "requirements.lock"
CACHE_DIR = ROOT / ".asset-cache"

# What the function imports beyond the standard library; their dependencies follow from the lock.
ASSET_REQUIREMENTS = ("aws-lambda-powertools", "aws-xray-sdk", "pyjwt", "cryptography")
# The Lambda Python runtime ships boto3 and its dependencies: leaving them out keeps the asset small.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"})
# Kept out of the asset: the CLI and the local environment (they need click, rich, moto).
EXCLUDED_SUBPACKAGES = ("cli", "local")

# Staging folders of older package versions are removed once no synthesis can still be reading them.
STALE_STAGING_SECONDS = 3600

PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


class AssetBuildError(Exception):
    """The asset could not be built (a pin is missing or pip failed)."""


@dataclass(frozen=True)
class Asset:
    """A built asset: the directory to hand to Code.from_asset and the wheels it contains."""

    path: Path
    wheels: tuple[str, ...]


def canonical(name: str) -> str:
    """Normalise a distribution name as PEP 503 does, so lock lines and wheel names compare."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock_text: str) -> dict[str, str]:
    """Map each pinned distribution of the lock file to its version."""
    pins: dict[str, str] = {}
    for line in lock_text.splitlines():
        if match := _PIN.match(line.strip()):
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def wheels_key(pins: dict[str, str]) -> str:
    """Cache key of the third-party layer: the pinned versions, the platforms and the Python version."""
    text = "\n".join([PYTHON_VERSION, *PLATFORMS, *(f"{n}=={v}" for n, v in sorted(pins.items()))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pip_download(requirements: list[str], constraints: Path, into: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--constraint",
        str(constraints),
        "--dest",
        str(into),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetBuildError(f"pip download failed for the Lambda wheels: {last}")


def build_wheels(pins: dict[str, str], cache_dir: Path) -> Path:
    """Download the pinned wheels for Lambda arm64 and unpack them once into a cache directory."""
    target = cache_dir / f"wheels-{wheels_key(pins)}"
    if (target / ".complete").exists():
        return target
    missing = [name for name in ASSET_REQUIREMENTS if name not in pins]
    if missing:
        raise AssetBuildError(f"requirements.lock has no pin for {', '.join(missing)}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        work = Path(tmp)
        constraints = work / "constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
        downloads = work / "wheels"
        _pip_download([f"{name}=={pins[name]}" for name in ASSET_REQUIREMENTS], constraints, downloads)
        unpacked = work / "site"
        unpacked.mkdir()
        kept: list[str] = []
        for wheel in sorted(downloads.glob("*.whl")):
            if canonical(wheel.name.split("-")[0]) in RUNTIME_PROVIDED:
                continue
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(unpacked)
            kept.append(wheel.name)
        (unpacked / ".complete").write_text("".join(f"{name}\n" for name in kept))
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / ".complete").exists():
                raise
    return target


def _package_files(package_dir: Path) -> list[Path]:
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        if rel.parts[0] in EXCLUDED_SUBPACKAGES:
            continue
        files.append(path)
    return files


def source_key(package_dir: Path) -> str:
    """Hash of the package files that go into the asset, so an unchanged package reuses its staging dir."""
    digest = hashlib.sha256()
    for path in _package_files(package_dir):
        digest.update(str(path.relative_to(package_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def prune_staging(staging_root: Path, *, keep: Path) -> None:
    """Remove staging folders untouched for an hour, so edits to the package do not fill the disk."""
    cutoff = time.time() - STALE_STAGING_SECONDS
    for folder in staging_root.iterdir():
        if folder != keep and folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def build_asset(package_dir: Path = PACKAGE_DIR, lock_file: Path = LOCK_FILE, cache_dir: Path = CACHE_DIR) -> Asset:
    """Stage the function package (minus cli/ and local/) on top of the cached wheels; reuse it if unchanged."""
    pins = read_pins(lock_file.read_text())
    wheels = build_wheels(pins, cache_dir)
    wheel_names = tuple((wheels / ".complete").read_text().split())
    staging_root = cache_dir / "staging"
    target = staging_root / f"{wheels.name.removeprefix('wheels-')}-{source_key(package_dir)}"
    if (target / ".complete").exists():
        os.utime(target)
        return Asset(target, wheel_names)
    staging_root.mkdir(parents=True, exist_ok=True)
    prune_staging(staging_root, keep=target)
    with tempfile.TemporaryDirectory(dir=staging_root, prefix=".build-") as tmp:
        work = Path(tmp) / "asset"
        shutil.copytree(wheels, work, ignore=shutil.ignore_patterns(".complete"))
        for path in _package_files(package_dir):
            dest = work / package_dir.name / path.relative_to(package_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        (work / ".complete").write_text("".join(f"{name}\n" for name in wheel_names))
        try:
            work.rename(target)
        except OSError:
            if not (target / ".complete").exists():
                raise
    return Asset(target, wheel_names)
