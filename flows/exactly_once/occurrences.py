"""Completed occurrences: a record per occurrence whose every action finished, so a re-run answers at once.

A re-run of an occurrence (the same event id, scheduled time, condition check or idempotency key) would
find every action ``Cached`` anyway, but only after paying a task run, a lock and a result read per action
(benchmark P6: 0.58x of a first run). The record lets the flow answer before any task starts. It is written
only when every action completed, so a run killed half-way leaves none and its re-run executes the
remaining actions; it lives where the action results live (``AUTOMATIONS_RESULT_STORAGE`` when shared), so
every machine sees it.

No record is kept when re-running could legitimately execute something again: a manual run without an
idempotency key (each run is its own occurrence), an action with side effects whose idempotency is off or
keyed by its own template. It expires with the shortest ``idempotency.expire_seconds`` of the actions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.language.catalog import LoadedAutomation
from flows.actions import ACTION_TYPES
from flows.engine.run_context import Occurrence, RunInputs
from flows.exactly_once.result_storage import occurrence_storage

__all__ = ["CACHED", "CompletedOccurrence", "read_completed", "record_completed"]

# The state name of a run answered from its record, and the status of each action it lists.
CACHED = "Cached"

_FOLDER = "occurrences"


@dataclass(frozen=True)
class CompletedOccurrence:
    """What the first complete run stored: who ran it, when, its message and its per-action summary rows."""

    flow_run_id: str
    completed_at: float
    message: str
    actions: list[dict[str, Any]]

    def answer(self) -> tuple[str, list[dict[str, Any]]]:
        """What a re-run reports: its state message and the stored rows, each marked as answered from here."""
        message = f"occurrence already completed by run {self.flow_run_id}; nothing executed ({self.message})"
        return message, [row | {"status": CACHED, "from_record": True} for row in self.actions]


def _eligible(loaded: LoadedAutomation, occurrence: Occurrence) -> tuple[bool, float | None]:
    """(keep a record?, its lifetime in seconds or None for ever)."""
    if occurrence.key.startswith("run:"):
        return False, None
    lifetimes: list[float] = []
    for action in loaded.automation.actions:
        if not ACTION_TYPES[action.type].side_effects:
            continue
        if not action.idempotency.enabled or action.idempotency.key:
            return False, None
        if action.idempotency.expire_seconds:
            lifetimes.append(action.idempotency.expire_seconds)
    return True, min(lifetimes) if lifetimes else None


_DIGESTS: dict[int, tuple[Any, str]] = {}


def _definition_digest(loaded: LoadedAutomation) -> str:
    """Changes whenever the automation does, so an edited automation never answers from an old record."""
    cached = _DIGESTS.get(id(loaded.automation))
    if cached is None or cached[0] is not loaded.automation:
        digest = hashlib.sha256(loaded.automation.model_dump_json().encode()).hexdigest()
        cached = _DIGESTS[id(loaded.automation)] = (loaded.automation, digest)
    return cached[1]


def _record_path(loaded: LoadedAutomation, occurrence: Occurrence, run: RunInputs) -> str:
    material = json.dumps(
        {"o": occurrence.key, "d": _definition_digest(loaded), "i": dict(run.inputs)}, sort_keys=True, default=str
    )
    return f"{_FOLDER}/{loaded.automation.name}-{hashlib.sha256(material.encode()).hexdigest()[:40]}.json"


async def read_completed(loaded: LoadedAutomation, occurrence: Occurrence, run: RunInputs) -> CompletedOccurrence | None:
    """The stored outcome of this occurrence when it already completed (and the record has not expired)."""
    eligible, lifetime = _eligible(loaded, occurrence)
    if not eligible:
        return None
    storage = await occurrence_storage()
    try:
        data = json.loads(await storage.aread_path(_record_path(loaded, occurrence, run)))
        record = CompletedOccurrence(str(data["flow_run_id"]), float(data["completed_at"]), str(data["message"]), list(data["actions"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None  # none yet (missing reads as ValueError), or unreadable: run normally, which is always safe
    if lifetime is not None and time.time() - record.completed_at > lifetime:
        return None
    return record


async def record_completed(
    loaded: LoadedAutomation, occurrence: Occurrence, run: RunInputs, flow_run_id: str, message: str, actions: Sequence[Mapping[str, Any]]
) -> None:
    """Remember that every action of this occurrence completed (call only then)."""
    if not _eligible(loaded, occurrence)[0]:
        return
    storage = await occurrence_storage()
    body = {"flow_run_id": flow_run_id, "completed_at": time.time(), "message": message, "actions": [dict(a) for a in actions]}
    await storage.awrite_path(_record_path(loaded, occurrence, run), json.dumps(body, default=str).encode())
