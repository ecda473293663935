"""``deploy`` applies the plan: only the deployments, cooldown limits and Prefect automations that differ from the server.

The server reads are the plan's (paginated bulk reads); the writes go through Prefect's client with at most
``concurrency`` under way at once. Deployments are written as `prefect deploy --all` writes them
(:mod:`compiler.commands.plan.prefect_deploy`), so either leaves the same server state and `plan` exits 0 after both.

What a failure leaves (one line per failed object, the others go on, and deploy exits 1; a write a busy
server refused with 503 after the client's own retries is tried once more, alone, after the others):

- every changed deployment is prepared and validated (flow, schedules, triggers as Prefect automations)
  before anything is written; one that fails there is not touched;
- a deployment created by this deploy whose trigger automations the server then refuses is deleted again
  (with the automations written so far): it is absent, never half there;
- an existing deployment whose update fails partway keeps what was written (Prefect replaces its trigger
  automations after the update): `plan` shows what is still different and the next deploy applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from compiler.commands.build import CONCURRENCY_LIMITS_PATH, PREFECT_AUTOMATIONS_PATH, PREFECT_YAML_PATH, parsed_prefect_yaml
from compiler.commands.plan.desired import DesiredState, desired_from_outputs, environment
from compiler.commands.plan.diff import Change, Plan, compute_plan
from compiler.commands.plan.flow_facts import FlowCatalog
from compiler.commands.plan.observed import ObservedState, read_server
from compiler.commands.plan.prefect_deploy import FlowIds, PreparedDeployment, create, prepare
from compiler.commands.plan.prefect_deploy import write as write_deployment
from compiler.language.deploy_config import BuildOptions, deploy_environment
from compiler.language.prefect_names import PLATFORM_TAG

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["DEFAULT_CONCURRENCY", "ApplyReport", "apply_outputs"]

# Writes under way at once. A SQLite server serialises writes anyway; more than a few only queue up in
# "database is locked" retries (benchmark P12).
DEFAULT_CONCURRENCY = 4
_KINDS = ("deployment", "concurrency limit", "automation")


@dataclass
class ApplyReport:
    """What one apply did, by kind: names created, updated, deleted; how many were unchanged; one line per failure."""

    created: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)
    updated: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        """``+ deployment a/a`` per object written, then one summary line per kind."""
        lines = [f"{sign} {kind} {name}" for sign, done in (("+", self.created), ("~", self.updated), ("-", self.deleted)) for kind, name in done]
        lines.extend(f"failed: {line}" for line in self.failed)
        for kind in _KINDS:
            counts = [sum(1 for k, _ in done if k == kind) for done in (self.created, self.updated, self.deleted)]
            lines.append(
                f"{kind}s: {counts[0]} created, {counts[1]} updated, {counts[2]} deleted, {self.unchanged.get(kind, 0)} unchanged"
                + (f", {sum(1 for line in self.failed if line.startswith(kind + ' '))} failed" if self.failed else "")
            )
        return lines


def _server_fields(change: Change) -> bool:
    """Whether a deployment change needs a write: the compiled definition lives in the project folder, not on the server."""
    return change.action != "change" or any(not f.path.startswith("definition") for f in change.fields)


class _Writer:
    """Runs the writes with bounded concurrency and records what happened."""

    def __init__(self, client: PrefectClient, concurrency: int, report: ApplyReport, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.client = client
        self.report = report
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._progress = progress
        self._total = total
        self._done = 0

    async def run(self, kind: str, name: str, action: str, write: Callable[[], Awaitable[Any]], *, last_try: bool = False) -> None:
        async with self._gate:
            try:
                await write()
            except Exception as exc:  # noqa: BLE001 - one object's failure is reported; the others go on
                if not last_try and _busy(exc):
                    self._busy.append((kind, name, action, write))
                    return
                self.report.failed.append(f"{kind} {name}: {_reason(exc)}")
            else:
                {"add": self.report.created, "change": self.report.updated, "remove": self.report.deleted}[action].append((kind, name))
            self._done += 1
            if self._progress is not None:
                self._progress(self._done, self._total)

    async def run_all(self, writes: list[tuple[str, str, str, Callable[[], Awaitable[Any]]]]) -> None:
        """Every write, side by side; those a busy server refused even after the client's retries (SQLite's
        "database is locked" as 503: 1 of 1,307 in each first deploy of benchmark P12 on a loaded machine)
        are tried once more, one at a time, after the others."""
        self._busy: list[tuple[str, str, str, Callable[[], Awaitable[Any]]]] = []
        await asyncio.gather(*(self.run(*write) for write in writes))
        for kind, name, action, write in self._busy:
            await self.run(kind, name, action, write, last_try=True)


def _busy(exc: BaseException) -> bool:
    """A refusal worth one more try later: the server was busy (503) or did not answer."""
    # deferred: httpx and Prefect cost ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses them
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code == 503
    return isinstance(exc, httpx.TransportError)


def _reason(exc: BaseException) -> str:
    """One line: Prefect's HTTP errors carry the server's detail."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.exceptions import PrefectHTTPStatusError

    if isinstance(exc, PrefectHTTPStatusError):
        try:
            detail = exc.response.json().get("detail")
        except ValueError:
            detail = exc.response.text
        return f"the server answered {exc.response.status_code}: {detail or exc.response.reason_phrase}".replace("\n", " ")
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


