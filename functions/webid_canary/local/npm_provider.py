"""The npm `oidc-provider`, run with Node on 127.0.0.1 over HTTPS: a real third-party OpenID provider.

It issues JWT access tokens through the OAuth 2.0 client-credentials grant, the way a workload's own identity
provider would, so the strict STS and the probes meet tokens that this project did not shape itself.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path
from typing import Final, Self

from webid_canary.local.lifecycle import Running
from webid_canary.local.pki import Chain, Pki, thumbprint

PACKAGE: Final = "oidc-provider"
SCRIPT: Final = Path(__file__).with_name("oidc_provider.mjs")
DEFAULT_CLIENT_ID: Final = "webid-canary-probe"
DEFAULT_AUDIENCE: Final = "sts.amazonaws.com"
DEFAULT_RESOURCE: Final = "urn:webid-canary:sts"
DEFAULT_SCOPE: Final = "sts"
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 5.0
REQUEST_TIMEOUT: Final = 10.0
STDERR_LINES: Final = 40


class NpmProviderError(RuntimeError):
    """The npm OpenID provider could not be started or did not answer as expected."""


def repository_root() -> Path:
    """The checkout this package lives in (functions/webid_canary/local -> the root)."""
    return Path(__file__).resolve().parents[3]


def unavailable_reason(root: Path | None = None) -> str | None:
    """Why the npm provider cannot run here (no `node`, or node_modules without oidc-provider), else None."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    modules = (root or repository_root()) / "node_modules" / PACKAGE
    if not (modules / "package.json").is_file():
        return f"{PACKAGE} is not installed in {modules.parent} (run `npm ci`)"
    return None


class NpmOpenIdProvider(Running):
    """`oidc-provider` at https://127.0.0.1:PORT with one confidential client for the client-credentials grant."""

    def __init__(
        self,
        pki: Pki,
        *,
        root: Path | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        audience: str = DEFAULT_AUDIENCE,
        resource: str = DEFAULT_RESOURCE,
        scope: str = DEFAULT_SCOPE,
        token_seconds: int = 300,
        start_timeout: float = START_TIMEOUT,
        client_secret: str | None = None,
    ) -> None:
        self.pki = pki
        self.root = root or repository_root()
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(32)
        self.audience = audience
        self.resource = resource
        self.scope = scope
        self.token_seconds = token_seconds
        self.start_timeout = start_timeout
        self._chain: Chain = pki.new_chain(("127.0.0.1", "localhost"), label="npm OpenID provider")
        self._process: subprocess.Popen[str] | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._readers: list[threading.Thread] = []
        self._url: str | None = None

    # ----- life cycle
    def start(self) -> Self:
        """Start node, wait (bounded) for its ready line, and fail with node's stderr when it does not come."""
        if self._process is not None:
            return self
        reason = unavailable_reason(self.root)
        if reason is not None:
            raise NpmProviderError(reason)
        cert_path, key_path = self.pki.write(self._chain)
        settings = {
            "host": "127.0.0.1",
            "parent_pid": os.getpid(),
            "node_modules": str(self.root / "node_modules"),
            "cert_file": str(cert_path),
            "key_file": str(key_path),
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "audience": self.audience,
            "resource": self.resource,
            "scope": self.scope,
            "token_seconds": self.token_seconds,
        }
        node = shutil.which("node") or "node"
        process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=self.root,
            env={"NODE_PATH": str(self.root / "node_modules"), "PATH": str(Path(node).parent)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._process = process
        ready: dict[str, object] = {}
        got_line = threading.Event()

        def read_stdout() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if not got_line.is_set():
                    try:
                        ready.update(json.loads(line))
                    except ValueError:
                        self._stderr.append(line.rstrip())
                        continue
                    got_line.set()
            got_line.set()

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self._stderr.append(line.rstrip())

        self._readers = [
            threading.Thread(target=read_stdout, daemon=True),
            threading.Thread(target=read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps(settings))
            process.stdin.close()
            if not got_line.wait(self.start_timeout) or "issuer" not in ready:
                try:
                    status: int | None = process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    status = None
                self.stop()
                what = (
                    f"node exited with status {status}"
                    if status is not None
                    else f"oidc-provider did not report ready within {self.start_timeout:g} s"
                )
                raise NpmProviderError(what + self._stderr_tail())
        except OSError as exc:
            self.stop()
            raise NpmProviderError(f"node exited before reading its settings{self._stderr_tail()}") from exc
        finally:
            # node has read the key once it listens; the file is not needed after that.
            Path(key_path).unlink(missing_ok=True)
        self._url = str(ready["issuer"])
        return self

    def stop(self) -> None:
        """Terminate node (kill it when it does not exit in time) and close its pipes."""
        process = self._process
        self._process = None
        self._url = None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(STOP_TIMEOUT)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line]
        return (": node said:\n" + "\n".join(lines)) if lines else ""

    # ----- addresses and facts
    @property
    def url(self) -> str:
        """The issuer URL, as its tokens carry it in `iss`."""
        if self._url is None:
            raise NpmProviderError("the npm OpenID provider is not started")
        return self._url

    @property
    def provider_url(self) -> str:
        """The URL as IAM stores it: no scheme."""
        return self.url.removeprefix("https://")

    @property
    def ca_file(self) -> str:
        """PEM file of the roots the provider's chain leads to."""
        return str(self.pki.ca_file)

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the last certificate the provider presents (what IAM wants in its list)."""
        return thumbprint(self._chain.presented()[-1])

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/token"

    # ----- tokens
    def fetch_token(self, *, resource: str | None = None, scope: str | None = None) -> str:
        """An access token (a JWT) from the client-credentials grant, fetched over HTTPS."""
        form = {"grant_type": "client_credentials", "resource": resource or self.resource}
        if scope is not None:
            form["scope"] = scope
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}".encode()
        ).decode()
        request = urllib.request.Request(  # noqa: S310 (the https URL this provider reported)
            self.token_endpoint,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=context) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace")
            raise NpmProviderError(f"token endpoint answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise NpmProviderError(f"token endpoint unreachable: {exc}") from exc
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise NpmProviderError("token endpoint answered without an access_token")
        return token
