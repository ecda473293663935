"""Deploy: build, then put everything on the configured Prefect server (``python -m compiler deploy``).

Steps, each idempotent (deploying twice changes nothing):

1. build (``compiler.commands.build.build``); any config error stops here and nothing is deployed;
2. make sure the work pool exists (a ``process`` pool, created when missing);
3. ``prefect deploy --all --no-prompt`` in the project root, as a subprocess with
   ``deploy_environment(project_root)`` (so the ``{{ $PWD }}`` pull step is the project folder);
4. the cooldown concurrency limits and Prefect automations (``apply_server_objects``);
5. with ``prune``: delete our deployments that prefect.yaml no longer lists (automation removed,
   disabled, or no longer a condition automation for its watcher), their trigger automations, and
   cooldown limits no automation uses any more. Plain ``prefect deploy`` never deletes anything.

Deploy needs a real, configured API (``PREFECT_API_URL`` in the environment or the active profile):
workers must reach the same server, so the embedded local server is never used here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.build import CONCURRENCY_LIMITS_PATH, PREFECT_YAML_PATH, BuildResult, build
from compiler.commands.cli_failures import api_failure
from compiler.commands.deploy_options import add_deploy_command, deploy_target
from compiler.commands.output import err, out, progress
from compiler.commands.plan.command import cmd_plan
from compiler.language.deploy_config import (
    BuildOptions,
    apply_server_objects,
    deploy_environment,
    resolve_build_options,
)
from compiler.language.diagnostics import Diagnostic
from compiler.language.prefect_names import (
    AUTOMATIONS_MODULE,
    COOLDOWN_LIMIT_PREFIX,
    PLATFORM_TAG,
    WATCHER_ENTRYPOINT,
    WATCHER_FLOW_NAME,
    is_ours,
)
from compiler.language.project import shown_path

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = [
    "DeployError",
    "DeployResult",
    "add_command",
    "cmd_deploy",
    "deploy",
    "ensure_work_pool",
    "last_meaningful_line",
    "prune",
    "run_prefect_deploy",
]

WORK_POOL_TYPE = "process"
PREFECT_DEPLOY_TIMEOUT_SECONDS = 600
PREFECT_DEPLOY_LOG = Path("var/prefect-deploy.log")  # the last `prefect deploy`'s output, under the project root
_PAGE = 200  # the API caps reads at 200 per call

NO_API_MESSAGE = (
    "deploy needs a Prefect server that the workers use too, and PREFECT_API_URL is not configured.\n"
    "Set it, e.g. `export PREFECT_API_URL=http://127.0.0.1:4200/api` (or `prefect config set PREFECT_API_URL=...`),\n"
    "or run the automations on this machine without deploying: `python -m compiler serve`."
)


class DeployError(RuntimeError):
    """Deploying could not proceed or did not complete; the message says what to do."""


@dataclass(frozen=True)
class DeployResult:
    """What one deploy did (``errors`` set: the build refused and nothing was deployed)."""

    api_url: str = ""
    built: BuildResult | None = None
    errors: tuple[Diagnostic, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    work_pool: str = ""
    work_pool_created: bool = False
    deployments: tuple[str, ...] = ()  # "flow/deployment" as reported by `prefect deploy`
    applied: tuple[str, ...] = ()  # concurrency limits and Prefect automations
    pruned: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------------------------------
# Steps


async def ensure_work_pool(client: PrefectClient, name: str) -> tuple[bool, str | None]:
    """(created, note): create a process pool called ``name`` when missing; a note when it has another type."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
        from prefect.workers.process import ProcessWorker

        try:
            await client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type=WORK_POOL_TYPE,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
        except ObjectAlreadyExists:
            return False, None  # created by someone else meanwhile
        return True, None
    if pool.type != WORK_POOL_TYPE:
        return False, f"work pool '{name}' has type '{pool.type}', not '{WORK_POOL_TYPE}'; its workers must run flows from this project folder"
    return False, None


