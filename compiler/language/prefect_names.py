"""Names build, deploy and the runtime share: our tag, entrypoints, event names and the labels triggers match, the cooldown limit, our automations.

The full table of events and labels is in ``flows/events/publish.py``, which publishes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AUTOMATIONS_MODULE",
    "AUTOMATION_LABEL",
    "AUTOMATION_PREFIX",
    "CONDITION_CHECKED_EVENT",
    "CONDITION_GROUP_LABEL",
    "COOLDOWN_LIMIT_PREFIX",
    "EVENT_NAMES",
    "FILTER_LABELS",
    "LABEL_PREFIX",
    "PLATFORM_TAG",
    "WATCHER_ENTRYPOINT",
    "WATCHER_FLOW_NAME",
    "cooldown_limit_name",
    "event_name",
    "is_our_automation",
    "is_ours",
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
# The condition group (compiler/language/condition_groups.py) a check's events are about.
CONDITION_GROUP_LABEL = f"{LABEL_PREFIX}.condition-group"
# One event per check of a condition group, whatever its outcome: every member's condition as checked and every
# value their JSONPaths matched, so `replay` can check a changed condition against the values of the past days.
# Built and read by flows/conditions/check_events.py (the payload's fields are listed there); resource label:
# CONDITION_GROUP_LABEL (AUTOMATION_LABEL on the previous release's one event per automation and check).
CONDITION_CHECKED_EVENT = f"{LABEL_PREFIX}.condition.checked"


def event_name(kind: str, custom_type: str | None = None) -> str:
    """The Prefect event name of an event kind (custom events are named after their custom type)."""
    if kind == "custom":
        if not custom_type:
            raise ValueError("custom events need a custom_type")
        return EVENT_NAMES["custom"] + custom_type
    return EVENT_NAMES[kind]


COOLDOWN_LIMIT_PREFIX = "automation-cooldown-"


def cooldown_limit_name(automation_name: str) -> str:
    """The global concurrency limit that enforces an automation's cooldown (build creates it, the gate takes it)."""
    return f"{COOLDOWN_LIMIT_PREFIX}{automation_name}"


# The Prefect flow that checks condition triggers (flows/conditions/watcher.py): one deployment per condition group
# (compiler/language/condition_groups.py), named after the group.
WATCHER_FLOW_NAME = "condition-watcher"


# The deployments' entrypoints: each automation's flow, and the condition watcher.
AUTOMATIONS_MODULE = "flows/automations.py"
WATCHER_ENTRYPOINT = "flows/conditions/watcher.py:condition_watcher"


def is_ours(deployment: Any) -> bool:
    """A deployment this project's deploy made (tagged platform-god, our entrypoints): what ``deploy --prune``
    and ``plan`` may remove."""
    entry = deployment.entrypoint or ""
    return PLATFORM_TAG in (deployment.tags or []) and (entry == WATCHER_ENTRYPOINT or entry.startswith(f"{AUTOMATIONS_MODULE}:"))


# The build's Prefect automations (the zombie-run detector: platform-god-crash-zombie-runs).
AUTOMATION_PREFIX = "platform-god-"


def is_our_automation(automation: Mapping[str, Any]) -> bool:
    """A Prefect automation from deployments/prefect_automations.json (named ``platform-god-…``, owned by no
    deployment): what ``deploy --prune`` may delete once the build no longer produces it."""
    owner = str(automation.get("owner_resource") or "")
    return str(automation.get("name", "")).startswith(AUTOMATION_PREFIX) and not owner.startswith("prefect.deployment.")
