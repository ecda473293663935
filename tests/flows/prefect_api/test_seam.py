"""Each Prefect internal of flows/prefect_api/seam.py still is what the seam relies on (one test per seam).

A failure here after a Prefect upgrade names the seam and what changed; fix flows/prefect_api/seam.py.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.prefect_api import seam as prefect_seam
from tests.prefect_support import using_api


def _parameters(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


# --- 1. run_flow_in_this_process / engine_leaves_sigterm_alone ---------------------------------------------


def test_run_flow_async_takes_the_arguments_the_seam_passes() -> None:
    from prefect import flow_engine

    assert hasattr(flow_engine, "run_flow_async"), "prefect.flow_engine.run_flow_async is gone: serve cannot run claimed runs in-process"
    missing = {"flow", "flow_run", "parameters", "return_type"} - set(_parameters(flow_engine.run_flow_async))
    assert not missing, f"prefect.flow_engine.run_flow_async no longer takes {sorted(missing)}"


def test_engine_replaces_sigterm_during_a_run_unless_the_seam_is_open(prefect_server: str) -> None:
    from prefect import flow, flow_engine

    assert hasattr(flow_engine, "capture_sigterm"), "prefect.flow_engine.capture_sigterm is gone: check how the engine handles SIGTERM now"
    seen: dict[str, Any] = {}

    @flow(name="seam-sigterm-probe", persist_result=False)
    def probe() -> None:
        seen["handler"] = signal.getsignal(signal.SIGTERM)

    def ours(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        with using_api(prefect_server):
            with prefect_seam.engine_leaves_sigterm_alone():
                probe()
            assert seen["handler"] is ours, "with the seam open Prefect's engine still replaced the SIGTERM handler"
            probe()
            assert seen["handler"] is not ours, (
                "Prefect's engine no longer replaces SIGTERM during a run: engine_leaves_sigterm_alone can go"
            )
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- 2. wrap_api_client_send ------------------------------------------------------------------------------


@pytest.mark.parametrize("client_class", ["PrefectHttpxAsyncClient", "PrefectHttpxSyncClient"])
def test_send_with_retry_hook_has_the_patched_signature(client_class: str) -> None:
    from prefect.client import base

    method = getattr(getattr(base, client_class), "_send_with_retry", None)
    assert method is not None, f"{client_class}._send_with_retry is gone: quick 503 retries (flows/prefect_api/retry.py) are off"
    assert _parameters(method)[:3] == ["self", "request", "send"], (
        f"{client_class}._send_with_retry signature changed to {_parameters(method)}"
    )


def _flaky_transport(statuses: list[int]) -> tuple[httpx.MockTransport, list[int]]:
    answered: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses[min(len(answered), len(statuses) - 1)]
        answered.append(status)
        return httpx.Response(status, json={})

    return httpx.MockTransport(handler), answered


def test_prefect_client_retries_a_bare_503_quickly_through_the_seam() -> None:
    """With Prefect's own retries off, only the seam's wrapper can turn 503, 503, 200 into 200."""
    from prefect.client.base import PrefectHttpxSyncClient
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from flows.prefect_api import retry as api_retry

    assert api_retry.install(), "the seam could not patch Prefect's API clients"
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        transport, answered = _flaky_transport([503, 503, 200])
        with PrefectHttpxSyncClient(transport=transport, base_url="http://prefect.test/api") as client:
            assert client.get("/health").status_code == 200 and answered == [503, 503, 200]
        transport, answered = _flaky_transport([503, 503, 200])
        assert asyncio.run(_async_get(transport)) == 200 and answered == [503, 503, 200]


async def _async_get(transport: httpx.MockTransport) -> int:
    from prefect.client.base import PrefectHttpxAsyncClient

    async with PrefectHttpxAsyncClient(transport=transport, base_url="http://prefect.test/api") as client:
        return (await client.get("/health")).status_code


# --- 3. InlineLocalFileSystem -----------------------------------------------------------------------------


def test_local_file_system_still_has_the_overridden_methods() -> None:
    from prefect.filesystems import LocalFileSystem

    for name, expected in (("_resolve_path", ["self", "path"]), ("awrite_path", ["self", "path", "content"]), ("aread_path", ["self", "path"])):
        method = getattr(LocalFileSystem, name, None)
        assert method is not None, f"LocalFileSystem.{name} is gone: InlineLocalFileSystem overrides nothing"
        assert _parameters(method)[: len(expected)] == expected, f"LocalFileSystem.{name} signature changed: {_parameters(method)}"


def test_inline_file_system_writes_what_prefects_reads_and_refuses_the_same_paths(tmp_path: Path) -> None:
    from prefect.filesystems import LocalFileSystem

    ours, prefects = prefect_seam.InlineLocalFileSystem(basepath=str(tmp_path)), LocalFileSystem(basepath=str(tmp_path))
    written = asyncio.run(ours.awrite_path("record", b"result"))
    assert asyncio.run(prefects.aread_path("record")) == b"result"
    assert Path(written) == prefects._resolve_path("record") == ours._resolve_path("record")
    for outside in ("../escape", "/etc/passwd"):
        with pytest.raises(ValueError, match="outside of the base path"):
            prefects._resolve_path(outside)
        with pytest.raises(ValueError, match="outside of the base path"):
            ours._resolve_path(outside)


# --- 4. name_flow_function --------------------------------------------------------------------------------


def test_deployment_entrypoint_follows_the_function_name_the_seam_sets() -> None:
    from prefect import flow
    from prefect.deployments.runner import RunnerDeployment

    def built_at_run_time() -> None:
        pass

    prefect_seam.name_flow_function(built_at_run_time, __name__, "probe_attribute")
    deployment = RunnerDeployment.from_flow(flow(built_at_run_time, name="seam-entrypoint-probe"), name="probe")
    assert deployment.entrypoint is not None and deployment.entrypoint.endswith(f"{Path(__file__).name}:probe_attribute"), (
        f"Prefect no longer derives the entrypoint from __qualname__: {deployment.entrypoint}"
    )


# --- 5. release_redis_lock_acquired_async -----------------------------------------------------------------


def test_redis_lock_manager_keeps_the_private_parts_the_release_uses() -> None:
    """The behaviour (an async-acquired lock is released at once) is tested against a real redis-server in
    tests/cluster/test_redis_locks.py; here: the private parts are still there."""
    locking = pytest.importorskip("prefect_redis.locking")
    manager = locking.RedisLockManager(connection_url="redis://127.0.0.1:1/0")
    assert isinstance(getattr(manager, "_locks", None), dict), "RedisLockManager._locks (lock table) is gone"
    assert isinstance(manager._lock_name_for_key("key"), str), "RedisLockManager._lock_name_for_key changed"
    assert hasattr(manager, "client"), "RedisLockManager.client (sync redis client) is gone"
    assert _parameters(locking.RedisLockManager.release_lock) == ["self", "key", "holder"]


# --- 6. EVENT_PARAMETER_TEMPLATE --------------------------------------------------------------------------


def test_trigger_parameters_keep_json_types_of_the_event(prefect_server: str) -> None:
    """A real event through a real deployment trigger: the run's `event` parameter has the documented shape."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    name = f"seam-trigger-{uuid.uuid4().hex[:8]}"

    @flow(name=name, persist_result=False)
    def probe(event: dict[str, Any] | None = None) -> None:
        pass

    trigger = DeploymentEventTrigger(
        expect={f"seam.probe.{name}"},
        match={"prefect.resource.id": f"seam.{name}"},
        parameters={"event": dict(prefect_seam.EVENT_PARAMETER_TEMPLATE)},
    )
    payload = {"count": 3, "ratio": 0.5, "ok": True, "nested": {"items": [1, "two"]}, "none": None}

    async def scenario() -> dict[str, Any]:
        deployment = await probe.ato_deployment(name=name, triggers=[trigger])
        deployment_id = await deployment.aapply()
        try:
            await asyncio.sleep(2)  # the trigger is loaded by the server's event services
            event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": f"seam.probe.{name}",
                     "resource": {"prefect.resource.id": f"seam.{name}"}, "payload": payload}
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{prefect_server}/events", content=json.dumps([event]), headers={"content-type": "application/json"})
                assert response.status_code == 204, response.text
            deadline = time.monotonic() + 60
            async with get_client() as client:
                while time.monotonic() < deadline:
                    runs = await client.read_flow_runs(deployment_filter=_deployment_filter(deployment_id))
                    if runs:
                        return {"parameters": runs[0].parameters, "sent": event}
                    await asyncio.sleep(0.5)
            raise AssertionError("the deployment trigger created no run: Prefect refused the parameter template")
        finally:
            async with get_client() as client:
                await client.delete_deployment(deployment_id)

    with using_api(prefect_server):
        found = asyncio.run(scenario())
    got, sent = found["parameters"]["event"], found["sent"]
    assert got["payload"] == payload, "payload values no longer keep their JSON types in trigger parameters"
    assert got["resource"]["prefect.resource.id"] == f"seam.{name}"
    assert (got["id"], got["event"]) == (sent["id"], sent["event"])
    assert datetime.fromisoformat(got["occurred"]) == datetime.fromisoformat(sent["occurred"])