def _expected_deployments(project_root: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((project_root / PREFECT_YAML_PATH).read_text(encoding="utf-8")) or {}
    return list(data.get("deployments") or [])


def run_prefect_deploy(
    project_root: Path, api_url: str, expected: int, progress: Callable[[int, int], None] | None = None
) -> list[str]:
    """Run ``prefect deploy --all --no-prompt``; the deployed "flow/name" list, or DeployError saying what failed
    in one line (its whole output is kept in ``var/prefect-deploy.log``).

    Its output is read as it comes, so ``progress(done, expected)`` follows each deployment created.
    """
    env = deploy_environment(project_root)
    env["PREFECT_API_URL"] = api_url
    env.setdefault("NO_COLOR", "1")
    env["COLUMNS"] = "250"  # one panel line per deployment in the captured output
    prefect_bin = Path(sys.executable).with_name("prefect")
    command = [str(prefect_bin) if prefect_bin.exists() else "prefect", "deploy", "--all", "--no-prompt"]
    lines: list[str] = []
    deployed: list[str] = []
    with subprocess.Popen(
        command, cwd=project_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    ) as proc:
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(PREFECT_DEPLOY_TIMEOUT_SECONDS, expire)
        timer.start()
        try:
            for line in proc.stdout or ():
                lines.append(line)
                if "successfully created with id" in line and "Deployment '" in line:
                    deployed.append(line.split("Deployment '", 1)[1].split("'", 1)[0])
                    if progress is not None:
                        progress(len(deployed), expected)
            returncode = proc.wait()
        finally:
            timer.cancel()
    kept = _keep_output(project_root, "".join(lines))
    if expired.is_set():
        raise DeployError(f"`prefect deploy --all` did not finish within {PREFECT_DEPLOY_TIMEOUT_SECONDS} s{kept}")
    if returncode != 0 or len(deployed) != expected:
        raise DeployError(
            f"`prefect deploy --all --no-prompt` failed (exit {returncode}, {len(deployed)} of {expected} "
            f"deployment(s) created): {last_meaningful_line(''.join(lines)) or 'no output'}{kept}; "
            "fix what it says, then run deploy again"
        )
    return deployed


# Lines of a tool's output that never say what failed: Prefect CLI's closing line and traceback scaffolding.
_NOISE = ("An exception occurred.", "Traceback (most recent call last):", "During handling of the above exception",
          "The above exception was the direct cause")


def last_meaningful_line(output: str) -> str:
    """What a failed tool says went wrong: its last line that is not blank, indented (a traceback frame or
    source line), a caret marker or Prefect CLI's closing "An exception occurred."."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        if not text or line[:1].isspace() or text.startswith(_NOISE) or not text.strip("^~ "):
            continue
        return text
    return ""


def _keep_output(project_root: Path, output: str) -> str:
    """Write `prefect deploy`'s whole output to ``var/prefect-deploy.log`` under the project root; the
    clause naming it for a failure's message (empty when it could not be written)."""
    path = project_root / PREFECT_DEPLOY_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output, encoding="utf-8")
    except OSError:
        return ""
    return f" (its whole output: {shown_path(path.resolve())})"


async def _all_deployments(client: PrefectClient) -> list[Any]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found: list[Any] = []
    offset = 0
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG])), limit=_PAGE, offset=offset
        )
        found.extend(page)
        if len(page) < _PAGE:
            return found
        offset += _PAGE


async def _all_limits(client: PrefectClient) -> list[Any]:
    found: list[Any] = []
    offset = 0
    while True:
        page = await client.read_global_concurrency_limits(limit=_PAGE, offset=offset)
        found.extend(page)
        if len(page) < _PAGE:
            return found
        offset += _PAGE


async def prune(client: PrefectClient, project_root: Path) -> list[str]:
    """Delete our deployments prefect.yaml does not list (with their triggers) and unused cooldown limits.

    "Ours": tagged platform-god with an entrypoint in flows/automations.py or the watcher's. A deployment
    is identified by (entrypoint, name), so a watcher is removed when its automation stops being a
    condition automation even though the automation's own deployment stays.
    """
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.exceptions import ObjectNotFound

    expected = {(d["entrypoint"], d["name"]) for d in _expected_deployments(project_root)}
    removed: list[str] = []
    for deployment in await _all_deployments(client):
        if not is_ours(deployment) or (deployment.entrypoint, deployment.name) in expected:
            continue
        # `prefect deploy` made the trigger an automation owned by the deployment; deleting the
        # deployment leaves it behind on the server, so it goes first.
        await client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
        try:
            await client.delete_deployment(deployment.id)
        except ObjectNotFound:
            continue
        flow_name = WATCHER_FLOW_NAME if deployment.entrypoint == WATCHER_ENTRYPOINT else deployment.entrypoint.rsplit(":", 1)[1]
        removed.append(f"deployment {flow_name}/{deployment.name} ({deployment.entrypoint})")
    limits_file = project_root / CONCURRENCY_LIMITS_PATH
    wanted = {limit["name"] for limit in json.loads(limits_file.read_text(encoding="utf-8"))}
    for limit in await _all_limits(client):
        if limit.name.startswith(COOLDOWN_LIMIT_PREFIX) and limit.name not in wanted:
            try:
                await client.delete_global_concurrency_limit_by_name(limit.name)
            except ObjectNotFound:
                continue
            removed.append(f"concurrency limit {limit.name}")
    return removed


