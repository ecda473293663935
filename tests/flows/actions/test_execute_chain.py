"""execute_chain end to end: a chain runs as a subflow and publishes chain_complete / chain_failed with
chain_name, status, completed_steps, total_steps and execution_time_ms (read back from the Prefect API)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.flows.actions._shared import automation
from tests.flows.agents.repo_builders import write_tree
from tests.flows.e2e_support import Runtime


async def _read_chain_events(api_url: str, event_name: str, chain: str, timeout: float = 20.0) -> list[Any]:
    """Events about ``platform-god.chain.<chain>`` from the server's /events/filter, polled until present."""
    from prefect.client.orchestration import PrefectClient
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    event_filter = EventFilter(
        event=EventNameFilter(name=[event_name]),
        resource=EventResourceFilter(id=[f"platform-god.chain.{chain}"]),
    )
    deadline = time.monotonic() + timeout
    async with PrefectClient(api_url) as client:
        while True:
            page = await client.read_events(filter=event_filter, limit=10)
            if page.events or time.monotonic() > deadline:
                return list(page.events)
            await asyncio.sleep(0.25)


@pytest.mark.parametrize(
    ("second_agent", "event_name", "status", "completed"),
    [
        ("PG_HEALTH", "platform-god.chain.completed", "completed", 2),
        ("PG_NOT_INSTALLED", "platform-god.chain.failed", "failed", 1),
    ],
)
def test_chain_publishes_its_outcome_event(
    runtime: Runtime, tag: str, tmp_path: Path, second_agent: str, event_name: str, status: str, completed: int
) -> None:
    repo = write_tree(tmp_path / "repo", {"README.md": "# r\n", "src/app.py": "x = 1\n"})
    chain = f"probe-{tag}"
    runtime.write_automation(
        automation(
            "chain_runner",
            f"""
            - type: execute_chain
              name: analyse
              parameters:
                repository_root: "{repo}"
                chain:
                  name: {chain}
                  steps:
                    - name: discovery
                      agent_name: PG_DISCOVERY
                    - name: second
                      agent_name: {second_agent}
              timeout_seconds: 120
            """,
        )
    )
    state = runtime.run("chain_runner")
    events = asyncio.run(_read_chain_events(runtime.api_url, event_name, chain))

    assert state.is_completed() == (status == "completed"), state.message
    assert len(events) == 1
    payload = events[0].payload
    assert {k: payload[k] for k in ("chain_name", "status", "completed_steps", "total_steps")} == {
        "chain_name": chain, "status": status, "completed_steps": completed, "total_steps": 2
    }
    assert isinstance(payload["execution_time_ms"], int) and payload["execution_time_ms"] > 0
    assert events[0].resource["platform-god.automation"] == "chain_runner"
