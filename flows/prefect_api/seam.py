"""The one module that touches Prefect internals; each use says why no public API serves, tests/flows/prefect_api/test_seam.py checks each.

Tested on the Prefect range pinned in pyproject.toml. When a Prefect upgrade changes one of these, its
test in tests/flows/prefect_api/test_seam.py fails naming the seam; fix it here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import certifi
import prefect
from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.objects import VersionInfo
from prefect.context import refresh_global_settings_context
from prefect.events.worker import EventsWorker
from prefect.filesystems import LocalFileSystem
from prefect.logging.handlers import APILogWorker, PrefectConsoleHandler
from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY
from pydantic import ValidationError
from rich.console import Console

__all__ = [
    "EVENT_PARAMETER_TEMPLATE",
    "InlineLocalFileSystem",
    "apply_slas",
    "cron_dates",
    "deployment_create_payload",
    "deployment_version_info",
    "engine_leaves_sigterm_alone",
    "hide_engine_failure_echoes",
    "inferred_version_info",
    "name_flow_function",
    "one_suspension_observer_for_this_loop",
    "point_prefect_at",
    "prefect_deploy_config",
    "prefect_deploy_schedules",
    "prefect_deploy_triggers",
    "prefect_yaml_deploy_configs",
    "pull_step_storage",
    "release_redis_lock_acquired_async",
    "run_flow_in_this_process",
    "set_defaults_from_flow",
    "share_api_tls_context",
    "start_event_and_log_workers",
    "wrap_api_client_send",
]


# --- 1. Running a claimed flow run inside this process (flows/engine/executor.py) -----------------------------
# Prefect's public ways to run a deployment's runs (serve(), workers) start a process per run and
# cancel in-flight runs on SIGTERM; the engine entry point that runs an existing flow run in this
# process, run_flow_async, is not documented for users.


async def run_flow_in_this_process(flow: Any, flow_run: Any) -> Any:
    """Execute ``flow_run`` (already claimed: PENDING) with ``flow`` here; returns the final state."""
    # deferred: prefect.flow_engine costs ~130 ms more than Prefect itself (measured); importers that never call this function do not pay for it
    from prefect.flow_engine import run_flow_async

    return await run_flow_async(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")


@contextlib.contextmanager
def engine_leaves_sigterm_alone() -> Iterator[None]:
    """While it is open, the flow engine does not take over SIGTERM (serve's drain keeps it).

    Prefect's flow engine wraps every run in ``prefect.flow_engine.capture_sigterm()``, which replaces
    the process's SIGTERM handler with one raising ``TerminationSignal`` in the main thread: in a
    process of its own that turns a kill into a Crashed run; in serve it would crash every in-flight run
    and the serve loop instead of starting the drain. Prefect has no setting to switch it off, so the
    engine's module-level name is swapped for a no-op for the duration.
    """
    # deferred: prefect.flow_engine costs ~130 ms more than Prefect itself (measured); importers that never call this function do not pay for it
    import prefect.flow_engine as engine

    original = engine.capture_sigterm
    engine.capture_sigterm = contextlib.nullcontext  # type: ignore[assignment]  # the seam's patch (tested)
    try:
        yield
    finally:
        engine.capture_sigterm = original


# --- 2. Quick retries of a SQLite server's 503s (flows/prefect_api/retry.py) ------------------------------------
# Prefect's client retries a 503 after 2 ** attempt seconds and offers no hook or setting for a shorter
# first delay; the only place to retry sooner is around the send its retry loop calls, which is the
# private method PrefectHttpxAsyncClient/PrefectHttpxSyncClient._send_with_retry(self, request, send, ...).


def _send_hook_ok(cls: type) -> bool:
    method = getattr(cls, "_send_with_retry", None)
    if method is None:
        return False
    return list(inspect.signature(method).parameters)[:3] == ["self", "request", "send"]


def wrap_api_client_send(async_wrap: Callable[[Any], Any], sync_wrap: Callable[[Any], Any]) -> bool:
    """Make Prefect's API clients call ``async_wrap(send)``/``sync_wrap(send)`` instead of ``send`` inside
    their retry loop; False (nothing patched) when the hook is gone. Call once per process."""
    if not (_send_hook_ok(PrefectHttpxAsyncClient) and _send_hook_ok(PrefectHttpxSyncClient)):
        return False
    async_original = PrefectHttpxAsyncClient._send_with_retry
    sync_original = PrefectHttpxSyncClient._send_with_retry

    async def async_send_with_retry(self: Any, request: Any, send: Any, *args: Any, **kwargs: Any) -> Any:
        return await async_original(self, request, async_wrap(send), *args, **kwargs)

    def sync_send_with_retry(self: Any, request: Any, send: Any, *args: Any, **kwargs: Any) -> Any:
        return sync_original(self, request, sync_wrap(send), *args, **kwargs)

    # The seam's patch of Prefect's clients (tested in tests/flows/prefect_api/test_seam.py).
    PrefectHttpxAsyncClient._send_with_retry = async_send_with_retry  # type: ignore[method-assign]
    PrefectHttpxSyncClient._send_with_retry = sync_send_with_retry  # type: ignore[method-assign]
    return True


# --- 3. Result storage without a thread hop per file (flows/exactly_once/idempotency.py) -----------------------------
# LocalFileSystem's async methods run the open, write and close of every result in a worker thread and
# resolve the base folder on every call (~1 ms per action on 2 busy cores, benchmark P2); no setting
# changes that. The subclass overrides the private path resolver (_resolve_path) and the two async I/O
# methods, and is a block type of its own (_block_type_slug: Prefect's documented way to name a block).


@lru_cache(maxsize=64)
def _resolved_base(basepath: str | None) -> Path:
    return Path(basepath).expanduser().resolve() if basepath else Path(".").resolve()


class InlineLocalFileSystem(LocalFileSystem):
    """Prefect's local result storage, with the small reads and writes done inline. Same files, same paths."""

    _block_type_name = "Inline Local File System"
    _block_type_slug = "platform-god-inline-local-file-system"

    def _resolve_path(self, path: str) -> Path:
        base = _resolved_base(self.basepath)
        if path is None:
            return base
        if path and "/" not in path and path not in (".", "..") and not path.startswith("~"):
            # A plain file name in the (resolved) base folder: it resolves to itself unless it is a
            # symlink; one lstat instead of one per folder of the path.
            candidate = base / path
            if not candidate.is_symlink():
                return candidate
        resolved = Path(path).expanduser()
        if not resolved.is_absolute():
            resolved = base / resolved
        resolved = resolved.resolve()
        if base not in resolved.parents and base != resolved:
            raise ValueError(f"Provided path {resolved} is outside of the base path {base}.")
        return resolved

    async def awrite_path(self, path: str, content: bytes) -> str:
        target = self._resolve_path(path)
        target.parent.mkdir(exist_ok=True, parents=True)
        if target.exists() and not target.is_file():
            raise ValueError(f"Path {target} already exists and is not a file.")
        target.write_bytes(content)
        return str(target)

    async def aread_path(self, path: str) -> bytes:
        target = self._resolve_path(path)
        if not target.exists():
            raise ValueError(f"Path {target} does not exist.")
        if not target.is_file():
            raise ValueError(f"Path {target} is not a file.")
        return target.read_bytes()


# --- 4. A flow built at run time with a stable entrypoint (flows/engine/flow_factory.py) -----------------------
# Prefect derives a flow's entrypoint ("module:attribute") from the function's __module__ and
# __qualname__ (Flow.__init__, RunnerDeployment.from_flow); there is no parameter to give it. Our flows
# are built by a factory, so the function is renamed to the attribute flows/automations.py exposes.


def name_flow_function(fn: Callable[..., Any], module: str, attribute: str) -> None:
    """Make Prefect see ``fn`` as ``module:attribute``."""
    fn.__name__ = fn.__qualname__ = attribute
    fn.__module__ = module


# --- 5. Releasing a Redis lock acquired by the async engine (flows/exactly_once/locks.py) ----------------------------
# Prefect's async engine acquires idempotency locks with aacquire_lock but releases them with the sync
# release_lock; prefect-redis 0.3 then calls the async lock's release() without awaiting it and the key
# stays locked until its TTL. No public API releases a lock by token, so the manager's private lock
# table (_locks), key naming (_lock_name_for_key) and sync client (client) are used to release the same
# token through the sync client.


def release_redis_lock_acquired_async(manager: Any, key: str, holder: str) -> bool:
    """Release ``key`` held by ``holder`` if it was acquired through the async client; False otherwise
    (the caller then uses the manager's own release_lock)."""
    # deferred: redis costs ~140 ms (measured) and only Redis locks use it; importers that never call this function do not pay for it
    from redis.asyncio.lock import Lock as AsyncLock
    from redis.lock import Lock

    name = manager._lock_name_for_key(key)
    held = manager._locks.get(name)
    if not (isinstance(held, AsyncLock) and getattr(held.local, "token", None) == holder.encode()):
        return False
    sync = Lock(manager.client, name, thread_local=False)
    sync.local.token = held.local.token
    manager._locks.pop(name, None)
    sync.release()
    return True


# --- 6. Deployment trigger parameters (compiler/commands/build/deployments.py) -----------------------------
# Event triggers pass one flow parameter, `event`: a dict with id (str), event (str), occurred (ISO 8601
# str), resource (dict of labels) and payload (dict, values keep their JSON types). Prefect documents
# Jinja templates in trigger parameters but not how values are typed; measured on Prefect 3.9.1: a value
# that is exactly one `{{ expr }}` is rendered through `tojson`, so dicts and numbers keep their types,
# also inside a nested dict. A UUID or datetime makes `tojson` fail and then NO run is created at all
# (InvalidJinja), hence `| string` and `.isoformat()`. Only fields every event has are referenced (a
# missing key also means no run).
EVENT_PARAMETER_TEMPLATE: dict[str, str] = {
    "id": "{{ event.id | string }}",
    "event": "{{ event.event }}",
    "occurred": "{{ event.occurred.isoformat() }}",
    "resource": "{{ event.resource }}",
    "payload": "{{ event.payload }}",
}


# --- 7. One line per failed action on the terminal (compiler/commands/run.py) ----------------------
# Prefect's engine logs every failure again at ERROR (``Task run failed with …``, ``Finished in state
# Failed(…)`` with tracebacks) through the loggers prefect.task_runs/prefect.flow_runs; Prefect's logging
# settings can only silence those loggers as a whole (losing them in the API too). So only the console
# handlers Prefect installs get a filter dropping the engine's own ERROR records.

_ENGINE_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def prefect_console_handlers() -> list[logging.Handler]:
    """The handlers through which Prefect writes run logs to the terminal."""
    handlers = (*logging.getLogger().handlers, *logging.getLogger("prefect").handlers)
    return [handler for handler in handlers if isinstance(handler, PrefectConsoleHandler)]


def hide_engine_failure_echoes() -> int:
    """Filter the engine's failure echoes from the console (the API still gets every line); returns
    the number of handlers filtered."""
    prefect_dir = str(Path(prefect.__file__).parent)

    def keep(record: logging.LogRecord) -> bool:
        engine_echo = record.pathname.startswith(prefect_dir) and record.levelno >= logging.ERROR
        return not (engine_echo and record.name in _ENGINE_LOGGERS)

    handlers = prefect_console_handlers()
    for handler in handlers:
        handler.addFilter(keep)
    return len(handlers)


# --- 8. The Python API inside a user's process (platform_god/automations/_runtime.py) ------------------
# The API may start the embedded server after the caller imported Prefect, which reads its settings
# once, at import; and it drains its in-flight runs from an interpreter exit hook, while Prefect's event
# and log workers drain from hooks of their own, run last-registered first. Prefect offers no public
# way to re-read the environment or to start those workers ahead of their first use.


def point_prefect_at(api_url: str) -> None:
    """Make this process's Prefect (already imported or not) use ``api_url``, as if it were set at import."""
    os.environ["PREFECT_API_URL"] = api_url

    if "prefect" in sys.modules:
        refresh_global_settings_context()


def start_event_and_log_workers() -> None:
    """Start Prefect's event and log workers for the current settings now, so that their exit hooks are
    registered before (and therefore run after) a hook registered next."""
    EventsWorker.instance()
    APILogWorker.instance()


# --- 9. One flow-run suspension observer per serving loop (flows/engine/executor.py) ---------------------------
# For every run of a deployment, Prefect 3.9's engine enters observe_flow_run_suspension(): a thread with
# an event loop, an API client and an events websocket of its own, so that a run suspended from outside
# stops at its next task. It blocks the caller's event loop until that websocket is up, and again (up to
# 0.2 s) while tearing it down. Measured in serve's path (8 runs, local server): run start → first action
# median 0.33 s with it, 0.17 s without. Prefect has no setting for it and the engine looks the function
# up as a module attribute, so a serving loop routes its runs to ONE FlowRunSuspendingObserver (Prefect's
# own class, which that function uses too); runs on any other loop keep Prefect's per-run observer.

_SHARED_SUSPENSION_OBSERVERS: dict[Any, Any] = {}  # event loop → its FlowRunSuspendingObserver


def _observe_on_the_shared_observer(original: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.contextmanager
    def observe(flow_run_id: Any, suspension_request: Any, polling_interval: float = 10) -> Iterator[None]:
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        observer = _SHARED_SUSPENSION_OBSERVERS.get(loop)
        if observer is None:
            with original(flow_run_id, suspension_request, polling_interval):
                yield
            return
        # The websocket is already up, so nothing is missed meanwhile: the watch reads the run's current
        # state (its replay checkpoint) in the background instead of delaying the run's start.
        watching = loop.create_task(observer.watch_flow_run_id(flow_run_id))
        try:
            yield
        finally:
            watching.cancel()
            observer.remove_in_flight_flow_run_id(flow_run_id)

    observe.shares_one_observer = True  # type: ignore[attr-defined]  # a marker on the function: patched once
    return observe


@contextlib.asynccontextmanager
async def one_suspension_observer_for_this_loop() -> AsyncIterator[None]:
    """While open, runs of deployments executed on the current event loop share one suspension observer."""
    # deferred: prefect.flow_engine costs ~130 ms more than Prefect itself (measured); importers that never call this function do not pay for it
    import prefect.flow_engine as engine
    from prefect._flow_run_suspension import mark_flow_run_suspension_requested
    from prefect._internal.observers import FlowRunSuspendingObserver

    if not getattr(engine.observe_flow_run_suspension, "shares_one_observer", False):
        engine.observe_flow_run_suspension = _observe_on_the_shared_observer(engine.observe_flow_run_suspension)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        try:
            # The engine registers each run's suspension request before observing it: marking by id reaches it.
            observer = await stack.enter_async_context(
                # Prefect's own callback returns a bool its observer ignores; the protocol's annotation says None.
                FlowRunSuspendingObserver(on_suspended=mark_flow_run_suspension_requested)  # type: ignore[arg-type]
            )
        except Exception:
            logging.getLogger(__name__).warning("no shared suspension observer; each run starts its own", exc_info=True)
        else:
            _SHARED_SUSPENSION_OBSERVERS[loop] = observer
        try:
            yield
        finally:
            _SHARED_SUSPENSION_OBSERVERS.pop(loop, None)


# --- 10. One TLS context for every Prefect API client of a process (flows/prefect_api/clients.py) ----------------
# PrefectClient and SyncPrefectClient load a new SSLContext from certifi's bundle (or PREFECT_API_SSL_CERT_FILE)
# for every client they build, ~40 ms each on this machine (4 per `run` in P4's profile of the warm child; 43 ms
# of P6's 0.17 s answered re-run), unless ``httpx_settings["verify"]`` is given. No setting shares one. The
# wrapper gives each client the context Prefect's __init__ would build (same settings, same file), built once
# per process and settings; unlike Prefect's, it reads the CA file once per process (an edited CA file takes a
# restart, as for the HTTP actions' shared context in flows/actions/net_guard.py).


def _api_tls_inputs() -> tuple[bool, str]:
    return bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value()), PREFECT_API_SSL_CERT_FILE.value() or certifi.where()


@lru_cache(maxsize=8)
def _api_tls_context(insecure: bool, cafile: str) -> Any:
    """What PrefectClient.__init__ builds (Prefect 3.9), once per settings."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile)


def share_api_tls_context() -> bool:
    """Make Prefect's API clients share one TLS context per process; False (nothing patched) when their
    constructors no longer take ``httpx_settings``. Call once per process."""

    classes = (PrefectClient, SyncPrefectClient)
    if not all("httpx_settings" in inspect.signature(cls.__init__).parameters for cls in classes):
        return False
    for cls in classes:
        cls.__init__ = _with_shared_tls_context(cls.__init__)  # type: ignore[method-assign]  # the seam's patch (tested)
    return True


def _with_shared_tls_context(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, httpx_settings: dict[str, Any] | None = None, **kwargs: Any) -> None:
        settings = dict(httpx_settings or {})
        if "verify" not in settings:  # given (True, False, a context): Prefect keeps it, and so do we
            settings["verify"] = _api_tls_context(*_api_tls_inputs())
        original(self, *args, httpx_settings=settings, **kwargs)

    return __init__


# --- 11. Sending what a process still holds before the server it owns stops (compiler/commands/serve/command.py) ----------
# Prefect's event and log workers send from background threads and drain from interpreter exit hooks. `serve`
# stops the embedded server it started before the interpreter exits, so those hooks found no server and printed
# "--- Error logging to API --- All connection attempts failed" on every Ctrl-C with a run's logs still queued.
# Prefect's public flush (APILogHandler.flush) covers logs only; the drain below is what its exit hooks call.


def send_queued_events_and_logs(timeout: float = 5.0) -> None:
    """Send the events and log lines this process still holds, waiting up to ``timeout`` seconds for each."""
    EventsWorker.drain_all(timeout=timeout)
    APILogWorker.drain_all(timeout=timeout)


# --- 12. What `prefect deploy` makes of a prefect.yaml entry (compiler/commands/plan/prefect_deploy.py) --------------
# `python -m compiler deploy` applies only the deployments that differ from the server, through the client,
# and must leave exactly what `prefect deploy --all` leaves. Prefect has no public function from a
# prefect.yaml entry to a RunnerDeployment: the CLI's steps (reading the file with its pydantic model, the
# default keys, the deprecated `schedule` key, schedules, triggers named `<deployment>__automation_<n>`,
# the pull-step storage shim, the flow's defaults, the version info) live in prefect.cli.deploy and
# RunnerDeployment's private parts. Each is wrapped here so the apply code calls them and copies none.


def prefect_yaml_deploy_configs(raw: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(deployment configs, top-level actions) of a parsed prefect.yaml, as `prefect deploy` reads them
    (``_load_deploy_configs_and_actions`` after its yaml.safe_load, which takes seconds on 1,000 deployments
    where the C loader's result is at hand); a ValueError for what it would skip with a warning."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._config import _format_validation_error
    from prefect.cli.deploy._models import PrefectYamlModel

    try:
        model = PrefectYamlModel.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(_format_validation_error(exc, raw)) from None
    actions: dict[str, Any] = {"build": model.build or [], "push": model.push or [], "pull": model.pull}
    return [d.model_dump(exclude_unset=True, mode="json") for d in model.deployments], actions


def prefect_deploy_config(config: dict[str, Any]) -> dict[str, Any]:
    """One entry with `prefect deploy`'s defaults filled in and the deprecated ``schedule`` key handled."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._config import _handle_deprecated_schedule_fields, _merge_with_default_deploy_config

    return _handle_deprecated_schedule_fields(_merge_with_default_deploy_config(config))


def prefect_deploy_schedules(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The entry's schedules as `prefect deploy --no-prompt` passes them to ``RunnerDeployment.aapply``."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._schedules import _construct_schedules

    return _construct_schedules(config, {}, console=Console(quiet=True), is_interactive=lambda: False)


def prefect_deploy_triggers(deployment_name: str, specs: list[dict[str, Any]]) -> list[Any]:
    """Trigger models named like `prefect deploy` names them (``<deployment>__automation_<n>`` when unnamed)."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers

    return list(_initialize_deployment_triggers(deployment_name, specs))


def pull_step_storage(pull_steps: list[dict[str, Any]]) -> Any:
    """The storage shim through which `prefect deploy` hands its pull steps to a RunnerDeployment."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._storage import _PullStepStorage

    return _PullStepStorage(pull_steps)


def set_defaults_from_flow(
    deployment: Any, *, parameter_schema: Any, version: Callable[[], str | None], description: Callable[[], str | None]
) -> None:
    """``RunnerDeployment._set_defaults_from_flow`` given the flow's parts rather than the flow (building 1,000
    flows only for their defaults costs more than the deploy): same attributes, same private flag; ``version``
    and ``description`` are asked for only when the deployment has none."""
    deployment._parameter_openapi_schema = parameter_schema
    if not deployment.version:
        deployment.version = version()
        deployment._version_from_flow = True
    if not deployment.description:
        deployment.description = description()


async def apply_slas(client: Any, deployment_id: Any, specs: list[dict[str, Any]]) -> None:
    """A deployment's ``sla`` list as `prefect deploy` applies it (Prefect Cloud only; a ValueError elsewhere)."""
    # deferred: prefect.cli.deploy costs ~60 ms more than Prefect itself (measured); every run and worker imports the seam; only deploy calls this
    from prefect.cli.deploy._sla import _create_slas, _initialize_deployment_slas

    await _create_slas(client, deployment_id, _initialize_deployment_slas(deployment_id, specs))


async def inferred_version_info(folder: Path) -> Any:
    """What ``RunnerDeployment.aapply`` infers from the CI environment or git (in ``folder``, where `prefect
    deploy` runs), computed once instead of once per deployment (five git processes each); None if nothing."""
    # deferred: Prefect's versioning module costs ~6 ms (measured); every run and worker imports the seam; only deploy calls this
    from prefect._internal.versioning import get_inferred_version_info

    saved = os.getcwd()
    os.chdir(folder)
    try:
        return await get_inferred_version_info(None)
    finally:
        os.chdir(saved)


def deployment_version_info(deployment: Any, inferred: Any) -> Any:
    """``RunnerDeployment._get_deployment_version_info`` with the inferred info given (it may set the version)."""
    if inferred is not None:
        info = inferred.model_copy()
        if not deployment.version or deployment._version_from_flow:
            deployment.version = info.version
        info.version = deployment.version
        return info
    return VersionInfo(version=deployment.version or "", type="prefect:simple")


def deployment_create_payload(deployment: Any, schedules: list[dict[str, Any]] | None, version_info: Any) -> dict[str, Any]:
    """The ``create_deployment`` arguments ``RunnerDeployment.aapply`` sends for a new deployment (its ``_create``),
    less ``flow_id``. Built here so a deploy of 1,000 new deployments sends one request each (plus one per
    trigger and per flow) instead of aapply's five: a read by name, the flow, the deployment, a delete of the
    trigger automations a new deployment cannot have yet, the triggers (benchmark P12)."""
    if schedules:
        deployment.schedules = [DeploymentScheduleCreate(**schedule) for schedule in schedules]
    payload: dict[str, Any] = {
        "name": deployment.name,
        "work_queue_name": deployment.work_queue_name,
        "work_pool_name": deployment.work_pool_name,
        "version": deployment.version,
        "version_info": version_info,
        "paused": deployment.paused,
        "schedules": deployment._schedules_with_serialized_block_parameters(),
        "concurrency_limit": deployment.concurrency_limit,
        "concurrency_options": deployment.concurrency_options,
        "parameters": deployment.model_dump(mode="json", include={"parameters"})["parameters"],
        "description": deployment.description,
        "tags": deployment.tags,
        "path": deployment._path,
        "entrypoint": deployment.entrypoint,
        "storage_document_id": None,
        "infrastructure_document_id": None,
        "parameter_openapi_schema": deployment._parameter_openapi_schema.model_dump(exclude_unset=True),
        "enforce_parameter_schema": deployment.enforce_parameter_schema,
    }
    if deployment.work_pool_name:
        payload["job_variables"] = deployment.job_variables
        payload["path"] = None if deployment.storage else deployment._path
        pull_steps = deployment.storage.to_pull_step() if deployment.storage else []
        payload["pull_steps"] = pull_steps if isinstance(pull_steps, list) else ([pull_steps] if pull_steps else [])
    return payload
# --- 13. The times a cron schedule fires, as the server's scheduler computes them (compiler/commands/replay) ---
# `replay` compares the scheduled times of a changed cron or timezone with the deployed one. croniter alone
# disagrees with Prefect's scheduler around DST (measured: 02:30 Europe/Berlin on spring-forward day is 03:00
# for croniter, 03:30 on the server; the repeated hour fires twice for croniter, once on the server). The
# server's own CronSchedule.get_dates (Prefect's server schema, not part of its client API) is what the
# scheduler calls; it checks at most MAX_ITERATIONS candidates per call, hence the loop.


def cron_dates(cron: str, timezone: str, start: Any, end: Any, *, day_or: bool = True) -> list[Any]:
    """Every time in ``[start, end]`` (aware datetimes) a deployment schedule ``cron`` in ``timezone`` fires, in UTC."""
    # deferred: Prefect's server schedule schemas cost ~20 ms more than Prefect itself (measured); every run and
    # worker imports the seam; only replay calls this
    from prefect.server.schemas.schedules import MAX_ITERATIONS, CronSchedule

    schedule = CronSchedule(cron=cron, timezone=timezone, day_or=day_or)
    found: list[Any] = []
    cursor = start
    while True:
        batch = asyncio.run(schedule.get_dates(n=MAX_ITERATIONS, start=cursor, end=end))
        # Plain datetimes: Prefect's DateTime subtracts through its deprecation wrappers (~0.2 ms each, P11).
        found.extend(datetime.fromtimestamp(d.timestamp(), UTC) for d in batch)
        if len(batch) < MAX_ITERATIONS:
            return found
        cursor = batch[-1] + timedelta(seconds=1)
