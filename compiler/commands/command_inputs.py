"""What commands read from their arguments: the named automation, ``--param K=V`` inputs and JSON files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from compiler.commands.output import err
from compiler.language.catalog import load_catalog

__all__ = ["EXIT_USAGE", "load_named", "load_named_with_params", "parse_params", "read_json", "usage"]

EXIT_USAGE = 2


def parse_params(pairs: list[str]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            err(f"--param expects KEY=VALUE, got '{pair}'")
            return None
        try:
            params[key] = json.loads(raw)  # numbers, booleans, lists and mappings as JSON
        except ValueError:
            params[key] = raw
    return params


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(usage(f"cannot read {what} file {path}: {exc}")) from exc


def usage(message: str) -> int:
    err(message)
    return EXIT_USAGE


def load_named(args: argparse.Namespace) -> Any:
    """The automation ``args.name`` of the config folder, or None after saying why (with the folder's errors)."""
    catalog = load_catalog(args.config_dir)
    try:
        return catalog.get(args.name)
    except KeyError as exc:
        err(str(exc.args[0]))
        for diagnostic in catalog.errors:
            err(str(diagnostic))
        return None


def load_named_with_params(args: argparse.Namespace) -> tuple[Any, dict[str, Any]] | int:
    """The automation ``args.name`` and its ``--param`` inputs, or the exit code after saying why (1: no such
    automation, 2: a malformed --param)."""
    loaded = load_named(args)
    if loaded is None:
        return 1
    params = parse_params(args.param)
    if params is None:
        return EXIT_USAGE
    return loaded, params
