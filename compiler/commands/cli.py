"""``python -m compiler``: the parser (one module per command registers its own) and the run of one command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from compiler.commands import build, deploy, dry_run, inspect, run, runs, serve, server, webhooks
from compiler.commands.automation_tests import command as test_command
from compiler.commands.cli_failures import report_failure
from compiler.commands.output import err, finish_output
from compiler.commands.plan import command as plan_command
from compiler.commands.replay import command as replay_command
from compiler.language.project import find_project_root, project_path, shown_path

__all__ = ["build_parser", "main"]

DEFAULT_CONFIG_DIR = Path("configs/automations")  # under the project root, found from any subfolder
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


# What `--help` opens with (the module docstring is for the code's readers, not the tool's users).
DESCRIPTION = (
    "Platform God automations: check the YAML automations in configs/automations/, test and run them, "
    "and compile them into Prefect deployments, schedules and triggers to deploy to a Prefect server "
    "or serve on this machine."
)
EPILOG = "`python -m compiler COMMAND --help` shows a command's options."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compiler", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument(
        "--config-dir", type=Path, default=None,
        help="folder of automation files (default: configs/automations of the project root, found from any subfolder)",
    )
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    inspect.add_commands(sub)
    for module in (run, runs, dry_run, server, build, deploy, plan_command, replay_command, test_command, serve, webhooks):
        module.add_command(sub)
    for choice in sub._choices_actions:  # a command's own --help opens with its one-line description too
        command = sub.choices[choice.dest]
        command.description = command.description or choice.help
    return parser


# Commands that read the whole config folder (validate only when given no paths).
_READS_CONFIG_DIR = frozenset({"validate", "list", "show", "export"})


def _run(args: argparse.Namespace) -> int:
    explicit = args.config_dir is not None
    if not explicit:
        args.config_dir = shown_path(project_path(str(DEFAULT_CONFIG_DIR)))
    if getattr(args, "project_root", False) is None:
        # build, deploy and plan: the generated files and `prefect deploy` belong in the root, from any subfolder.
        args.project_root = shown_path(find_project_root())
    if args.command in _READS_CONFIG_DIR and not getattr(args, "paths", None):
        if not args.config_dir.is_dir():
            # A mistyped --config-dir would otherwise look like a valid, empty catalog (exit 0).
            err(f"{args.command}: no such config folder: {args.config_dir}")
            return EXIT_USAGE
        if explicit and not inspect.automation_files(args.config_dir):
            err(f"{args.command}: {inspect.no_files_message(args.config_dir)}")
            return EXIT_USAGE
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; whatever it raises ends in one line of ours on stderr (compiler.commands.cli_failures), never
    a traceback, and a reader of its output that left (``plan | head``) ends it quietly."""
    command = "python -m compiler"
    try:
        try:
            args = build_parser().parse_args(argv)
            command = args.command
            return _run(args)
        finally:
            finish_output()  # argparse's help and usage errors too (they leave by SystemExit)
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure class becomes one line; see compiler.commands.cli_failures
        return report_failure(exc, command)