async def _work_pools(client: PrefectClient) -> Callable[[str], Awaitable[Any]]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.exceptions import ObjectNotFound

    pools: dict[str, Any] = {}

    async def read(name: str) -> Any:
        if name not in pools:
            try:
                pools[name] = await client.read_work_pool(name)
            except ObjectNotFound:
                raise ValueError(
                    f"This deployment configuration references work pool {name!r} which does not exist. "
                    "This means no worker will be able to pick up its runs."
                ) from None
        return pools[name]

    return read


async def _prepare_deployments(
    keys: set[str], project_root: Path, prefect_yaml: dict[str, Any], flows: FlowCatalog, client: PrefectClient, report: ApplyReport
) -> list[tuple[str, PreparedDeployment]]:
    """(action key, prepared) for the changed deployments; a failure is reported and that deployment left alone."""
    # deferred: the seam imports Prefect, ~1 s CPU (measured); every command loads this module through deploy; only deploy uses it
    from flows.prefect_api.seam import prefect_yaml_deploy_configs

    try:
        configs, actions = prefect_yaml_deploy_configs(prefect_yaml)
    except ValueError as exc:  # what `prefect deploy` would skip with a warning: nothing of it is applied
        report.failed.extend(f"deployment {key}: prefect.yaml: {_reason(exc)}" for key in sorted(keys))
        return []
    work_pools = await _work_pools(client)
    prepared: list[tuple[str, PreparedDeployment]] = []
    # `prefect deploy` runs in the project folder: {{ $PWD }} and other {{ $NAME }} come from its environment.
    with environment(deploy_environment(project_root)):
        for config in configs:
            key = f"{flows.facts(config.get('entrypoint', '')).name}/{config.get('name')}" if config.get("entrypoint") else ""
            if key not in keys:
                continue
            try:
                prepared.append((key, await prepare(config, actions, flows=flows, client=client, work_pools=work_pools)))
            except Exception as exc:  # noqa: BLE001 - reported per deployment
                report.failed.append(f"deployment {key}: {_reason(exc)}")
    return prepared


async def _delete_deployment(client: PrefectClient, key: str) -> None:
    """A deployment and the trigger automations it owns (deleting the deployment leaves them behind)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.exceptions import ObjectNotFound

    try:
        deployment = await client.read_deployment_by_name(key)
    except ObjectNotFound:
        return
    await client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
    with contextlib.suppress(ObjectNotFound):
        await client.delete_deployment(deployment.id)


async def _create_deployment(client: PrefectClient, key: str, prepared: PreparedDeployment, inferred: Any, flow_ids: FlowIds) -> None:
    try:
        await create(prepared, client, inferred, flow_ids)
    except BaseException:
        await _delete_deployment(client, key)  # absent rather than half there (see the module docstring)
        raise


async def _write_automation(client: PrefectClient, spec: dict[str, Any], existing: list[dict[str, Any]]) -> None:
    """Create, or update the first of that name and delete its copies (as deploy always did)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.events.schemas.automations import AutomationCore

    automation = AutomationCore.model_validate(spec)
    if not existing:
        await client.create_automation(automation)
        return
    await client.update_automation(UUID(str(existing[0]["id"])), automation)
    for duplicate in existing[1:]:
        await client.delete_automation(UUID(str(duplicate["id"])))


async def _delete_automations(client: PrefectClient, existing: list[dict[str, Any]]) -> None:
    for automation in existing:
        await client.delete_automation(UUID(str(automation["id"])))


