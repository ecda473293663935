"""The flags deploy and plan share: one argparse parent parser, and the build options they resolve to."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.output import err
from compiler.language.deploy_config import BuildOptions, pull_steps_for_directory, resolve_build_options

__all__ = ["add_deploy_command", "deploy_target", "deploy_target_parser"]


def add_deploy_command(
    subparsers: Any, name: str, *, summary: str, description: str, prune_help: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Register command ``name`` (run by ``func``) with the flags of ``deploy_target_parser``; the caller adds its own."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, parents=[deploy_target_parser(prune_help)], help=summary, description=description
    )
    parser.set_defaults(func=func)
    return parser


def deploy_target_parser(prune_help: str) -> argparse.ArgumentParser:
    """``--project-root``, ``--pool``, ``--tag``, ``--pull-directory`` and ``--prune`` (what it does: ``prune_help``):
    give it as ``parents=[...]`` of a subparser."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--project-root",
        type=Path,
        help="folder with flows/ that receives prefect.yaml and deployments/ (default: the project root, found from any subfolder)",
    )
    parent.add_argument("--pool", dest="work_pool", help="work pool name (default: deploy.yaml's work_pool, else automations)")
    parent.add_argument("--tag", dest="tags", action="append", help="extra deployment tag (repeatable; replaces deploy.yaml's tags)")
    parent.add_argument("--pull-directory", help="absolute folder workers run flows from (default: the project root)")
    parent.add_argument("--prune", action="store_true", help=prune_help)
    return parent


def deploy_target(args: argparse.Namespace, no_api_message: str) -> tuple[str, BuildOptions] | None:
    """The configured Prefect API and the build options (``configs/deploy.yaml`` with the flags of
    ``deploy_target_parser`` applied); None after printing why not (``no_api_message``, or the deploy.yaml problems)."""
    api_url = configured_api_url()
    if not api_url:
        err(no_api_message)
        return None
    pull = pull_steps_for_directory(args.pull_directory) if args.pull_directory else None
    options, problems = resolve_build_options(args.config_dir, work_pool=args.work_pool, extra_tags=args.tags, pull_steps=pull)
    if options is None:
        for diagnostic in problems:
            err(str(diagnostic))
        return None
    return api_url, options
