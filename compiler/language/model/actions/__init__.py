"""Actions in the language: shared fields, and the action table (one parameters model per ``type``).

Adding an action type: write ``compiler/language/model/actions/<type>.py`` (its parameters model and ``SPEC``) and
list it in ``ACTION_SPECS`` below; its ``execute`` goes to ``flows/actions/<type>.py`` and the runtime's
table under the same name.
"""

from __future__ import annotations

from typing import Any

from compiler.language.model.actions import (
    create_artifact,
    custom,
    execute_agent,
    execute_chain,
    http_request,
    log_message,
    send_notification,
    update_registry,
)
from compiler.language.model.actions.base import (
    ACTION_NAME_PATTERN,
    ActionBase,
    ActionParameters,
    ActionSpec,
    IdempotencyOptions,
    LogLevel,
    action_model,
)

__all__ = [
    "ACTION_NAME_PATTERN",
    "ACTION_SPECS",
    "ActionBase",
    "ActionParameters",
    "ActionSpec",
    "IdempotencyOptions",
    "LogLevel",
    "action_model",
]

# The order is the order of the discriminated union (and of the JSON Schema's oneOf).
ACTION_SPECS: dict[str, ActionSpec[Any]] = {
    module.SPEC.name: module.SPEC
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
