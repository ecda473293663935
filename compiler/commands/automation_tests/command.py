"""``python -m compiler test``: run the test files; exit 0 when every case passes, 1 on any failure or file error."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from compiler.commands.output import err, out
from compiler.language.catalog import load_catalog

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "add_command", "cmd_test"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``test`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = subparsers.add_parser(
        "test",
        help="run automation test cases (default: configs/tests/); exit 0 all pass, 1 any failure or file error",
        description="Run the cases of test files against the automations, without a Prefect server.",
    )
    p.add_argument("paths", nargs="*", type=Path, help="test files or folders (default: tests/ next to the config dir)")
    p.add_argument("--junit-xml", type=Path, metavar="PATH", help="also write a JUnit XML report here")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    p.set_defaults(func=cmd_test)
    return p


def cmd_test(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    # deferred: the test command's modules cost ~45 ms (measured); every command loads this module; validate, list and test never need it
    from compiler.commands.automation_tests.evaluate import run_case
    from compiler.commands.automation_tests.loader import load_tests, test_files, tests_dir_for
    from compiler.commands.automation_tests.report import text_lines, write_junit

    paths: list[Path] = list(args.paths) or [tests_dir_for(args.config_dir)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        err(f"test: no such file or folder: {', '.join(missing)}")
        return EXIT_USAGE
    catalog = load_catalog(args.config_dir)
    suite = load_tests(test_files(paths), catalog)
    if catalog.errors:
        bad = len({d.path for d in catalog.errors})
        err(f"note: {bad} automation file(s) have errors; their automations cannot be tested (run validate)")
    outcomes = [run_case(case) for case in suite.cases]
    seconds = time.perf_counter() - started
    lines = text_lines(outcomes, suite.diagnostics, suite.files, seconds, verbose=args.verbose)
    for line in lines:
        out(line)
    if args.junit_xml:
        write_junit(args.junit_xml, outcomes, suite.diagnostics, suite.files, seconds)
    if not outcomes and not suite.errors:
        err(f"test: no test cases found in {', '.join(map(str, paths))}")
        return EXIT_FAILED
    return EXIT_FAILED if suite.errors or any(not o.passed for o in outcomes) else EXIT_OK
