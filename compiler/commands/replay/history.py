"""The window's events and condition checks, indexed so each automation looks only at its candidate events.

Events are grouped by name, and by name + value of each label a trigger can filter on. An automation with an
exact (non-glob) filter reads only the events holding that value; the matcher (flows/events/matching.py) still
decides every candidate, so the index only narrows what it is asked about. Benchmark P11: 100,000 events ×
1,000 automations; without the index every automation would ask the matcher about every event (10⁸ calls).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from compiler.commands.replay.window import Window
from compiler.language.model.triggers import EventSpec
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, FILTER_LABELS, event_name
from flows.conditions.check_events import RecordedCheck, recorded_checks, recorded_document
from flows.events.matching import match_event, trigger_filters

__all__ = ["History"]

_GLOB = frozenset("*?[")
_LABELS = tuple(FILTER_LABELS.values())


def _occurred(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["occurred"]))


def _first_of_each(checks: list[RecordedCheck]) -> list[RecordedCheck]:
    """In time order, a check id once: two checkers of one tick (two `serve` processes, a retried watcher run) each
    record it, and the run it would start is one run (its idempotency key is the check id)."""
    seen: set[str] = set()
    kept = []
    for check in sorted(checks, key=lambda c: (c.occurred, c.check_id)):
        if check.check_id not in seen:
            seen.add(check.check_id)
            kept.append(check)
    return kept


@dataclass
class History:
    """What happened in ``window``: ``events`` oldest first (condition checks apart: one per member of each recorded
    group check, by automation)."""

    window: Window
    events: list[Mapping[str, Any]] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    checks: dict[str, list[RecordedCheck]] = field(default_factory=dict)
    _by_name: dict[str, list[int]] = field(default_factory=dict)
    _by_label: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    _documents: dict[int, dict[str, Any]] = field(default_factory=dict)  # by id() of the checks' recorded values
    _matching: dict[str, list[int]] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, window: Window, raw_events: Iterable[Mapping[str, Any]]) -> History:
        history = cls(window)
        timed: list[tuple[datetime, str, Mapping[str, Any]]] = []
        checks: dict[str, list[RecordedCheck]] = defaultdict(list)
        seen: set[str] = set()
        for event in raw_events:
            if str(event.get("id")) in seen:
                continue  # read twice (overlapping prefixes or slice boundaries)
            seen.add(str(event.get("id")))
            if event.get("event") == CONDITION_CHECKED_EVENT:
                for check in recorded_checks(event):
                    checks[check.automation].append(check)
                continue
            timed.append((_occurred(event), str(event.get("id")), event))
        timed.sort(key=lambda item: (item[0], item[1]))
        by_name: dict[str, list[int]] = defaultdict(list)
        by_label: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for index, (at, _, event) in enumerate(timed):
            history.events.append(event)
            history.times.append(at)
            name = str(event.get("event"))
            by_name[name].append(index)
            resource = event.get("resource") or {}
            for label in _LABELS:
                value = resource.get(label)
                if value is not None:
                    by_label[(name, label, str(value))].append(index)
        history._by_name, history._by_label = dict(by_name), dict(by_label)
        history.checks = {name: _first_of_each(found) for name, found in checks.items()}
        return history

    @property
    def check_count(self) -> int:
        return sum(len(found) for found in self.checks.values())

    def candidates(self, spec: EventSpec) -> list[int]:
        """Indexes (oldest first) of every event the trigger could match: a superset of what it matches."""
        pattern = event_name(spec.event_type, spec.custom_type)
        names = [n for n in self._by_name if fnmatchcase(n, pattern)] if _GLOB & set(pattern) else [pattern]
        exact = [(label, value) for label, value in trigger_filters(spec).items() if not _GLOB & set(value)]
        found: list[int] = []
        for name in names:
            lists = [self._by_label.get((name, label, value), []) for label, value in exact]
            shortest: list[int] = min(lists, key=len) if lists else self._by_name.get(name, [])
            found.extend(shortest)
        return sorted(found) if len(names) > 1 else found

    def matching(self, spec: EventSpec) -> list[int]:
        """Indexes (oldest first) of the events the trigger matches: the index narrows, the matcher decides.

        Kept per filter: automations listening to the same events share the answer (P11's 333 event automations
        have 14 distinct filters: 1.86 million matcher calls without it, 97 s of a 100 s evaluation profiled on
        the loaded 2-core machine).
        """
        key = json.dumps(spec.model_dump(exclude_none=True), sort_keys=True)
        if key not in self._matching:
            self._matching[key] = [i for i in self.candidates(spec) if match_event(spec, self.events[i])[0]]
        return self._matching[key]

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key for this history: what automations with the same trigger share."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def document(self, check: RecordedCheck) -> dict[str, Any]:
        """The metrics document a check's recorded values make: built once per recorded set of values, which the
        members of one group check reading the same metric path share."""
        key = id(check.matches)
        if key not in self._documents:
            self._documents[key] = recorded_document(check)
        return self._documents[key]
