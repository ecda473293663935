"""``deploy`` applies the plan against the session's real Prefect server: the server state equals what plain
`prefect deploy --all` leaves (in both orders), only what changed is written, removed automations are deleted
with --prune, writes are bounded, and one failing deployment is reported in one line while the others apply.

Each test deploys its own small project (names carry a fresh tag): the server is shared by the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.commands.cli import main
from compiler.commands.deploy import deploy, run_prefect_deploy
from tests.prefect_support import ROOT, using_api

SAY = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: hello}\n"
# Volatile per write, whoever writes: ids, timestamps, and the concurrency limit's own object.
_VOLATILE = {"id", "created", "updated", "flow_id", "deployment_id", "work_queue_id", "last_polled", "status", "global_concurrency_limit"}


def _bodies(tag: str) -> dict[str, str]:
    """An event automation (queue), a cron one, a condition one (skip): every kind of deployment the build makes."""
    return {
        f"{tag}_event": (
            "overlap: queue\ntrigger:\n  type: event\n  event: {event_type: custom, custom_type: " + tag + "}\n  cooldown_seconds: 600\n" + SAY
        ),
        f"{tag}_cron": "trigger:\n  type: time\n  time: {cron_expression: '15 3 * * 1-5', timezone_str: Europe/Berlin}\n" + SAY,
        f"{tag}_cond": (
            "overlap: skip\ntrigger:\n  type: condition\n  condition: {metric_path: $.m, operator: gt, threshold: 1, check_interval_seconds: 60}\n"
            "  cooldown_seconds: 120\n" + SAY
        ),
    }


@pytest.fixture
def project(prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A fresh project (its own tag and work pool) pointed at the session's server; (project, tag)."""
    tag = f"ap{uuid.uuid4().hex[:6]}"
    project = tmp_path / "project"
    folder = project / "configs" / "automations"
    folder.mkdir(parents=True)
    (project / "configs" / "chains").symlink_to(ROOT / "configs" / "chains", target_is_directory=True)
    (project / "configs" / "deploy.yaml").write_text(f"work_pool: pool-{tag}\n", encoding="utf-8")
    for name, body in _bodies(tag).items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    (project / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    with using_api(prefect_server):
        yield project, tag


def cli(project: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["--config-dir", str(project / "configs" / "automations"), *args, "--project-root", str(project)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def prefect_deploy_all(project: Path, api_url: str) -> None:
    """Plain `prefect deploy --all --no-prompt` on the project's prefect.yaml, as a CI job without our deploy would run it."""
    import yaml

    expected = len(yaml.safe_load((project / "prefect.yaml").read_text(encoding="utf-8"))["deployments"])
    run_prefect_deploy(project, api_url, expected)


def summary(out: str, kind: str = "deployments") -> tuple[int, int, int, int]:
    line = next(line for line in out.splitlines() if line.startswith(f"{kind}: "))
    created, updated, deleted, unchanged = (int(part.split()[0]) for part in line.split(": ", 1)[1].split(", ")[:4])
    return created, updated, deleted, unchanged


def _without(data: Any, deployment_id: str = "") -> Any:
    if isinstance(data, dict):
        return {k: (None if v == deployment_id else _without(v, deployment_id)) for k, v in data.items() if k not in _VOLATILE}
    if isinstance(data, list):
        return [_without(v, deployment_id) for v in data]
    return "<this deployment>" if deployment_id and isinstance(data, str) and deployment_id in data else data


async def server_state(tag: str) -> dict[str, Any]:
    """Every field of this project's deployments and their trigger automations, less ids and timestamps."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    state: dict[str, Any] = {}
    async with get_client() as client:
        deployments = await client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=tag)))
        for d in deployments:
            deployment_id = str(d.id)
            triggers = await client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
            state[d.name] = {
                **_without(d.model_dump(mode="json"), deployment_id),
                "flow": (await client.read_flow(d.flow_id)).name,
                "limit": d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
                "triggers": sorted((_without(a.model_dump(mode="json"), deployment_id) for a in triggers), key=json.dumps),
            }
    return state


async def delete_deployments(tag: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        for d in await client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=tag))):
            await client.delete_resource_owned_automations(f"prefect.deployment.{d.id}")
            await client.delete_deployment(d.id)


# --------------------------------------------------------------------------------------------------
# The same server state as `prefect deploy --all`


def test_deployments_created_by_either_are_the_same(project: tuple[Path, str], prefect_server: str) -> None:
    root, tag = project
    assert cli(root, "build")[0] == 0
    code, _, _ = cli(root, "deploy")  # the work pool, limits and the zombie-run automation
    assert code == 0
    ours = asyncio.run(server_state(tag))
    asyncio.run(delete_deployments(tag))
    prefect_deploy_all(root, prefect_server)
    assert asyncio.run(server_state(tag)) == ours


def test_prefect_deploy_after_ours_leaves_the_same_state_and_plan_clean(project: tuple[Path, str], prefect_server: str) -> None:
    root, tag = project
    assert cli(root, "deploy")[0] == 0
    ours = asyncio.run(server_state(tag))
    prefect_deploy_all(root, prefect_server)
    assert (asyncio.run(server_state(tag)), cli(root, "plan")[0]) == (ours, 0)


def test_our_deploy_after_prefect_deploy_writes_no_deployment_and_plan_is_clean(project: tuple[Path, str], prefect_server: str) -> None:
    root, _ = project
    assert cli(root, "deploy")[0] == 0  # the work pool and limits; then the deployments as plain CI writes them
    prefect_deploy_all(root, prefect_server)
    code, out, err = cli(root, "deploy")
    assert (code, summary(out), cli(root, "plan")[0]) == (0, (0, 0, 0, 4), 0), out + err


# --------------------------------------------------------------------------------------------------
# Only what changed


def test_one_changed_automation_is_the_one_update(project: tuple[Path, str]) -> None:
    root, tag = project
    assert cli(root, "deploy")[0] == 0
    path = root / "configs" / "automations" / f"{tag}_cron.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("15 3 * * 1-5", "45 4 * * *"), encoding="utf-8")
    code, out, _ = cli(root, "deploy")
    written = [line for line in out.splitlines() if line[:2] in ("+ ", "~ ", "- ")]
    assert (code, written, summary(out)) == (0, [f"~ deployment {tag}_cron/{tag}_cron"], (0, 1, 0, 3))


def test_a_removed_automation_is_deleted_with_prune(project: tuple[Path, str]) -> None:
    root, tag = project
    assert cli(root, "deploy")[0] == 0
    (root / "configs" / "automations" / f"{tag}_cond.yaml").unlink()
    code, out, _ = cli(root, "deploy", "--prune")
    deleted = sorted(line for line in out.splitlines() if line.startswith("- ") and tag in line)  # the server is shared
    assert (code, deleted) == (0, sorted([
        f"- deployment {tag}_cond/{tag}_cond",
        f"- deployment condition-watcher/{tag}_cond-condition-watcher",
        f"- concurrency limit automation-cooldown-{tag}_cond",
    ]))
    assert sorted(asyncio.run(server_state(tag))) == [f"{tag}_cron", f"{tag}_event"]


def test_prune_deletes_our_left_over_prefect_automations_only(project: tuple[Path, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    root, tag = project
    probe = {"trigger": {"type": "event", "expect": [f"probe.{tag}"]}, "actions": [{"type": "do-nothing"}]}

    async def create_and_list() -> list[str]:
        async with get_client() as client:
            for name in (f"platform-god-left-over-{tag}", f"someone-else-{tag}"):
                await client.create_automation(AutomationCore.model_validate({"name": name, **probe}))
        code, out, _ = await asyncio.to_thread(cli, root, "deploy", "--prune")
        assert code == 0, out
        async with get_client() as client:
            return sorted(a.name for a in await client.read_automations() if tag in a.name and "trigger" not in a.name)

    assert asyncio.run(create_and_list()) == [f"someone-else-{tag}"]


def test_a_deployment_edited_on_the_server_is_put_back_as_it_was_deployed(project: tuple[Path, str]) -> None:
    """Paused in the UI, moved to another queue, tags and description edited: deploy writes it back (prefect deploy would too)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    root, tag = project
    assert cli(root, "deploy")[0] == 0
    deployed = asyncio.run(server_state(tag))

    async def edit() -> None:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(f"{tag}_cron/{tag}_cron")
            drift = DeploymentUpdate(paused=True, work_queue_name="elsewhere", tags=["edited"], description="edited in the UI")
            await client.update_deployment(deployment.id, drift)

    asyncio.run(edit())
    code, out, _ = cli(root, "deploy")
    assert (code, summary(out), asyncio.run(server_state(tag))) == (0, (0, 1, 0, 3), deployed)


# --------------------------------------------------------------------------------------------------
# Bounded concurrency, failures


class CountingProxy:
    """A real HTTP proxy in front of the Prefect API that records how many writes were under way at once (reads,
    ``/filter`` and GET, are not counted: the plan's four bulk reads run side by side)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/api")
        self.in_flight = self.most = 0
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                write = self.command != "GET" and not self.path.rstrip("/").endswith(("/filter", "/count"))
                with lock:
                    proxy.in_flight += write
                    proxy.most = max(proxy.most, proxy.in_flight)
                try:
                    body = self.rfile.read(int(self.headers.get("content-length") or 0))
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                    answer = httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers, timeout=120)
                finally:
                    with lock:
                        proxy.in_flight -= write
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def __enter__(self) -> CountingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_writes_are_bounded_by_the_concurrency(project: tuple[Path, str], prefect_server: str) -> None:
    root, tag = project
    folder = root / "configs" / "automations"
    for i in range(4):  # 8 deployments and 7 limits to write in all
        (folder / f"{tag}_more{i}.yaml").write_text(f"name: {tag}_more{i}\n" + _bodies(tag)[f"{tag}_event"], encoding="utf-8")
    with CountingProxy(prefect_server) as proxy:
        result = deploy(folder, root, api_url=proxy.url, concurrency=2)
    assert result.ok and len(result.deployments) == 8 and proxy.most <= 2, (result, proxy.most)


def test_a_deployment_the_server_refuses_is_reported_in_one_line_and_left_absent(project: tuple[Path, str]) -> None:
    """A metric trigger (Prefect Cloud only: the open-source server answers 422) in a hand-edited prefect.yaml."""
    import yaml
    from prefect.client.orchestration import get_client

    from compiler.commands.build import PREFECT_YAML_PATH, build
    from compiler.commands.plan.apply import apply_outputs
    from compiler.language.deploy_config import resolve_build_options

    root, tag = project
    options, _ = resolve_build_options(root / "configs" / "automations")
    assert options is not None
    outputs = dict(build(root / "configs" / "automations", root, options).outputs)
    data = yaml.safe_load(outputs[PREFECT_YAML_PATH])
    broken = next(d for d in data["deployments"] if d["name"] == f"{tag}_event")
    broken["triggers"] = [{"type": "metric", "metric": {"name": "duration", "threshold": 1, "operator": ">", "range": 300, "firing_for": 300}}]
    outputs[PREFECT_YAML_PATH] = yaml.safe_dump(data)

    async def apply() -> Any:
        from prefect.exceptions import ObjectNotFound

        from compiler.commands.deploy import ensure_work_pool

        async with get_client() as client:
            await ensure_work_pool(client, options.work_pool)
            report = await apply_outputs(client, outputs, root, options)
            try:
                await client.read_deployment_by_name(f"{tag}_event/{tag}_event")
                present = True
            except ObjectNotFound:
                present = False
        return report, present

    report, present = asyncio.run(apply())
    (failure,) = report.failed
    assert failure.startswith(f"deployment {tag}_event/{tag}_event: the server answered 422") and "\n" not in failure
    assert (present, sorted(n for k, n in report.created if k == "deployment")) == (
        False, sorted([f"{tag}_cron/{tag}_cron", f"{tag}_cond/{tag}_cond", f"condition-watcher/{tag}_cond-condition-watcher"])
    )