def _deployment_filter(deployment_id: Any) -> Any:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))


# --- 7. hide_engine_failure_echoes ------------------------------------------------------------------------


def test_engine_echoes_failures_through_the_filtered_loggers_and_console_handlers(prefect_server: str) -> None:
    import prefect
    from prefect import flow, task

    assert prefect_seam.prefect_console_handlers(), "Prefect installs no PrefectConsoleHandler any more: nothing to filter"
    records: list[logging.LogRecord] = []
    capture = logging.Handler(level=logging.ERROR)
    capture.emit = records.append  # type: ignore[method-assign]

    @task(name="seam-failing-task", retries=0)
    def fails() -> None:
        raise RuntimeError("seam probe failure")

    @flow(name="seam-echo-probe", persist_result=False)
    def probe() -> None:
        fails()

    loggers = [logging.getLogger(name) for name in prefect_seam._ENGINE_LOGGERS]
    for logger in loggers:
        logger.addHandler(capture)
    try:
        with using_api(prefect_server):
            probe(return_state=True)
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
    prefect_dir = str(Path(prefect.__file__).parent)
    echoes = {r.name for r in records if r.pathname.startswith(prefect_dir) and r.levelno >= logging.ERROR}
    assert echoes == set(prefect_seam._ENGINE_LOGGERS), f"the engine's failure echoes moved: {sorted(echoes)}"


