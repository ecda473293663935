"""The commands that read the automation files only: ``validate``, ``list``, ``show``, ``export`` and ``schema``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.commands.output import Column, err, out, status_style, table
from compiler.language.catalog import AUTOMATION_SUFFIXES, load_catalog
from compiler.language.json_schema import automation_json_schema
from compiler.language.normalize import normalized, to_json, to_yaml
from compiler.language.webhook_catalog import validate_with_webhooks

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "add_commands", "automation_files", "no_files_message"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _catalog(args: argparse.Namespace, paths: list[Path] | None = None) -> Any:
    return load_catalog(args.config_dir, paths)


def _expand(paths: Sequence[str]) -> list[Path] | None:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in AUTOMATION_SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            return None
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    files = _expand(args.paths) if args.paths else None
    if args.paths and files is None:
        missing = [p for p in args.paths if not Path(p).exists()]
        err(f"validate: no such file or folder: {', '.join(missing)}")
        return EXIT_USAGE
    if args.paths and not files:
        # An explicit folder without automation files is a mistake, not "everything is valid".
        err(f"validate: {no_files_message(Path(args.paths[0]), 'validate')}")
        return EXIT_USAGE
    catalog, webhooks = validate_with_webhooks(args.config_dir, files)  # diagnostics of configs/webhooks/ included
    # --strict (for CI): warnings (uninstalled agents, unregistered custom actions, internal addresses) fail too.
    failed = bool(catalog.errors or (args.strict and catalog.warnings))
    if args.json:
        out(json.dumps({
            "valid": not failed,
            "strict": args.strict,
            "files": catalog.files,
            "automations": sorted(catalog.automations),
            "webhooks": sorted(webhooks.webhooks),
            "diagnostics": [d.to_json() for d in catalog.diagnostics],
        }, indent=2))
    else:
        for diagnostic in catalog.diagnostics:
            (err if diagnostic.severity == "error" else out)(str(diagnostic))
        bad_files = len({d.path for d in catalog.errors})
        out(
            f"{len(catalog.automations)} automation(s) valid, "
            + (f"{len(webhooks.webhooks)} webhook(s) valid, " if webhooks.files else "")
            + f"{len(catalog.errors)} error(s)" + (f" in {bad_files} file(s)" if bad_files else "") + ", "
            f"{len(catalog.warnings)} warning(s)"
            + (" (--strict: warnings count as errors)" if args.strict and catalog.warnings else "")
        )
    return EXIT_INVALID if failed else EXIT_OK


def _trigger_summary(automation: Any) -> str:
    trigger = automation.trigger
    if trigger.type == "event":
        spec = trigger.event
        filters = [f"{k}={v}" for k, v in spec.model_dump(exclude_none=True).items() if k != "event_type"]
        return f"event {spec.event_type}" + (f" ({', '.join(filters)})" if filters else "")
    if trigger.type == "time":
        return f"cron '{trigger.time.cron_expression}' {trigger.time.timezone_str}"
    c = trigger.condition
    return f"{c.metric_path} {c.operator} {c.threshold} every {c.check_interval_seconds}s"


def cmd_list(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    rows = [
        {
            "name": name,
            "status": loaded.automation.status,
            "trigger": _trigger_summary(loaded.automation),
            "cooldown_seconds": loaded.automation.trigger.cooldown_seconds,
            "actions": len(loaded.automation.actions),
            "inputs": list(loaded.inputs),
            "path": loaded.path,
        }
        for name, loaded in sorted(catalog.automations.items())
    ]
    if args.json:
        out(json.dumps({"automations": rows, "errors": [d.to_json() for d in catalog.errors]}, indent=2))
    else:
        table(
            [Column("NAME"), Column("STATUS", style=status_style), Column("TRIGGER"), Column("COOLDOWN", "right"),
             Column("ACTIONS", "right"), Column("INPUTS")],
            [(r["name"], r["status"], r["trigger"], f"{r['cooldown_seconds']}s" if r["cooldown_seconds"] else "-",
              r["actions"], ", ".join(r["inputs"]) or "-") for r in rows],
            [f"{r['name']:<36} {r['status']:<9} {r['trigger']}  [{r['actions']} action(s)]" for r in rows],
        )
        if catalog.errors:
            err(f"{len(catalog.errors)} error(s) in {len({d.path for d in catalog.errors})} file(s) not listed; run validate")
    return EXIT_OK


def _get(args: argparse.Namespace, name: str) -> Any:
    catalog = _catalog(args)
    try:
        return catalog, catalog.get(name)
    except KeyError as exc:
        err(str(exc.args[0]))
        for diagnostic in catalog.errors:
            err(str(diagnostic))
        return catalog, None


def cmd_show(args: argparse.Namespace) -> int:
    _, loaded = _get(args, args.name)
    if loaded is None:
        return EXIT_INVALID
    data = normalized(loaded.automation)
    if args.json:
        out(to_json({"path": loaded.path, "inputs": list(loaded.inputs), "definition": data}))
    else:
        out(f"# {loaded.path}\n# inputs: {', '.join(loaded.inputs) or 'none'}")
        out(to_yaml(data))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    if args.name:
        try:
            selected = [catalog.get(args.name)]
        except KeyError as exc:
            err(str(exc.args[0]))
            return EXIT_INVALID
    else:
        selected = [catalog.automations[n] for n in sorted(catalog.automations)]
    dump = to_json if args.format == "json" else to_yaml
    if args.output_dir:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for loaded in selected:
            target = args.output_dir / f"{loaded.automation.name}.{args.format}"
            target.write_text(dump(normalized(loaded.automation)), encoding="utf-8")
            out(str(target))
    elif args.name:
        out(dump(normalized(selected[0].automation)))
    else:
        out(dump([normalized(loaded.automation) for loaded in selected]))
    return EXIT_INVALID if catalog.errors and not args.name else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    out(json.dumps(automation_json_schema(), indent=2))
    return EXIT_OK


def automation_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.suffix in AUTOMATION_SUFFIXES]


def no_files_message(folder: Path, fix: str = "--config-dir") -> str:
    """Why ``folder`` holds no automations, pointing at the folder that does when it is one level down."""
    message = f"no automation files (.yaml, .yml, .json) in {folder}"
    inner = folder / "automations"
    if automation_files(inner):
        message += f"; the automations are in {inner}: use {fix} {inner}"
    return message


def add_commands(sub: Any) -> None:
    p = sub.add_parser("validate", help="check files; exit 0 valid, 1 invalid, 2 usage")
    p.add_argument("paths", nargs="*", help="files or folders (default: the config dir)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--strict", action="store_true", help="warnings count as errors (exit 1): for CI")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("list", help="list valid automations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="the normalized definition with defaults filled")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="export one or all automations")
    p.add_argument("name", nargs="?")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.add_argument("--output-dir", type=Path, help="write one file per automation here")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("schema", help="JSON Schema of the automation format (for editors)")
    p.set_defaults(func=cmd_schema)
