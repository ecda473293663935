"""Deploy: build, then apply what differs on the configured Prefect server (``python -m compiler deploy``).

Steps, each idempotent (deploying twice changes nothing):

1. build (``compiler.commands.build.build``); any config error stops here and nothing is deployed;
2. make sure the work pool exists (a ``process`` pool, created when missing);
3. apply the plan (``compiler.commands.plan.apply``): the cooldown concurrency limits, the Prefect automations and
   the deployments that differ from the server are created or updated, the deployments exactly as
   ``prefect deploy --all --no-prompt`` in the project root writes them (so plain ``prefect deploy`` stays a
   supported CI path and ``plan`` reports no changes after either);
4. with ``prune``: delete our deployments that prefect.yaml no longer lists (automation removed, disabled, or
   no longer a condition automation for its watcher) with their trigger automations, cooldown limits no
   automation uses any more, and our Prefect automations the build no longer produces. Plain
   ``prefect deploy`` never deletes anything.

Deploy needs a real, configured API (``PREFECT_API_URL`` in the environment or the active profile):
workers must reach the same server, so the embedded local server is never used here.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.build import BuildResult, build
from compiler.commands.cli_failures import api_failure
from compiler.commands.deploy_options import add_deploy_command, deploy_target
from compiler.commands.output import err, out, progress
from compiler.commands.plan.apply import DEFAULT_CONCURRENCY, ApplyReport, apply_outputs
from compiler.commands.plan.command import cmd_plan
from compiler.language.deploy_config import (
    BuildOptions,
    deploy_environment,
    resolve_build_options,
)
from compiler.language.diagnostics import Diagnostic
from compiler.language.prefect_names import AUTOMATIONS_MODULE
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
    "run_prefect_deploy",
]

WORK_POOL_TYPE = "process"
PREFECT_DEPLOY_TIMEOUT_SECONDS = 600
PREFECT_DEPLOY_LOG = Path("var/prefect-deploy.log")  # the last `prefect deploy`'s output, under the project root

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
    deployments: tuple[str, ...] = ()  # "flow/deployment" of each deployment created or updated
    applied: tuple[str, ...] = ()  # concurrency limits and Prefect automations
    pruned: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    report: ApplyReport | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and (self.report is None or self.report.ok)


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


def run_prefect_deploy(
    project_root: Path, api_url: str, expected: int, progress: Callable[[int, int], None] | None = None
) -> list[str]:
    """Run plain ``prefect deploy --all --no-prompt`` (the CI path without our deploy; tests compare with it);
    the deployed "flow/name" list, or DeployError saying what failed in one line (its whole output is kept in
    ``var/prefect-deploy.log``).

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


async def _server_steps(
    built: BuildResult, project_root: Path, options: BuildOptions, api_url: str, do_prune: bool, concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[bool, str | None, ApplyReport]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.prefect_api.clients import shared_api_clients

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            problem = await client.api_healthcheck()
        if problem is not None:
            raise DeployError(api_failure(problem, api_url) or f"cannot reach the Prefect API at {api_url}: {problem}")
        # One client for every request, Prefect's own RunnerDeployment.aapply included (it asks get_client()).
        async with shared_api_clients(), get_client() as client:
            created, note = await ensure_work_pool(client, options.work_pool)
            report = await apply_outputs(
                client, dict(built.outputs), project_root, options, prune=do_prune, concurrency=concurrency, progress=progress
            )
    return created, note, report


def deploy(
    config_dir: Path,
    project_root: Path,
    options: BuildOptions | None = None,
    *,
    prune: bool = False,
    api_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
) -> DeployResult:
    """Build, then apply what differs from the server. Config errors: a result with ``errors`` and nothing deployed.

    Raises DeployError when no API is configured (``api_url`` None and no PREFECT_API_URL) or the API is
    unreachable; objects the server refuses are in ``report.failed`` (the others are applied).
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
    try:
        created, note, report = asyncio.run(
            _server_steps(built, project_root, options, url, prune, concurrency or DEFAULT_CONCURRENCY, progress)
        )
    except DeployError:
        raise
    except Exception as exc:  # a failed read of the server: one line, in our words
        raise DeployError(f"reading the Prefect API at {url} failed: {type(exc).__name__}: {exc}") from exc
    return DeployResult(
        api_url=url,
        built=built,
        warnings=built.warnings,
        work_pool=options.work_pool,
        work_pool_created=created,
        deployments=tuple(name for kind, name in (*report.created, *report.updated) if kind == "deployment"),
        applied=tuple(f"{kind} {name}" for kind, name in (*report.created, *report.updated) if kind != "deployment"),
        pruned=tuple(f"{kind} {name}" for kind, name in report.deleted),
        notes=((note,) if note else ()) + tuple(report.notes),
        report=report,
    )


# --------------------------------------------------------------------------------------------------
# Command line


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``deploy`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = add_deploy_command(
        subparsers,
        "deploy",
        summary="build, then deploy everything to PREFECT_API_URL (exit 0 ok, 1 config or deploy error)",
        description=(
            "Build prefect.yaml and deployments/, make sure the work pool exists, then create or update only the "
            "deployments, cooldown limits and Prefect automations that differ from the server (deployments exactly as "
            "`prefect deploy --all` writes them); --prune also deletes what no automation produces any more."
        ),
        prune_help="also delete deployments, cooldown limits and Prefect automations of removed or disabled automations",
        func=cmd_deploy,
    )
    p.add_argument("--plan", action="store_true", help="deploy nothing: show what would change, like `plan` (exit 0 none, 2 changes, 1 error)")
    p.add_argument(
        "--concurrency", type=int, default=None, metavar="N", help=f"server writes under way at once (default: {DEFAULT_CONCURRENCY})"
    )
    return p


def cmd_deploy(args: argparse.Namespace) -> int:
    """Run deploy; prints what was deployed, applied and pruned; returns 0 or 1."""
    if getattr(args, "plan", False):
        return cmd_plan(args)
    target = deploy_target(args, NO_API_MESSAGE)
    if target is None:
        return 1
    api_url, options = target
    if args.concurrency is not None and args.concurrency < 1:
        err("deploy: --concurrency must be at least 1")
        return 1
    try:
        with progress("deploying automations") as step:
            result = deploy(
                args.config_dir, args.project_root, options, prune=args.prune, api_url=api_url, progress=step, concurrency=args.concurrency
            )
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
    report = result.report
    assert report is not None
    for line in report.lines():
        (err if line.startswith("failed: ") else out)(line)
    if not report.ok:
        err(f"deploy: {len(report.failed)} object(s) failed; the others were applied (`plan` shows what is still different)")
        return 1
    return 0
