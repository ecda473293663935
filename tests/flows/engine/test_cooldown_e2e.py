"""The cooldown gate on a real Prefect server, whatever created (or did not create) its concurrency limit.

Plain `prefect deploy --all` creates no limits, an operator may delete one, a cooldown may change in YAML
after its limit was made: each case must still let exactly one run through per cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from tests.flows.e2e_support import Runtime


def _automation(name: str, url: str, cooldown: int = 600) -> str:
    return f"""
name: {name}
trigger:
  type: event
  event: {{event_type: custom, custom_type: {name}}}
  cooldown_seconds: {cooldown}
actions:
  - type: http_request
    name: call
    parameters: {{url: "{url}"}}
"""


def _event(name: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event": f"platform-god.custom.{name}",
        "occurred": "2026-01-01T00:00:00+00:00",
        "resource": {"prefect.resource.id": f"platform-god.custom.{name}", "platform-god.custom-type": name},
        "payload": {},
    }


async def _read_limit(name: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.engine.admission import cooldown_limit_name

    async with get_client() as client:
        try:
            return await client.read_global_concurrency_limit_by_name(cooldown_limit_name(name))
        except ObjectNotFound:
            return None


async def _delete_limit(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.engine.admission import cooldown_limit_name

    async with get_client() as client:
        with contextlib.suppress(ObjectNotFound):
            await client.delete_global_concurrency_limit_by_name(cooldown_limit_name(name))


def _forget_verified_limits() -> None:
    """A new process (a worker's run) knows nothing of earlier runs' checks; model that between runs."""
    from flows.engine import admission as gates

    gates._VERIFIED_LIMITS.clear()


@pytest.fixture
def name(runtime: Runtime, tag: str) -> str:
    automation = f"cool_{tag}"
    runtime.write_automation(_automation(automation, f"{runtime.server.url}/hit/{tag}"))
    asyncio.run(_delete_limit(automation))
    _forget_verified_limits()
    return automation


def _outcomes(states: list[Any]) -> list[str]:
    return sorted(s.name for s in states)


def test_no_limit_on_the_server_still_means_one_run_per_cooldown(runtime: Runtime, tag: str, name: str) -> None:
    first = runtime.run(name, event=_event(name))
    _forget_verified_limits()
    second = runtime.run(name, event=_event(name))

    assert (first.name, second.name) == ("Completed", "Skipped"), (first.message, second.message)
    assert "in cooldown (600s" in second.message
    assert len(runtime.server.requests(f"/hit/{tag}")) == 1


def test_two_first_runs_at_once_execute_once(runtime: Runtime, tag: str, name: str) -> None:
    from flows.engine.flow_factory import build_flow

    flow = build_flow(runtime.loaded(name))

    async def both() -> list[Any]:
        return list(await asyncio.gather(*(flow(return_state=True, event=_event(name)) for _ in range(2))))

    states = asyncio.run(both())

    assert _outcomes(states) == ["Completed", "Skipped"], [s.message for s in states]
    assert len(runtime.server.requests(f"/hit/{tag}")) == 1


def test_a_deleted_limit_is_created_again(runtime: Runtime, tag: str, name: str) -> None:
    runtime.run(name, event=_event(name))
    asyncio.run(_delete_limit(name))
    _forget_verified_limits()

    again = runtime.run(name, event=_event(name))
    _forget_verified_limits()
    third = runtime.run(name, event=_event(name))

    assert (again.name, third.name) == ("Completed", "Skipped")
    assert asyncio.run(_read_limit(name)) is not None


def test_a_changed_cooldown_updates_the_limit_decay(runtime: Runtime, tag: str, name: str) -> None:
    runtime.run(name, event=_event(name))
    runtime.write_automation(_automation(name, f"{runtime.server.url}/hit/{tag}", cooldown=1200))
    _forget_verified_limits()

    state = runtime.run(name, event=_event(name))
    limit = asyncio.run(_read_limit(name))

    assert state.name == "Skipped"
    assert limit.slot_decay_per_second == pytest.approx(1 / 1200)
