"""What a `run` imports and builds on its first flow call, done ahead: by the warm runner once, and by a first
`run` while the embedded server it started boots (it waits ~6 s there with a core to spare)."""

from __future__ import annotations

import importlib

__all__ = ["RUN_MODULES", "complete_pydantic_models", "import_run_modules"]

# What a `run` imports. fastapi.encoders: Prefect imports it on the first flow call to serialize the
# parameters (0.79 s of a 2.2 s warm child in the P4 profile before it was listed here).
RUN_MODULES = (
    "compiler.commands.cli",
    "compiler.commands.run",
    "compiler.commands.api_endpoint",
    "compiler.commands.build",
    "compiler.language.deploy_config",
    "flows.actions",
    "flows.engine.flow_body",
    "flows.engine.flow_factory",
    "flows.engine.admission",
    "flows.prefect_api.history",
    "flows.exactly_once.idempotency",
    "flows.exactly_once.occurrences",
    "flows.registry",
    "flows.exactly_once.rerun_answer",
    "flows.engine.summary",
    "prefect.flow_engine",
    "prefect.task_engine",
    "fastapi.encoders",
    # Imported by Prefect on first use: building a flow's parameter schema (pydantic.v1: 0.25 s of the warm
    # child in the same profile), the summary artifact, the task-run graph helpers; and by the engine's loops.
    "pydantic.v1",
    "prefect.artifacts",
    "prefect.utilities.visualization",
    "anyio._backends._asyncio",
    "sqlite3",
)


def import_run_modules() -> None:
    for name in RUN_MODULES:
        importlib.import_module(name)


def complete_pydantic_models() -> None:
    """Build the validators of every model still waiting for its first use (Prefect's API schemas with forward
    references build theirs on the first response they parse: 0.13 s of the warm child in P4's profile)."""
    # deferred: pydantic costs ~35 ms (measured); only the warm runner preloads
    import pydantic

    todo = list(pydantic.BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if getattr(model, "__pydantic_complete__", True) or model.__pydantic_generic_metadata__.get("origin"):
            continue
        try:
            model.model_rebuild()
        except Exception:  # noqa: BLE001 - not buildable yet: it builds on first use, as it would have
            continue
