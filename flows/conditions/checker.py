"""Condition checks inside a long-lived process (``serve``, the Python API's trigger engine): no flow runs.

Each group (one metrics source on one interval, see ``compiler/language/condition_groups.py``) is checked at every
multiple of its interval from the common anchor, and once at start for the current tick (a tick a previous
serve already checked has the same check id, so it starts no second run). A check that finds nothing creates
no flow run and no API write: the cost of 1,000 conditions is one document read per group and interval
plus their evaluation (benchmark P14).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client

from compiler.language.condition_groups import ConditionGroup, check_tick
from flows.conditions.checks import CheckReport, check_group

__all__ = ["ConditionChecker"]

log = logging.getLogger("platform_god.conditions")

_PARALLEL_CHECKS = 8  # groups checked at once (many HTTP sources fall due at the same tick)


@dataclass
class ConditionChecker:
    """Check ``groups`` on their intervals until stopped; ``on_report`` is told every check's report."""

    groups: Mapping[str, ConditionGroup]
    deployment_ids: Mapping[str, UUID]  # automation → its deployment: saves a read per run started
    on_report: Callable[[CheckReport], None] | None = None
    _states: dict[str, dict[str, str]] = field(default_factory=dict)  # group → member → state at its last check
    checks: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Check every group until ``stop`` is set (a check under way finishes first)."""
        if not self.groups:
            return
        gate = asyncio.Semaphore(_PARALLEL_CHECKS)
        async with get_client() as client:
            loops = [asyncio.create_task(self._loop(group, client, gate, stop), name=f"checks {name}") for name, group in self.groups.items()]
            try:
                await stop.wait()
            finally:
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    async def _loop(self, group: ConditionGroup, client: Any, gate: asyncio.Semaphore, stop: asyncio.Event) -> None:
        tick = check_tick(group.interval_seconds, datetime.now(UTC))
        while not stop.is_set():
            async with gate:
                await self.check(group, tick, client)
            tick = check_tick(group.interval_seconds, datetime.now(UTC)) + timedelta(seconds=group.interval_seconds)
            delay = (tick - datetime.now(UTC)).total_seconds()
            with contextlib.suppress(TimeoutError):  # the next tick is due
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))

    async def check(self, group: ConditionGroup, tick: datetime, client: Any) -> CheckReport | None:
        """One check of ``group`` for ``tick``; a failure is logged (the next tick tries again)."""
        try:
            report = await check_group(group, tick, client, deployment_ids=self.deployment_ids, previous=self._states.get(group.name))
        except Exception:  # an API or registry hiccup must not end the checks (logged with its traceback)
            log.warning("check of %s at %s failed; the next check is at the next interval", group.name, tick, exc_info=True)
            return None
        self._states[group.name] = {r.name: r.state for r in report.results}
        self.checks += 1
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:  # reporting must never stop checking
                log.warning("check report hook failed", exc_info=True)
        return report
