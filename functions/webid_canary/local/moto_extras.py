"""IAM operations moto 5.2 lacks but the local environment needs: adding and removing an OIDC provider's client IDs.

They follow the IAM API reference (AddClientIDToOpenIDConnectProvider, RemoveClientIDFromOpenIDConnectProvider):
adding an ID already present and removing one that is absent both succeed without change.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.responses import IamResponse


def _add_client_id(self: Any) -> ActionResult:
    provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
    client_id = self._get_param("ClientID")
    if client_id not in provider.client_id_list:
        provider.client_id_list.append(client_id)
    return EmptyResult()


def _remove_client_id(self: Any) -> ActionResult:
    provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
    client_id = self._get_param("ClientID")
    provider.client_id_list = [c for c in provider.client_id_list if c != client_id]
    return EmptyResult()


def install() -> None:
    """Add the missing operations to moto's IAM (idempotent; moto dispatches by operation name)."""
    IamResponse.add_client_id_to_open_id_connect_provider = _add_client_id  # type: ignore[attr-defined]
    IamResponse.remove_client_id_from_open_id_connect_provider = _remove_client_id  # type: ignore[attr-defined]
