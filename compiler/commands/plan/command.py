"""``python -m compiler plan`` (and ``deploy --plan``): exit 0 no changes, 2 changes, 1 error; changes nothing anywhere."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.commands.cli_failures import api_failure
from compiler.commands.deploy_options import add_deploy_command, deploy_target
from compiler.commands.output import err, out
from compiler.commands.plan.desired import desired_state
from compiler.commands.plan.diff import Plan, compute_plan
from compiler.commands.plan.observed import read_server
from compiler.commands.plan.report import plan_json, plan_lines
from compiler.language.deploy_config import BuildOptions
from compiler.language.diagnostics import Diagnostic
from compiler.language.prefect_names import PLATFORM_TAG

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_NO_CHANGES", "PlanError", "PlanResult", "add_command", "cmd_plan", "make_plan"]

EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
NO_API_MESSAGE = (
    "plan compares with the Prefect server deploy would use, and PREFECT_API_URL is not configured.\n"
    "Set it, e.g. `export PREFECT_API_URL=http://127.0.0.1:4200/api` (or `prefect config set PREFECT_API_URL=...`)."
)


class PlanError(RuntimeError):
    """The server could not be read; the message says why."""


@dataclass
class PlanResult:
    api_url: str
    plan: Plan = field(default_factory=Plan)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


async def _observe(api_url: str, options: BuildOptions, deployment_names: list[str], limit_names: list[str]) -> Any:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            problem = await client.api_healthcheck()
            if problem is not None:
                raise PlanError(api_failure(problem, api_url) or f"cannot reach the Prefect API at {api_url}: {problem}")
            return await read_server(
                client, work_pool=options.work_pool, deployment_names=deployment_names, limit_names=limit_names, tag=PLATFORM_TAG
            )


def make_plan(config_dir: Path, project_root: Path, options: BuildOptions, *, api_url: str, prune: bool = False) -> PlanResult:
    """Compare what deploy would apply with the server at ``api_url``; config errors come back in ``errors``.

    Raises PlanError when the server cannot be reached or read.
    """
    desired = desired_state(config_dir, project_root, options)
    result = PlanResult(api_url, errors=desired.errors, warnings=desired.warnings)
    if desired.errors:
        return result
    names = sorted({d["name"] for d in desired.deployments.values()})
    try:
        observed = asyncio.run(_observe(api_url, options, names, sorted(desired.limits)))
    except PlanError:
        raise
    except Exception as exc:  # any failed read is "cannot plan", with the reason
        reason = api_failure(exc, api_url) or f"reading the Prefect API at {api_url} failed: {type(exc).__name__}: {exc}"
        raise PlanError(reason) from exc
    result.plan = compute_plan(desired, observed, prune=prune)
    return result


# --------------------------------------------------------------------------------------------------
# Command line


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``plan`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = add_deploy_command(
        subparsers,
        "plan",
        summary="what deploy would change on PREFECT_API_URL (exit 0 no changes, 2 changes, 1 error); changes nothing",
        description="Compare what `deploy` would apply (deployments, schedules, triggers, parameters, job variables, "
        "concurrency and cooldown limits, Prefect automations) with the server, field by field. Read-only.",
        prune_help="also show what deploy --prune would delete (counted as changes)",
        func=cmd_plan,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan; also ``deploy --plan`` (its arguments have no ``--json``)."""
    target = deploy_target(args, NO_API_MESSAGE)
    if target is None:
        return EXIT_ERROR
    api_url, options = target
    try:
        result = make_plan(args.config_dir, args.project_root, options, api_url=api_url, prune=args.prune)
    except PlanError as exc:
        err(f"plan failed: {exc}")
        return EXIT_ERROR
    for diagnostic in (*result.errors, *result.warnings):
        err(str(diagnostic))
    if result.errors:
        err(f"plan: {len(result.errors)} error(s) in the configuration")
        return EXIT_ERROR
    if getattr(args, "json", False):
        out(json.dumps(plan_json(result.plan, api_url, prune=args.prune), indent=2, default=str))
    else:
        for line in plan_lines(result.plan, api_url, prune=args.prune):
            out(line)
    return EXIT_CHANGES if result.plan.has_changes else EXIT_NO_CHANGES
