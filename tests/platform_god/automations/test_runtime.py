"""The seam module's interpreter and Prefect internals still exist (fails clearly when Python or Prefect change them)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("module", "path"),
    [
        ("threading", "_register_atexit"),
        ("prefect.events.worker", "EventsWorker.instance"),
        ("prefect.logging.handlers", "APILogWorker.instance"),
        ("prefect.context", "refresh_global_settings_context"),
    ],
)
def test_internals_used_by_the_runtime_module_exist(module: str, path: str) -> None:
    target: object = importlib.import_module(module)
    for name in path.split("."):
        target = getattr(target, name, None)
    assert callable(target), f"{module}.{path} is gone: platform_god/automations/_runtime.py needs another way"