# --- 8. point_prefect_at / start_event_and_log_workers ------------------------------------------------------


def test_point_prefect_at_makes_an_imported_prefect_use_the_new_url(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import prefect\n"
        "from prefect.settings import PREFECT_API_URL\n"
        "before = PREFECT_API_URL.value()\n"
        "from flows.prefect_api.seam import point_prefect_at\n"
        "point_prefect_at('http://127.0.0.1:9/api')\n"
        "print(before, PREFECT_API_URL.value())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path)  # no profile naming an API
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split() == ["None", "http://127.0.0.1:9/api"], done.stderr


def test_event_and_log_workers_started_ahead_are_the_ones_used_later(prefect_server: str) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with using_api(prefect_server):
        prefect_seam.start_event_and_log_workers()
        assert EventsWorker.instance() is EventsWorker.instance(), "EventsWorker.instance() no longer returns one worker"
        assert APILogWorker.instance() is APILogWorker.instance(), "APILogWorker.instance() no longer returns one worker"


# --- 9. one_suspension_observer_for_this_loop ---------------------------------------------------------------


def test_engine_observes_suspension_through_the_parts_the_seam_uses() -> None:
    from prefect import _flow_run_suspension, flow_engine
    from prefect._internal.observers import FlowRunSuspendingObserver

    assert hasattr(flow_engine, "observe_flow_run_suspension"), (
        "prefect.flow_engine.observe_flow_run_suspension is gone: check how the engine watches for suspension now"
    )
    assert _parameters(flow_engine.observe_flow_run_suspension)[:2] == ["flow_run_id", "suspension_request"]
    assert _parameters(_flow_run_suspension.mark_flow_run_suspension_requested) == ["flow_run_id", "state"]
    assert "on_suspended" in _parameters(FlowRunSuspendingObserver.__init__)
    missing = {"watch_flow_run_id", "remove_in_flight_flow_run_id"} - set(dir(FlowRunSuspendingObserver))
    assert not missing, f"FlowRunSuspendingObserver no longer has {sorted(missing)}"


def test_a_deployment_run_starts_its_own_observer_thread_only_outside_the_seam(prefect_server: str) -> None:
    import threading

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Pending

    @flow(name="seam-observer-probe", persist_result=False)
    async def probe() -> list[str]:
        return [t.name for t in threading.enumerate() if "observer_thread" in t.name]

    async def one_run() -> list[str]:
        deployment_id = await (await probe.ato_deployment(name=f"observer-{uuid.uuid4().hex[:8]}")).aapply()
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id)
            await client.set_flow_run_state(run.id, Pending())
            run = await client.read_flow_run(run.id)
        state = await prefect_seam.run_flow_in_this_process(probe, run)
        return await state.aresult()

    async def scenario() -> tuple[list[str], list[str]]:
        async with prefect_seam.one_suspension_observer_for_this_loop():
            inside = await one_run()
        return inside, await one_run()

    with using_api(prefect_server):
        inside, outside = asyncio.run(scenario())

    assert inside == [], f"with the seam open the engine still started its own observer: {inside}"
    assert outside, "Prefect's engine no longer starts a suspension observer thread per run: the seam can go"


