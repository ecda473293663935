"""Condition automations grouped by what a check reads: one metrics source on one interval is one group.

A group's check reads its document once and evaluates every member's condition on it (issue 20: 333
condition automations on one source cost ~140 watcher runs a minute when each had its own). The group's
name is the same wherever checks run (``serve``'s in-process checker, the group's watcher deployment on
workers), and so is the check id of one tick, which makes the run a check starts idempotent across them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from compiler.language.model.automation import Automation
from compiler.language.model.triggers import ConditionSpec, MetricsSource

__all__ = [
    "CHECK_ANCHOR",
    "GROUPS_INDEX_PATH",
    "ConditionGroup",
    "GroupMember",
    "check_id",
    "check_tick",
    "condition_groups",
    "group_name",
    "groups_index",
    "members_from_index",
    "source_label",
]

# Checks fall on multiples of their interval from this instant (the watcher schedules' anchor since before
# batching), so every checker of a group agrees on the ticks, and `serve` can say when the next check is.
CHECK_ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)
# Written by `build` next to the definitions; watcher runs on workers read their group's members from it.
GROUPS_INDEX_PATH = Path("deployments/condition_groups.json")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class GroupMember:
    """What a check needs of one automation: its name, condition and cooldown."""

    name: str
    condition: ConditionSpec
    cooldown_seconds: int


@dataclass(frozen=True)
class ConditionGroup:
    """The enabled condition automations reading ``source`` every ``interval_seconds``."""

    name: str
    source: MetricsSource
    interval_seconds: int
    members: tuple[GroupMember, ...]


def _slug(text: str, limit: int = 24) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-") or "x"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def group_name(source: MetricsSource, interval_seconds: int) -> str:
    """``registry-every-60s``, ``file-metrics-json-1a2b3c4d-every-300s``, ``http-metrics-internal-…-every-60s``:
    readable, unique per (source, interval), and a valid Prefect deployment name."""
    if source.type == "registry":
        return f"registry-every-{interval_seconds}s"
    if source.type == "file":
        location = source.path or ""
        readable = location.replace("\\", "/").rsplit("/", 1)[-1]
    else:
        location = source.url or ""
        readable = urlsplit(location).hostname or "url"
    return f"{source.type}-{_slug(readable)}-{_digest(location)}-every-{interval_seconds}s"


def source_label(source: MetricsSource) -> str:
    """The source as people read it: ``the registry``, ``file metrics.json``, ``http://…``."""
    if source.type == "registry":
        return "the registry"
    return f"file {source.path}" if source.type == "file" else str(source.url)


def condition_groups(automations: Iterable[Automation]) -> dict[str, ConditionGroup]:
    """The groups of the enabled condition automations among ``automations``, by name; members by name."""
    found: dict[str, tuple[MetricsSource, int, list[GroupMember]]] = {}
    for automation in automations:
        trigger = automation.trigger
        if automation.status != "enabled" or trigger.type != "condition":
            continue
        spec = trigger.condition
        name = group_name(spec.source, spec.check_interval_seconds)
        entry = found.setdefault(name, (spec.source, spec.check_interval_seconds, []))
        entry[2].append(GroupMember(automation.name, spec, trigger.cooldown_seconds))
    return {
        name: ConditionGroup(name, source, interval, tuple(sorted(members, key=lambda m: m.name)))
        for name, (source, interval, members) in sorted(found.items())
    }


def groups_index(groups: dict[str, ConditionGroup]) -> dict[str, Any]:
    """``deployments/condition_groups.json``: each group's source, interval and members' conditions, so a
    watcher run on a worker reads one file instead of every member's definition."""
    return {
        name: {
            "source": group.source.model_dump(mode="json", exclude_none=True),
            "interval_seconds": group.interval_seconds,
            "automations": {
                m.name: {"condition": m.condition.model_dump(mode="json", exclude_none=True), "cooldown_seconds": m.cooldown_seconds}
                for m in group.members
            },
        }
        for name, group in groups.items()
    }


def members_from_index(name: str, data: dict[str, Any]) -> ConditionGroup:
    """One group read back from :func:`groups_index`'s data (validated like the files it came from)."""
    entry = data[name]
    members = tuple(
        GroupMember(member, ConditionSpec.model_validate(item["condition"]), int(item["cooldown_seconds"]))
        for member, item in sorted(entry["automations"].items())
    )
    return ConditionGroup(name, MetricsSource.model_validate(entry["source"]), int(entry["interval_seconds"]), members)


def check_tick(interval_seconds: int, at: datetime) -> datetime:
    """The check time ``at`` belongs to: the latest multiple of the interval from :data:`CHECK_ANCHOR` not after it."""
    steps = int((at - CHECK_ANCHOR).total_seconds() // interval_seconds)
    return CHECK_ANCHOR + timedelta(seconds=steps * interval_seconds)


def check_id(group: str, tick: datetime) -> str:
    """One check of one group: ``registry-every-60s@2026-12-08T10:01:00Z``. A second checker of the same tick
    (another serve, a watcher run) gets the same id, so the automation run it would start is the same run."""
    return f"{group}@{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
