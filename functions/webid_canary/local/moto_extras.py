"""What moto 5.2 lacks or gets wrong that the local environment needs.

- IAM: adding and removing an OIDC provider's client IDs, as the IAM API reference has them
  (AddClientIDToOpenIDConnectProvider, RemoveClientIDFromOpenIDConnectProvider): adding an ID already present and
  removing one that is absent both succeed without change.
- EventBridge: moto hands every event to a scheduled rule too (its empty pattern matches everything) and then
  fails on the rule's Lambda target. In EventBridge a rule is either scheduled or matches events, never both
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rules.html), so scheduled rules are left out.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.events.models import Rule
from moto.iam.responses import IamResponse

_SEND_TO_TARGETS = Rule.send_to_targets


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


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    if self.scheduled_expression and not self.event_pattern.get_pattern():
        return  # a scheduled rule: events never reach it
    _SEND_TO_TARGETS(self, original_event, transform_input)


def install() -> None:
    """Add the missing operations to moto's IAM and keep events from scheduled rules (idempotent)."""
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    IamResponse.add_client_id_to_open_id_connect_provider = _add_client_id  # type: ignore[attr-defined]
    IamResponse.remove_client_id_from_open_id_connect_provider = _remove_client_id  # type: ignore[attr-defined]
