"""The runtime's action table: the executor of every action type, by the ``type`` name used in YAML."""

from __future__ import annotations

from flows.actions import (
    create_artifact,
    custom,
    execute_agent,
    execute_chain,
    http_request,
    log_message,
    send_notification,
    update_registry,
)
from flows.actions.base import ActionContext, ActionError, ActionParameters, ActionType

__all__ = ["ACTION_TYPES", "ActionContext", "ActionError", "ActionParameters", "ActionType"]

# Adding an action type: its parameters model and SPEC in compiler/language/model/actions/<type>.py (listed in the
# language's ACTION_SPECS), its execute and ACTION = ActionType.of(SPEC, execute) in flows/actions/<type>.py,
# listed here. tests/flows/actions/test_action_table.py checks that both tables name the same types.
ACTION_TYPES: dict[str, ActionType] = {
    module.ACTION.name: module.ACTION
    for module in (
        execute_agent,
        execute_chain,
        send_notification,
        create_artifact,
        update_registry,
        http_request,
        log_message,
        custom,
    )
}
