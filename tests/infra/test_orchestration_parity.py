"""The definition the organization tests run on moto is, character for character, the one the stack deploys."""

from __future__ import annotations

from infra import orchestration
from tests.infra.conftest import ORG_CONTEXT, Synthesis
from webid_canary.local.stepfunctions import definition_from_template


def test_the_template_carries_exactly_the_definition_the_local_state_machine_runs(org_synth: Synthesis) -> None:
    deployed = definition_from_template(org_synth.template)

    assert deployed == orchestration.definition_string(map_concurrency=int(ORG_CONTEXT["map_concurrency"]))
