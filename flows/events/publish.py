"""Event publishing: Platform God events as Prefect events with stable names and resource labels.

Names (``event``) and the labels deployment triggers match on:

| kind             | Prefect event name                  | resource id                                  | labels                                   |
|------------------|-------------------------------------|----------------------------------------------|------------------------------------------|
| agent_complete   | platform-god.agent.completed        | platform-god.agent.<agent_name>              | platform-god.agent-name                  |
| agent_failed     | platform-god.agent.failed           | platform-god.agent.<agent_name>              | platform-god.agent-name                  |
| chain_complete   | platform-god.chain.completed        | platform-god.chain.<chain_name>              | platform-god.chain-name                  |
| chain_failed     | platform-god.chain.failed           | platform-god.chain.<chain_name>              | platform-god.chain-name                  |
| registry_update  | platform-god.registry.updated       | platform-god.registry.<entity_type>.<id>     | platform-god.entity-type, .entity-id     |
| artifact_created | platform-god.artifact.created       | platform-god.artifact.<artifact_type>        | platform-god.artifact-type               |
| custom           | platform-god.custom.<custom_type>   | platform-god.custom.<custom_type>            | platform-god.custom-type                 |

Every event also carries ``platform-god.status`` when it has a status, and ``platform-god.automation``
when an automation published it. The payload is the event data (for chains: chain_name, status,
completed_steps, total_steps, execution_time_ms).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.language.prefect_names import EVENT_NAMES, FILTER_LABELS, LABEL_PREFIX, event_name

__all__ = [
    "EVENT_NAMES",
    "FILTER_LABELS",
    "LABEL_PREFIX",
    "EventListener",
    "PublishedEvent",
    "agent_payload",
    "build_event",
    "event_name",
    "publish",
]

_RESOURCE_KEY = {
    "agent_complete": ("agent", "agent_name"),
    "agent_failed": ("agent", "agent_name"),
    "chain_complete": ("chain", "chain_name"),
    "chain_failed": ("chain", "chain_name"),
    "artifact_created": ("artifact", "artifact_type"),
    "custom": ("custom", "custom_type"),
}


@dataclass(frozen=True)
class PublishedEvent:
    """What was sent: the Prefect event name, resource and payload, and its id."""

    id: str
    event: str
    resource: dict[str, str]
    payload: dict[str, Any]


def build_event(kind: str, labels: Mapping[str, str], payload: Mapping[str, Any], automation: str | None = None) -> PublishedEvent:
    """Name, resource id and labels for an event of ``kind`` whose filter values are in ``labels``."""
    resource_labels = {FILTER_LABELS[k]: str(v) for k, v in labels.items() if k in FILTER_LABELS and v is not None}
    status = payload.get("status")
    if status is not None:
        resource_labels.setdefault(FILTER_LABELS["status"], str(status))
    if automation:
        resource_labels[f"{LABEL_PREFIX}.automation"] = automation
    if kind == "registry_update":
        resource_id = f"{LABEL_PREFIX}.registry.{labels['entity_type']}.{labels['entity_id']}"
        resource_labels[f"{LABEL_PREFIX}.entity-id"] = str(labels["entity_id"])
    else:
        noun, key = _RESOURCE_KEY[kind]
        resource_id = f"{LABEL_PREFIX}.{noun}.{labels[key]}"
    name = event_name(kind, labels.get("custom_type"))
    return PublishedEvent(
        id=str(uuid.uuid4()),
        event=name,
        resource={"prefect.resource.id": resource_id, **resource_labels},
        payload=dict(payload),
    )


def publish(kind: str, labels: Mapping[str, str], payload: Mapping[str, Any], automation: str | None = None) -> PublishedEvent:
    """Emit the event through Prefect (sent in the background over the events websocket)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); test, dry-run and `import platform_god.automations` load this module without publishing
    from prefect.events import emit_event

    built = build_event(kind, labels, payload, automation)
    emit_event(event=built.event, resource=built.resource, payload=built.payload, id=uuid.UUID(built.id))
    return built


