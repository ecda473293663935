"""Helpers for tests that run flows in this process against the session's Prefect server (``prefect_server``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "ROOT",
    "example_names",
    "execute_flow_run",
    "forget_automations",
    "make_project",
    "project_runtime",
    "reset_cooldown",
    "runs_of_deployment",
    "using_api",
    "wait_for",
    "without_server_state_of",
]

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@contextmanager
def using_api(api_url: str) -> Iterator[None]:
    """Point this process's Prefect client at ``api_url`` (Prefect reads its settings once, at import)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            yield
        finally:
            # Send what the runs logged and emitted while the server is still up (not at interpreter exit).
            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)


def make_project(base: Path, extra_automations: dict[str, str] | None = None, *, examples: bool = True) -> Path:
    """A project folder: a copy of configs/ (+ extra automation files), and flows/ linked to the real runtime.

    ``examples=False`` leaves out the example automations (only ``extra_automations`` are deployed).
    """
    project = base / "project"
    if examples:
        shutil.copytree(ROOT / "configs" / "automations", project / "configs" / "automations")
    else:
        (project / "configs" / "automations").mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", project / "configs" / "chains")
    for name, body in (extra_automations or {}).items():
        (project / "configs" / "automations" / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    (project / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    return project


@contextmanager
def project_runtime(project: Path, state_dir: Path) -> Iterator[None]:
    """Run flows as a worker started in ``project`` would: its definitions, configs and a private state folder."""
    from compiler.language.settings import get_settings
    from flows.engine.definitions import catalog

    saved_cwd = os.getcwd()
    saved_env = {k: os.environ.get(k) for k in ("AUTOMATIONS_STATE_DIR", "AUTOMATIONS_CONFIG_DIR")}
    os.environ["AUTOMATIONS_STATE_DIR"] = str(state_dir)
    os.environ["AUTOMATIONS_CONFIG_DIR"] = str(project / "configs")
    os.chdir(project)
    get_settings.cache_clear()
    catalog.cache_clear()
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        catalog.cache_clear()


async def execute_flow_run(flow_run_id: Any) -> Any:
    """Execute a created (Scheduled) flow run here, with Prefect's engine, as a worker would; its final state."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    import flows.automations

    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        flow_name = (await client.read_flow(flow_run.flow_id)).name
    flow = getattr(flows.automations, flow_name)
    return await run_flow(flow, flow_run=flow_run, return_type="state")  # type: ignore[misc]


def example_names() -> list[str]:
    """Names of the shipped example automations (configs/automations/): the tests that copy them share them."""
    import yaml

    return sorted(yaml.safe_load(path.read_text(encoding="utf-8"))["name"] for path in (ROOT / "configs" / "automations").glob("*.yaml"))


async def forget_automations(names: list[str]) -> None:
    """Remove what runs of these automations left on the shared server: their deployments and condition
    watchers (with the runs still waiting in them and the triggers they own) and their cooldown limits.

    The test modules of a session share one server, and several deploy or serve the shipped examples under
    their shipped names. A deployment trigger left by one module keeps creating runs from matching events
    when nothing executes them; the next module that serves the same deployment then executed that stale
    run first, which took the cooldown slot and left its own run Skipped (issue 21, item 7). Deleting the
    deployment deletes its waiting runs (Prefect deletes a deleted deployment's Scheduled runs); the next
    run creates the cooldown limit again (flows/engine/admission.py).
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from compiler.language.prefect_names import WATCHER_FLOW_NAME, cooldown_limit_name, watcher_deployment_name

    async with get_client() as client:
        for name in names:
            for flow_name, deployment_name in ((name, name), (WATCHER_FLOW_NAME, watcher_deployment_name(name))):
                try:
                    deployment = await client.read_deployment_by_name(f"{flow_name}/{deployment_name}")
                except ObjectNotFound:
                    continue
                await client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
                await client.delete_deployment(deployment.id)
            with contextlib.suppress(ObjectNotFound):
                await client.delete_global_concurrency_limit_by_name(cooldown_limit_name(name))


@contextmanager
def without_server_state_of(api_url: str, names: list[str]) -> Iterator[None]:
    """A module's automations start with nothing of theirs on the shared server and leave nothing behind."""
    with using_api(api_url):
        asyncio.run(forget_automations(names))
    try:
        yield
    finally:
        with using_api(api_url):
            asyncio.run(forget_automations(names))


async def reset_cooldown(name: str) -> None:
    """Free the automation's cooldown slot (a previous test may have taken it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from flows.engine.admission import cooldown_limit_name

    async with get_client() as client:
        await client.update_global_concurrency_limit(cooldown_limit_name(name), GlobalConcurrencyLimitUpdate(active_slots=0))


async def runs_of_deployment(deployment_name: str) -> list[Any]:
    """Every flow run of ``flow/deployment``, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(deployment_name)
        runs: list[Any] = []
        while True:
            page = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < 200:
                return runs


async def wait_for(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, interval: float = 0.25) -> T:
    """Call ``probe`` until ``done(value)`` or the timeout; returns the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
