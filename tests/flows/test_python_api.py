"""The runtime's Python API (``flows.execute_automation``): an automation named in the config folder runs now, against
the API the CLI would choose, and the spec's ``platform_god.automations.execute_automation`` is a view of the same call."""

from __future__ import annotations

import pytest

import flows
import platform_god.automations as spec
from tests.flows.e2e_support import Runtime

NOTE = """
name: {name}
trigger: {{type: event, event: {{event_type: custom, custom_type: never}}}}
actions:
  - {{type: log_message, name: note, parameters: {{message: "noted"}}}}
"""


def test_an_automation_named_in_the_config_folder_runs_now(runtime: Runtime, tag: str) -> None:
    name = runtime.write_automation(NOTE.format(name=f"api_{tag}"))
    run = flows.execute_automation(name)
    assert (run.completed, run.history.automation if run.history else None) == (True, name)


def test_an_unknown_name_is_refused_with_the_names_it_knows(runtime: Runtime, tag: str) -> None:
    runtime.write_automation(NOTE.format(name=f"api_{tag}"))
    with pytest.raises(KeyError, match=f"did you mean 'api_{tag}'"):
        flows.execute_automation(f"api_{tag}x")


def test_the_spec_api_answers_the_same_occurrence_from_the_runtime_run(runtime: Runtime, tag: str) -> None:
    """One occurrence run through the runtime's call, then through the spec's: the second is the first's cached answer."""
    name = runtime.write_automation(NOTE.format(name=f"api_{tag}"))
    flows.execute_automation(name, idempotency_key=f"k-{tag}")
    again = spec.execute_automation(name, idempotency_key=f"k-{tag}")
    assert [execution.status.value for execution in again.action_executions] == ["cached"]
