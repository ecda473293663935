"""Entrypoint for Prefect workers: ``flows/automations.py:<automation name>`` is that automation's flow.

Flows are built on first access from the compiled definitions (``deployments/definitions``) or the
YAML folder; one broken YAML file only makes its own name unavailable.
"""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    # deferred: loading the definitions costs ~240 ms (measured: the catalog and models); a worker builds only the flow it asks for by name
    from flows.engine.definitions import load_automation
    from flows.engine.flow_factory import build_flow

    try:
        loaded = load_automation(name)
    except KeyError as exc:
        raise AttributeError(str(exc.args[0])) from None
    built = build_flow(loaded, name)
    globals()[name] = built
    return built


def __dir__() -> list[str]:
    # deferred: loading the definitions costs ~240 ms (measured: the catalog and models); a worker builds only the flow it asks for by name
    from flows.engine.definitions import automation_names

    return sorted(set(globals()) | set(automation_names()))
