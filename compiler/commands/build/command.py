"""``python -m compiler build [--check]``: options from deploy.yaml and flags, then what was written or is stale."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from compiler.commands.build.write import build, check
from compiler.commands.output import err, out, progress
from compiler.language.deploy_config import BuildOptions, pull_steps_for_directory, resolve_build_options
from compiler.language.diagnostics import Diagnostic


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``build [--check]`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = subparsers.add_parser(
        "build",
        help="write prefect.yaml and deployments/ (exit 0 ok, 1 config error or stale with --check)",
        description="Compile the automations into prefect.yaml and deployments/. Settings: configs/deploy.yaml; flags override it.",
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 and list the files that are out of date")
    p.add_argument(
        "--project-root", type=Path, help="folder receiving prefect.yaml and deployments/ (default: the project root, found from any subfolder)"
    )
    p.add_argument("--pool", dest="work_pool", help="work pool name (default: deploy.yaml's work_pool, else automations)")
    p.add_argument("--tag", dest="tags", action="append", help="extra deployment tag (repeatable; replaces deploy.yaml's tags)")
    p.add_argument(
        "--pull-directory",
        help="absolute folder workers run flows from (replaces the pull steps; default: the folder `prefect deploy` runs in)",
    )
    p.set_defaults(func=cmd_build)
    return p


def cmd_build(args: argparse.Namespace) -> int:
    """Run build or check; prints written/stale paths and diagnostics; returns 0 or 1."""
    config_dir: Path = args.config_dir
    pull = pull_steps_for_directory(args.pull_directory) if getattr(args, "pull_directory", None) else None
    options, option_errors = resolve_build_options(
        config_dir, work_pool=getattr(args, "work_pool", None), extra_tags=getattr(args, "tags", None), pull_steps=pull
    )
    if options is None:
        for diagnostic in option_errors:
            err(str(diagnostic))
        return 1
    root: Path = args.project_root
    return _check(config_dir, root, options) if args.check else _build(config_dir, root, options)


def _failed(errors: tuple[Diagnostic, ...], warnings: tuple[Diagnostic, ...], summary: str) -> bool:
    """Print the diagnostics; with errors, also ``summary``: True when there were any."""
    for diagnostic in (*errors, *warnings):
        err(str(diagnostic))
    if errors:
        err(summary)
    return bool(errors)


def _check(config_dir: Path, root: Path, options: BuildOptions) -> int:
    with progress("checking automations") as step:
        result = check(config_dir, root, options, step)
    if _failed(result.errors, result.warnings, f"build --check: {len(result.errors)} error(s) in the configuration"):
        return 1
    for path in result.stale:
        err(f"stale: {path.as_posix()}")
    if result.stale:
        err(f"{len(result.stale)} generated file(s) out of date; run: python -m compiler build")
        return 1
    out("generated files are up to date")
    return 0


def _build(config_dir: Path, root: Path, options: BuildOptions) -> int:
    with progress("building automations") as step:
        built = build(config_dir, root, options, step)
    if _failed(built.errors, built.warnings, f"build: {len(built.errors)} error(s); nothing written"):
        return 1
    for path in built.written:
        out(f"wrote {path.as_posix()}")
    for path in built.removed:
        out(f"removed {path.as_posix()}")
    out(f"{len(built.written)} written, {len(built.removed)} removed, {len(built.unchanged)} unchanged")
    return 0