async def _server_steps(
    project_root: Path, work_pool: str, api_url: str, do_prune: bool, progress: Callable[[int, int], None] | None = None
) -> tuple[bool, str | None, list[str], list[str], list[str]]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            problem = await client.api_healthcheck()
            if problem is not None:
                raise DeployError(api_failure(problem, api_url) or f"cannot reach the Prefect API at {api_url}: {problem}")
            created, note = await ensure_work_pool(client, work_pool)
        expected = len(_expected_deployments(project_root))
        deployed = await asyncio.to_thread(run_prefect_deploy, project_root, api_url, expected, progress)
        async with get_client() as client:
            applied = await apply_server_objects(client, project_root)
            pruned = await prune(client, project_root) if do_prune else []
    return created, note, deployed, applied, pruned


def deploy(
    config_dir: Path,
    project_root: Path,
    options: BuildOptions | None = None,
    *,
    prune: bool = False,
    api_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DeployResult:
    """Build and deploy. Config errors: a result with ``errors`` and nothing deployed.

    Raises DeployError when no API is configured (``api_url`` None and no PREFECT_API_URL), the API is
    unreachable, or `prefect deploy` fails.
    """
    url = api_url or configured_api_url()
    if not url:
        raise DeployError(NO_API_MESSAGE)
    if not (project_root / AUTOMATIONS_MODULE).is_file():
        # `prefect deploy` loads every flow from the project root: without them it fails after the build.
        raise DeployError(
            f"{project_root.resolve()} holds no {AUTOMATIONS_MODULE}: `prefect deploy` loads the flows from the "
            "project root; run deploy in the project's checkout, or give --project-root"
        )
    if options is None:
        options, option_errors = resolve_build_options(config_dir)
        if options is None:
            return DeployResult(api_url=url, errors=tuple(option_errors))
    built = build(config_dir, project_root, options)
    if not built.ok:
        return DeployResult(api_url=url, built=built, errors=built.errors, warnings=built.warnings)
    created, note, deployed, applied, pruned = asyncio.run(_server_steps(project_root, options.work_pool, url, prune, progress))
    return DeployResult(
        api_url=url,
        built=built,
        warnings=built.warnings,
        work_pool=options.work_pool,
        work_pool_created=created,
        deployments=tuple(deployed),
        applied=tuple(applied),
        pruned=tuple(pruned),
        notes=(note,) if note else (),
    )


# --------------------------------------------------------------------------------------------------
# Command line


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``deploy`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = add_deploy_command(
        subparsers,
        "deploy",
        summary="build, then deploy everything to PREFECT_API_URL (exit 0 ok, 1 config or deploy error)",
        description="Build prefect.yaml and deployments/, make sure the work pool exists, run `prefect deploy --all`, "
        "create the cooldown limits and Prefect automations; --prune also deletes what no automation produces any more.",
        prune_help="delete deployments and cooldown limits of removed or disabled automations",
        func=cmd_deploy,
    )
    p.add_argument("--plan", action="store_true", help="deploy nothing: show what would change, like `plan` (exit 0 none, 2 changes, 1 error)")
    return p


def cmd_deploy(args: argparse.Namespace) -> int:
    """Run deploy; prints what was deployed, applied and pruned; returns 0 or 1."""
    if getattr(args, "plan", False):
        return cmd_plan(args)
    target = deploy_target(args, NO_API_MESSAGE)
    if target is None:
        return 1
    api_url, options = target
    try:
        with progress("deploying automations") as step:
            result = deploy(args.config_dir, args.project_root, options, prune=args.prune, api_url=api_url, progress=step)
    except DeployError as exc:
        err(f"deploy failed: {exc}")
        return 1
    for diagnostic in (*result.errors, *result.warnings):
        err(str(diagnostic))
    if result.errors:
        err(f"deploy: {len(result.errors)} error(s) in the configuration; nothing deployed")
        return 1
    out(f"Prefect API: {result.api_url}")
    if result.built is not None and (result.built.written or result.built.removed):
        out(f"build: {len(result.built.written)} file(s) written, {len(result.built.removed)} removed")
    out(f"work pool {result.work_pool}: {'created' if result.work_pool_created else 'exists'}")
    for note in result.notes:
        err(f"note: {note}")
    for name in result.deployments:
        out(f"deployed {name}")
    for line in result.applied:
        out(f"applied {line}")
    for line in result.pruned:
        out(f"pruned {line}")
    out(
        f"{len(result.deployments)} deployment(s), {len(result.applied)} server object(s)"
        + (f", {len(result.pruned)} pruned" if args.prune else "")
    )
    return 0