class EventListener:
    """The spec's publishing API: one method per event kind.

    ``on_publish`` (optional) is called with every event this listener sent; the Python API's trigger
    engine uses it to wait, when it stops, for the runs its own events started.
    """

    def __init__(self, automation: str | None = None, on_publish: Callable[[PublishedEvent], None] | None = None) -> None:
        self.automation = automation
        self.on_publish = on_publish

    def _publish(self, kind: str, labels: Mapping[str, str], payload: Mapping[str, Any]) -> PublishedEvent:
        event = publish(kind, labels, payload, self.automation)
        if self.on_publish is not None:
            self.on_publish(event)
        return event

    def publish_agent_complete(self, agent_result: Any) -> PublishedEvent:
        data = agent_payload(agent_result)
        return self._publish("agent_complete", {"agent_name": data["agent_name"]}, data)

    def publish_agent_failed(self, agent_result: Any) -> PublishedEvent:
        data = agent_payload(agent_result)
        return self._publish("agent_failed", {"agent_name": data["agent_name"]}, data)

    def publish_chain_complete(
        self, chain_name: str, status: str, completed_steps: int, total_steps: int, execution_time_ms: int, **extra: Any
    ) -> PublishedEvent:
        payload = dict(chain_name=chain_name, status=status, completed_steps=completed_steps,
                       total_steps=total_steps, execution_time_ms=execution_time_ms, **extra)
        return self._publish("chain_complete", {"chain_name": chain_name}, payload)

    def publish_chain_failed(
        self, chain_name: str, status: str, completed_steps: int, total_steps: int, execution_time_ms: int, **extra: Any
    ) -> PublishedEvent:
        payload = dict(chain_name=chain_name, status=status, completed_steps=completed_steps,
                       total_steps=total_steps, execution_time_ms=execution_time_ms, **extra)
        return self._publish("chain_failed", {"chain_name": chain_name}, payload)

    def publish_registry_update(self, entity_type: str, entity_id: str, operation: str, **extra: Any) -> PublishedEvent:
        payload = dict(entity_type=entity_type, entity_id=entity_id, operation=operation, **extra)
        return self._publish("registry_update", {"entity_type": entity_type, "entity_id": entity_id}, payload)

    def publish_artifact_created(self, artifact_type: str, path: str, **extra: Any) -> PublishedEvent:
        payload = dict(artifact_type=artifact_type, path=path, **extra)
        return self._publish("artifact_created", {"artifact_type": artifact_type}, payload)

    def publish_custom(self, custom_type: str, metadata: Mapping[str, Any] | None = None) -> PublishedEvent:
        payload = {"custom_type": custom_type, **(metadata or {})}
        return self._publish("custom", {"custom_type": custom_type}, payload)


_AGENT_FIELDS = ("agent_name", "status", "summary", "data", "duration_ms", "metrics", "error")


def agent_payload(agent_result: Any) -> dict[str, Any]:
    """The payload of an agent event: from an ``AgentResult``, any object with its fields, or a mapping.

    Events carry the summary and metrics, not the agent's full data or findings: payloads stay small
    (the same shape the ``execute_agent`` action publishes).
    """
    if isinstance(agent_result, Mapping):
        fields = dict(agent_result)
    else:
        fields = {name: getattr(agent_result, name) for name in _AGENT_FIELDS if hasattr(agent_result, name)}
    if not fields.get("agent_name"):
        raise TypeError(
            f"agent_result needs an agent_name (an AgentResult, or an object or mapping with its fields "
            f"{', '.join(_AGENT_FIELDS)}); got {type(agent_result).__name__}"
        )
    data = fields.get("data")
    metrics = fields.get("metrics", data.get("metrics", {}) if isinstance(data, Mapping) else {})
    payload = {
        "agent_name": str(fields["agent_name"]),
        "status": fields.get("status", "completed"),
        "summary": fields.get("summary", ""),
        "duration_ms": fields.get("duration_ms", 0),
        "metrics": metrics,
    }
    if fields.get("error"):
        payload["error"] = str(fields["error"])
    return payload
