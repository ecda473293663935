"""Names build and the runtime share: our tag, event names and the labels triggers match, the cooldown limit.

The full table of events and labels is in ``flows/events.py``, which publishes them.
"""

from __future__ import annotations

__all__ = [
    "AUTOMATION_LABEL",
    "CONDITION_CHECKED_EVENT",
    "EVENT_NAMES",
    "FILTER_LABELS",
    "LABEL_PREFIX",
    "PLATFORM_TAG",
    "WATCHER_FLOW_NAME",
    "cooldown_limit_name",
    "event_name",
    "watcher_deployment_name",
]

# On every deployment, every flow run (deployment runs inherit it; manual runs get it from the runtime)
# and so on their events: the zombie-run automation and `deploy --prune` select our objects by it.
PLATFORM_TAG = "platform-god"

LABEL_PREFIX = "platform-god"
EVENT_NAMES: dict[str, str] = {
    "agent_complete": "platform-god.agent.completed",
    "agent_failed": "platform-god.agent.failed",
    "chain_complete": "platform-god.chain.completed",
    "chain_failed": "platform-god.chain.failed",
    "registry_update": "platform-god.registry.updated",
    "artifact_created": "platform-god.artifact.created",
    "custom": "platform-god.custom.",
}
# Trigger filter field (YAML) → resource label it matches.
FILTER_LABELS: dict[str, str] = {
    "agent_name": "platform-god.agent-name",
    "chain_name": "platform-god.chain-name",
    "custom_type": "platform-god.custom-type",
    "entity_type": "platform-god.entity-type",
    "artifact_type": "platform-god.artifact-type",
    "status": "platform-god.status",
}


# The automation an event is about (its publisher, or the automation whose condition was checked).
AUTOMATION_LABEL = f"{LABEL_PREFIX}.automation"
# One event per check of a condition trigger, whatever its outcome: the condition as checked and every value its
# JSONPath matched, so `replay` can check a changed condition against the values of the past days. Built and
# read by flows/condition_checks.py (the payload's fields are listed there); resource: AUTOMATION_LABEL.
CONDITION_CHECKED_EVENT = f"{LABEL_PREFIX}.condition.checked"


def event_name(kind: str, custom_type: str | None = None) -> str:
    """The Prefect event name of an event kind (custom events are named after their custom type)."""
    if kind == "custom":
        if not custom_type:
            raise ValueError("custom events need a custom_type")
        return EVENT_NAMES["custom"] + custom_type
    return EVENT_NAMES[kind]


def cooldown_limit_name(automation_name: str) -> str:
    """The global concurrency limit that enforces an automation's cooldown (build creates it, the gate takes it)."""
    return f"automation-cooldown-{automation_name}"


# The Prefect flow that checks condition triggers (flows/watcher.py), one deployment per condition automation.
WATCHER_FLOW_NAME = "condition-watcher"


def watcher_deployment_name(automation_name: str) -> str:
    """The watcher deployment of a condition automation, named so the UI and `prefect deployment ls` say
    what it is (``condition-watcher/health_alert-condition-watcher``) next to the automation's own
    deployment (``health_alert/health_alert``)."""
    return f"{automation_name}-{WATCHER_FLOW_NAME}"
