"""What openssl's own client says of a TLS server: the reference the thumbprint tests compare with."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess


def openssl_last_certificate_sha1(host: str, port: int) -> str:
    """SHA-1 of the last certificate `openssl s_client -showcerts` prints: AWS's thumbprint, computed by hand."""
    out = subprocess.run(
        ["openssl", "s_client", "-showcerts", "-connect", f"{host}:{port}"],
        input=b"",
        capture_output=True,
        timeout=20,
        check=False,
    ).stdout.decode()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", out, re.S)
    assert blocks, out[-500:]
    return hashlib.sha1(base64.b64decode("".join(blocks[-1].split()))).hexdigest()
