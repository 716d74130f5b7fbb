"""The Lambda asset as CDK packs it: arm64 wheels, no CLI or local environment, no boto3, imports on 3.13.

This machine cannot execute aarch64 code, so the compiled modules are checked by their ELF header and wheel
tags, and the import check runs with them blocked: everything pure-Python must import, and whatever fails
must fail only because it needs one of those compiled modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest

from infra.asset import RUNTIME_PROVIDED, build_asset, canonical, read_pins, source_key, wheels_key
from tests.infra.conftest import Synthesis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EM_AARCH64 = 183


def dist_infos(asset: Path) -> dict[str, Path]:
    found = {}
    for info in asset.glob("*.dist-info"):
        metadata = Parser().parsestr((info / "METADATA").read_text())
        found[canonical(metadata["Name"])] = info
    return found


def test_asset_holds_the_package_without_cli_local_or_the_runtime_sdk(default_synth: Synthesis) -> None:
    asset = default_synth.asset_path
    assert (asset / "webid_canary" / "names.py").is_file()
    assert (asset / "webid_canary" / "core" / "model.py").is_file()
    assert not (asset / "webid_canary" / "cli").exists()
    assert not (asset / "webid_canary" / "local").exists()
    for module in ("boto3", "botocore", "s3transfer", "moto", "click", "rich", "yaml"):
        assert not (asset / module).exists(), module
    assert not set(dist_infos(asset)) & RUNTIME_PROVIDED
    assert not list(asset.rglob("__pycache__"))


def test_asset_carries_the_pinned_third_party_versions(default_synth: Synthesis) -> None:
    pins = read_pins((ROOT / "requirements.lock").read_text())
    infos = dist_infos(default_synth.asset_path)
    for name in ("aws-lambda-powertools", "aws-xray-sdk", "pyjwt", "cryptography", "cffi", "wrapt"):
        version = Parser().parsestr((infos[name] / "METADATA").read_text())["Version"]
        assert version == pins[name], name


def test_every_compiled_module_is_aarch64_elf(default_synth: Synthesis) -> None:
    shared = list(default_synth.asset_path.rglob("*.so"))
    assert shared, "cryptography, cffi and wrapt ship compiled modules"
    for path in shared:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", path.name
        assert header[4] == 2, f"{path.name} is not 64-bit"
        assert int.from_bytes(header[18:20], "little") == EM_AARCH64, f"{path.name} is not aarch64"


def test_wheel_tags_fit_lambda_python_313_on_arm64(default_synth: Synthesis) -> None:
    for name, info in dist_infos(default_synth.asset_path).items():
        wheel = Parser().parsestr((info / "WHEEL").read_text())
        for tag in wheel.get_all("Tag") or []:
            python, abi, platform = tag.split("-")
            if platform == "any":
                continue
            assert platform.endswith("_aarch64"), f"{name}: {tag}"
            assert platform.startswith("manylinux"), f"{name}: {tag}"
            assert (python, abi) == ("cp313", "cp313") or abi == "abi3", f"{name}: {tag}"


IMPORT_CHECK = r"""
import importlib, importlib.abc, json, pkgutil, sys, traceback
asset, runtime = sys.argv[1], sys.argv[2]
assert sys.version_info[:2] == (3, 13), sys.version
sys.path[:0] = [asset, runtime]
blocked = set(json.loads(sys.argv[3]))

class NeedsBinaryError(ModuleNotFoundError):
    pass

class BlockCompiled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in blocked:
            raise NeedsBinaryError(f"{name} is compiled for aarch64", name=name)
        return None

sys.meta_path.insert(0, BlockCompiled())

def status(module):
    try:
        importlib.import_module(module)
        return "ok"
    except BaseException as exc:
        cause = exc
        while cause is not None:
            if isinstance(cause, NeedsBinaryError):
                return "needs-binary:" + cause.name
            cause = cause.__cause__ or cause.__context__
        return "error:" + "".join(traceback.format_exception_only(exc)).strip()

modules = ["aws_lambda_powertools.logging", "aws_lambda_powertools.metrics", "aws_lambda_powertools.tracing",
           "aws_xray_sdk.core", "jwt", "cryptography.x509"]
import webid_canary
modules += [m.name for m in pkgutil.walk_packages(webid_canary.__path__, "webid_canary.")]
print(json.dumps({m: status(m) for m in modules}))
"""


def compiled_module_names(asset: Path) -> list[str]:
    names = []
    for path in asset.rglob("*.so"):
        rel = path.relative_to(asset)
        names.append(".".join([*rel.parts[:-1], rel.name.split(".")[0]]))
    return names


def test_asset_imports_on_python_313_with_the_runtime_boto3(default_synth: Synthesis, tmp_path: Path) -> None:
    """Import every module of the asset as Lambda would, with boto3 and its dependencies from 'the runtime'."""
    import boto3

    site = Path(boto3.__file__).parent.parent
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for module in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"):
        (runtime / module).symlink_to(site / module)
    compiled = compiled_module_names(default_synth.asset_path)
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-E",
            "-s",
            "-c",
            IMPORT_CHECK,
            str(default_synth.asset_path),
            str(runtime),
            json.dumps(compiled),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    statuses: dict[str, str] = json.loads(result.stdout)
    errors = {m: s for m, s in statuses.items() if s.startswith("error:")}
    assert errors == {}
    for module in (
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
        "aws_lambda_powertools.tracing",
        "aws_xray_sdk.core",
        "jwt",
        "webid_canary.names",
        "webid_canary.core.model",
    ):
        assert statuses[module] == "ok", module
    # Only cryptography's Rust core is missing here; it is aarch64 and was checked by its ELF header above.
    assert statuses["cryptography.x509"].startswith("needs-binary:cryptography.hazmat.bindings._rust")


def test_wheels_are_cached_by_pins_and_the_package_is_restaged_when_it_changes(tmp_path: Path) -> None:
    pins = read_pins((ROOT / "requirements.lock").read_text())
    assert wheels_key(pins) == wheels_key(dict(pins))
    assert wheels_key({**pins, "pyjwt": "0.0.1"}) != wheels_key(pins)

    first = build_asset()
    assert build_asset().path == first.path
    package = tmp_path / "webid_canary"
    shutil.copytree(ROOT / "functions" / "webid_canary", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "extra_module.py").write_text('"""Changed."""\n')
    assert source_key(package) != source_key(ROOT / "functions" / "webid_canary")
    changed = build_asset(package_dir=package)
    assert changed.path != first.path
    assert changed.wheels == first.wheels
    assert (changed.path / "webid_canary" / "extra_module.py").is_file()
    shutil.rmtree(changed.path)
