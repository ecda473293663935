"""Helpers for the test-case tests: the example catalog (loaded once) and a test file written to a folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from compiler.commands.automation_tests.loader import TestSuite, load_tests
from compiler.language.catalog import Catalog, load_catalog
from tests.compiler.support import EXAMPLES

__all__ = ["example_catalog", "suite_of"]


@lru_cache(maxsize=1)
def example_catalog() -> Catalog:
    return load_catalog(EXAMPLES)


def suite_of(folder: Path, text: str, name: str = "cases.yaml") -> tuple[TestSuite, Path]:
    """Write one test file and load it against the example automations."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return load_tests([path], example_catalog()), path
