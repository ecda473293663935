"""Idempotency: a key per action and occurrence, and the Prefect cache policy on it (locks: ``flows.exactly_once.locks``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.transactions import IsolationLevel

from flows.exactly_once.locks import lock_manager
from flows.prefect_api.seam import InlineLocalFileSystem  # faster local result storage (benchmark P2)

__all__ = ["IdempotencyKeyPolicy", "InlineLocalFileSystem", "action_key", "policy_for", "result_storage"]


def action_key(automation: str, action_name: str, action_type: str, parameters: Any, occurrence: str) -> str:
    """A stable digest of everything that makes two executions "the same" (never contains secret values)."""
    material = json.dumps(
        {"a": automation, "n": action_name, "t": action_type, "p": parameters, "o": occurrence},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return f"{automation}-{action_name}-{hashlib.sha256(material.encode()).hexdigest()[:32]}"


@dataclass
class IdempotencyKeyPolicy(CachePolicy):
    """The key is computed by the engine and passed to the task as its ``cache_key`` argument."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        key = inputs.get("cache_key")
        return str(key) if key else None


def result_storage(folder: Path) -> InlineLocalFileSystem:
    return InlineLocalFileSystem(basepath=str(folder))


def policy_for(key_dir: Path | None, lock_dir: Path, hold_seconds: float, lock_url: str | None = None) -> CachePolicy:
    """Serializable isolation: two runs of one occurrence execute the action once; the other reads the result.

    ``key_dir`` None keeps cache records inside the task's result storage (a shared storage block).
    ``lock_url`` picks the lock backend (``flows.exactly_once.locks.lock_manager``): this machine's files, or Redis.
    """
    return IdempotencyKeyPolicy().configure(
        key_storage=result_storage(key_dir) if key_dir is not None else None,
        lock_manager=lock_manager(lock_url, lock_dir, hold_seconds),
        isolation_level=IsolationLevel.SERIALIZABLE,
    )