async def apply_plan(
    client: PrefectClient,
    plan: Plan,
    *,
    project_root: Path,
    outputs: dict[Path, str],
    flows: FlowCatalog,
    desired: DesiredState,
    observed: ObservedState,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
) -> ApplyReport:
    """Write ``plan``'s changes (removals only when it was computed with prune); see the module docstring."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.settings import PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY, temporary_settings

    from flows.prefect_api.seam import inferred_version_info

    report = ApplyReport(notes=list(plan.notes))
    changes = [c for c in plan.changes if c.kind in _KINDS and (c.kind != "deployment" or _server_fields(c))]
    writer = _Writer(client, concurrency, report, progress, len(changes))
    specs = {s["name"]: s for s in json.loads(outputs.get(PREFECT_AUTOMATIONS_PATH, "[]"))}
    limits = {limit["name"]: limit for limit in json.loads(outputs.get(CONCURRENCY_LIMITS_PATH, "[]"))}
    writes: list[tuple[str, str, str, Callable[[], Awaitable[Any]]]] = []

    # Cooldown limits and Prefect automations first: a deployment's first run finds its limit in place.
    for change in changes:
        if change.kind == "concurrency limit":
            if change.action == "remove":
                write = _bind(client.delete_global_concurrency_limit_by_name, change.name)
            else:
                limit = limits[change.name]
                write = _bind(
                    client.upsert_global_concurrency_limit_by_name, limit["name"], limit["limit"], limit["slot_decay_per_second"]
                )
            writes.append((change.kind, change.name, change.action, write))
        elif change.kind == "automation":
            existing = observed.automations.get(change.name, [])
            if change.action == "remove":
                write = _bind(_delete_automations, client, existing)
            else:
                write = _bind(_write_automation, client, specs[change.name], existing)
            writes.append((change.kind, change.name, change.action, write))
    await writer.run_all(writes)

    deployment_changes = {c.name: c for c in changes if c.kind == "deployment"}
    written = {k for k, c in deployment_changes.items() if c.action != "remove"}
    prefect_yaml = parsed_prefect_yaml(outputs[PREFECT_YAML_PATH])
    prepared = await _prepare_deployments(written, project_root, prefect_yaml, flows, client, report) if written else []
    inferred = await inferred_version_info(project_root) if prepared else None
    writes = []
    # As deploy_environment gives `prefect deploy`: `schedules: []` clears a deployment's old schedules.
    with temporary_settings(updates={PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY: True}):
        flow_ids = FlowIds(client)
        for key, one in prepared:
            action = deployment_changes[key].action
            if action == "add":
                write = _bind(_create_deployment, client, key, one, inferred, flow_ids)
            else:
                write = _bind(write_deployment, one, client, inferred)
            writes.append(("deployment", key, action, write))
        for key, change in deployment_changes.items():
            if change.action == "remove":
                writes.append(("deployment", key, "remove", _bind(_delete_deployment, client, key)))
        await writer.run_all(writes)
    for kind in _KINDS:
        report.unchanged[kind] = _unchanged(kind, desired, observed, plan)
    return report


def _unchanged(kind: str, desired: DesiredState, observed: ObservedState, plan: Plan) -> int:
    """Objects of ``kind`` the configuration produces that are on the server and needed no write."""
    tables: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {
        "deployment": (desired.deployments, observed.deployments),
        "concurrency limit": (desired.limits, observed.limits),
        "automation": (desired.automations, observed.automations),
    }
    wanted, present = tables[kind]
    written = {c.name for c in plan.changes if c.kind == kind and (kind != "deployment" or _server_fields(c))}
    return sum(1 for name in wanted if name in present and name not in written)


def _bind(function: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await function(*args)

    return call


async def apply_outputs(
    client: PrefectClient,
    outputs: dict[Path, str],
    project_root: Path,
    options: BuildOptions,
    *,
    prune: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
) -> ApplyReport:
    """Plan a build's outputs against the server and apply the plan (with ``prune``: removals too)."""
    flows = FlowCatalog.from_outputs(project_root, outputs)
    desired: DesiredState = desired_from_outputs(outputs, project_root, options, flows=flows)
    names = sorted({d["name"] for d in desired.deployments.values()})
    observed = await read_server(
        client, work_pool=options.work_pool, deployment_names=names, limit_names=sorted(desired.limits), tag=PLATFORM_TAG
    )
    plan = compute_plan(desired, observed, prune=prune)
    return await apply_plan(
        client,
        plan,
        project_root=project_root,
        outputs=outputs,
        flows=flows,
        desired=desired,
        observed=observed,
        concurrency=concurrency,
        progress=progress,
    )
