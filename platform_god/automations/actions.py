"""The spec's action executor: ``execute_automation`` runs an automation's Prefect flow now; the action table.

Each action of a run is a Prefect task with the action's retries, timeout and idempotency key (a
re-run of the same occurrence returns the stored results as ``cached``); the action types are the
rows of ``flows.actions.ACTION_TYPES`` and custom actions are registered with ``register_custom_action``.
"""

from __future__ import annotations

from typing import Any

from compiler.language.catalog import LoadedAutomation
from flows.actions import ACTION_TYPES
from flows.actions.custom import register_custom_action
from flows.python_api import execute_automation as run_now
from platform_god.automations.models import AutomationDefinition, AutomationRun
from platform_god.automations.registry import get_automation_registry

__all__ = [
    "ACTION_TYPES",
    "create_artifact",
    "custom",
    "execute_agent",
    "execute_automation",
    "execute_chain",
    "http_request",
    "log_message",
    "register_custom_action",
    "send_notification",
    "update_registry",
]

# The spec's action names: each is the row of the action table (parameters model + executor).
execute_agent = ACTION_TYPES["execute_agent"]
execute_chain = ACTION_TYPES["execute_chain"]
send_notification = ACTION_TYPES["send_notification"]
create_artifact = ACTION_TYPES["create_artifact"]
update_registry = ACTION_TYPES["update_registry"]
http_request = ACTION_TYPES["http_request"]
log_message = ACTION_TYPES["log_message"]
custom = ACTION_TYPES["custom"]


def _loaded(automation: AutomationDefinition | LoadedAutomation | str) -> LoadedAutomation:
    if isinstance(automation, AutomationDefinition):
        return automation.loaded
    if isinstance(automation, LoadedAutomation):
        return automation
    if isinstance(automation, str):
        found = get_automation_registry().get_by_name(automation)
        if found is None:
            known = ", ".join(get_automation_registry().names()) or "none"
            raise KeyError(f"no automation named '{automation}' (known: {known})")
        return found.loaded
    raise TypeError(f"execute_automation() takes an AutomationDefinition or a name, not {type(automation).__name__}")


def execute_automation(
    automation: AutomationDefinition | LoadedAutomation | str,
    context: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> AutomationRun:
    """Run the automation now, in this process, as a Prefect flow run; returns it when it has ended.

    ``flows.execute_automation`` (same API choice, same run) returning the spec's ``AutomationRun`` view.
    ``context`` gives its inputs (flow parameters); ``event`` runs it as that event would (a Prefect
    event or the short form ``{"event_type": ..., "payload": {...}}``); ``idempotency_key`` names the
    occurrence (the same key again returns stored results). Manual runs are not subject to the cooldown.
    """
    result = run_now(_loaded(automation), context, event, idempotency_key)
    assert result.history is not None  # the runtime always reads the run back
    return AutomationRun.from_history(result.history)