# --- 10. share_api_tls_context ------------------------------------------------------------------------------

_TLS_CONTEXTS_MADE = (
    "import json, ssl, sys\n"
    "made = []\n"
    "original = ssl.create_default_context\n"
    "def counting(*args, **kwargs):\n"
    "    made.append(kwargs.get('cafile'))\n"
    "    return original(*args, **kwargs)\n"
    "ssl.create_default_context = counting\n"
    "from prefect.client.orchestration import PrefectClient, SyncPrefectClient\n"
    "if sys.argv[1] == 'shared':\n"
    "    from flows.prefect_api.seam import share_api_tls_context\n"
    "    assert share_api_tls_context()\n"
    "made.clear()\n"
    "for cls in (PrefectClient, PrefectClient, SyncPrefectClient):\n"
    "    cls('http://127.0.0.1:9/api')\n"
    "print(json.dumps(made))\n"
)


def _tls_contexts_made(mode: str, home: Path) -> list[str | None]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", None)
    done = subprocess.run([sys.executable, "-c", _TLS_CONTEXTS_MADE, mode], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_prefect_clients_build_a_tls_context_each_and_the_seam_builds_the_same_one_once(tmp_path: Path) -> None:
    own = _tls_contexts_made("prefect", tmp_path)
    shared = _tls_contexts_made("shared", tmp_path)
    assert len(own) == 3 and len(set(own)) == 1 and own[0], own  # one per client, from the CA file Prefect picks
    assert shared == own[:1]


def test_the_shared_tls_context_skips_verification_when_prefect_is_told_to() -> None:
    import ssl

    from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY, temporary_settings

    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        shared = prefect_seam._api_tls_context(*prefect_seam._api_tls_inputs())
    assert (shared.verify_mode, shared.check_hostname) == (ssl.CERT_NONE, False)


# --- 11. send_queued_events_and_logs --------------------------------------------------------------------------
# End to end in tests/e2e/test_serve_embedded.py (serve's Ctrl-C printed "Error logging to API" without it).


def test_sending_when_no_worker_holds_anything_finds_prefects_workers_and_their_drain() -> None:
    # Fails (ImportError, TypeError) when Prefect moves or renames the workers or their drain's timeout; the
    # e2e test shows the behaviour.
    assert prefect_seam.send_queued_events_and_logs(timeout=5) is None


# --- 12. what `prefect deploy` makes of a prefect.yaml entry ---------------------------------------------------

_PREFECT_YAML = """\
name: probe
build: null
push: null
pull:
- prefect.deployments.steps.set_working_directory:
    directory: '{{ $PWD }}'
deployments:
- name: probe-deployment
  entrypoint: flows/conditions/watcher.py:condition_watcher
  tags: [a, b]
  work_pool: {name: probe-pool, job_variables: {env: {X: '1'}}}
  concurrency_limit: {limit: 1, collision_strategy: CANCEL_NEW}
  schedules:
  - {interval: 300, anchor_date: '2020-01-01T00:00:00+00:00', timezone: UTC, active: true}
  - {cron: '0 2 * * *', timezone: Europe/Berlin, day_or: true}
  triggers:
  - {type: event, expect: [probe.event], match: {prefect.resource.id: probe.*}, parameters: {event: '{{ event.id }}'}}
- name: legacy
  entrypoint: flows/conditions/watcher.py:condition_watcher
  schedule: {cron: '0 3 * * *'}
"""


def test_prefect_yaml_is_read_as_prefects_loader_reads_it(tmp_path: Path) -> None:
    import yaml
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from rich.console import Console

    path = tmp_path / "prefect.yaml"
    path.write_text(_PREFECT_YAML, encoding="utf-8")
    assert prefect_seam.prefect_yaml_deploy_configs(yaml.safe_load(_PREFECT_YAML)) == _load_deploy_configs_and_actions(
        path, console=Console(quiet=True)
    ), "prefect.cli.deploy._config._load_deploy_configs_and_actions reads prefect.yaml differently now"


def test_deploy_config_steps_give_defaults_schedules_and_named_triggers() -> None:
    import yaml

    configs, _ = prefect_seam.prefect_yaml_deploy_configs(yaml.safe_load(_PREFECT_YAML))
    first, legacy = (prefect_seam.prefect_deploy_config(c) for c in configs)
    schedules = prefect_seam.prefect_deploy_schedules(first)
    triggers = prefect_seam.prefect_deploy_triggers("probe-deployment", list(first["triggers"]))
    assert (first["version"], first["work_pool"]["work_queue_name"], legacy["schedules"][0]["cron"]) == (None, None, "0 3 * * *")
    assert [type(s["schedule"]).__name__ for s in schedules or []] == ["IntervalSchedule", "CronSchedule"]
    assert [t.name for t in triggers] == ["probe-deployment__automation_1"]


def test_pull_step_storage_hands_the_steps_to_a_runner_deployment() -> None:
    steps = [{"prefect.deployments.steps.set_working_directory": {"directory": "/srv/x"}}]
    assert prefect_seam.pull_step_storage(steps).to_pull_step() == steps


@pytest.mark.parametrize(("version", "description"), [(None, None), ("2.0", "given")], ids=["from-flow", "own"])
def test_flow_defaults_are_set_as_runner_deployment_sets_them(version: str | None, description: str | None) -> None:
    from prefect import flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.utilities.callables import parameter_schema

    @flow(name="seam-defaults-probe", version="9.9", description="from the flow")
    def probe(x: int = 1) -> None:
        pass

    theirs, ours = (RunnerDeployment(name="d", flow_name=probe.name, version=version, description=description) for _ in range(2))
    theirs._set_defaults_from_flow(probe)
    prefect_seam.set_defaults_from_flow(
        ours, parameter_schema=parameter_schema(probe), version=lambda: probe.version, description=lambda: probe.description
    )
    fields = lambda d: (d.version, d.description, d._version_from_flow, d._parameter_openapi_schema)  # noqa: E731
    assert fields(ours) == fields(theirs), "RunnerDeployment._set_defaults_from_flow sets other attributes now"


@pytest.mark.parametrize("in_git", [False, True], ids=["no-git", "git-repository"])
def test_version_info_is_what_runner_deployment_infers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_git: bool) -> None:
    import subprocess

    from prefect.deployments.runner import RunnerDeployment

    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "BITBUCKET_COMMIT", "BUILD_SOURCEVERSION"):  # CI variables Prefect reads first
        monkeypatch.delenv(name, raising=False)
    if in_git:
        for command in (["init", "-q"], ["remote", "add", "origin", "https://example.invalid/probe.git"],
                        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "probe commit"]):
            subprocess.run(["git", *command], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    theirs, ours = (RunnerDeployment(name="d", flow_name="f", version="1.0") for _ in range(2))
    expected = theirs._get_deployment_version_info(None)
    got = prefect_seam.deployment_version_info(ours, asyncio.run(prefect_seam.inferred_version_info(tmp_path)))
    assert (got, ours.version) == (expected, theirs.version), "RunnerDeployment._get_deployment_version_info infers differently now"
    assert got.type == ("vcs:git" if in_git else "prefect:simple")


def test_slas_are_refused_off_prefect_cloud(prefect_server: str) -> None:
    from prefect.client.orchestration import get_client

    async def apply() -> None:
        async with get_client() as client:
            await prefect_seam.apply_slas(client, uuid.uuid4(), [{"name": "probe", "duration": 60}])

    with using_api(prefect_server), pytest.raises(ValueError, match="only supported on Prefect Cloud"):
        asyncio.run(apply())


def test_a_deployment_created_from_the_payload_is_the_one_aapply_creates(prefect_server: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import RunnerDeployment
    from prefect.settings import PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY, temporary_settings
    from prefect.utilities.callables import parameter_schema

    def flow_function(automation: str) -> None:
        pass

    tag = uuid.uuid4().hex[:8]
    schedules = [{"schedule": {"interval": 300.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": "UTC"}, "active": True}]

    def probe(name: str) -> Any:
        deployment = RunnerDeployment(
            name=name, flow_name=f"seam-payload-{tag}", entrypoint="flows/conditions/watcher.py:condition_watcher", work_pool_name=f"pool-{tag}",
            work_queue_name=None, parameters={"automation": "x"}, description="d", version="1.0", tags=["t"], concurrency_limit=1,
            concurrency_options={"collision_strategy": "CANCEL_NEW"}, paused=None, job_variables={"env": {"A": "1"}},
            storage=prefect_seam.pull_step_storage([{"prefect.deployments.steps.set_working_directory": {"directory": "/srv"}}]),
        )
        prefect_seam.set_defaults_from_flow(
            deployment, parameter_schema=parameter_schema(flow_function), version=lambda: None, description=lambda: None
        )
        return deployment

    async def both() -> list[dict[str, Any]]:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=f"pool-{tag}", type="process"))
            with temporary_settings(updates={PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY: True}):
                first = await probe("a").aapply(schedules=schedules)
            theirs = probe("b")
            payload = prefect_seam.deployment_create_payload(theirs, schedules, prefect_seam.deployment_version_info(theirs, None))
            second = await client.create_deployment(flow_id=await client.create_flow_from_name(theirs.flow_name), **payload)
            read = [await client.read_deployment(i) for i in (first, second)]
        drop = {"id", "name", "created", "updated", "deployment_id", "global_concurrency_limit"}
        return [
            {k: v for k, v in d.model_dump(mode="json").items() if k not in drop}
            | {"schedules": [{k: v for k, v in s.items() if k not in drop} for s in d.model_dump(mode="json")["schedules"]]}
            for d in read
        ]

    with using_api(prefect_server):
        ours, theirs = asyncio.run(both())
    assert ours == theirs, "RunnerDeployment._create sends another create_deployment payload now"
# --- 13. cron_dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "zone", "start", "end", "expected"),
    [
        # The scheduler's DST rules (README "Cron and daylight saving time"), which croniter alone does not follow.
        ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00", "2026-03-29T12:00", ["2026-03-29T01:30:00+00:00"]),
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00", "2026-10-25T12:00", ["2026-10-25T00:30:00+00:00"]),
        ("0 2 * * *", "America/New_York", "2026-03-08T00:00", "2026-03-08T12:00", ["2026-03-08T07:00:00+00:00"]),
    ],
)
def test_cron_dates_are_the_servers_around_dst(cron: str, zone: str, start: str, end: str, expected: list[str]) -> None:
    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    assert [d.isoformat() for d in prefect_seam.cron_dates(cron, zone, utc(start), utc(end))] == expected


def test_cron_dates_go_past_the_schedules_candidate_cap_per_call() -> None:
    start, end = datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    dates = prefect_seam.cron_dates("* * * * *", "UTC", start, end)
    assert (len(dates), dates[0], dates[-1]) == (1441, start, end)
