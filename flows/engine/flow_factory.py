"""Build the Prefect flow of one automation: named after it, with its inputs as flow parameters."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

from prefect import Flow, tags
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from prefect.runtime import flow_run
from prefect.utilities.callables import get_call_parameters

from compiler.language.catalog import LoadedAutomation
from compiler.language.model.automation import Automation
from compiler.language.prefect_names import PLATFORM_TAG
from compiler.language.settings import get_settings
from flows.engine.flow_body import run_automation
from flows.engine.run_context import RunInputs
from flows.engine.summary import publish_summary_hook
from flows.exactly_once.rerun_answer import answer_if_completed
from flows.prefect_api import clients as api_clients
from flows.prefect_api.seam import name_flow_function

__all__ = ["RESERVED_PARAMETERS", "build_flow", "flow_signature", "run_tags"]

# Every process that runs automation flows imports this module: quick retries of SQLite 503s and one TLS
# context for every API client there.
api_clients.install()

# Parameters every automation flow has besides its inputs (what triggers and callers pass in).
RESERVED_PARAMETERS = ("event", "condition", "idempotency_key")


async def _scheduled_time() -> str | None:
    """The scheduled time when this run was created by a deployment schedule, else None."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None:
        # The engine already holds the flow run it is executing; read it from the API only without one.
        run_id = flow_run.get_id()
        if not run_id:
            return None
        async with get_client() as client:
            run = await client.read_flow_run(UUID(run_id))
    if run.auto_scheduled and run.expected_start_time is not None:
        return run.expected_start_time.isoformat()
    return None


def run_tags(automation: Automation) -> AbstractContextManager[set[str]]:
    """Tags for a run started here rather than by a deployment (which tags its runs itself): the
    automation's tags and ours, so its heartbeats match the zombie-run automation and the UI can filter."""
    return tags(*automation.tags, PLATFORM_TAG)


def flow_signature(inputs: Sequence[str], context: Mapping[str, Any]) -> inspect.Signature:
    """The parameters of an automation's flow: its ``inputs``, its ``context`` defaults, then the reserved ones."""
    input_names = tuple(n for n in inputs if n not in RESERVED_PARAMETERS)
    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = [inspect.Parameter(n, keyword, default=None, annotation=Any) for n in input_names]
    # Context defaults are parameters too, so a run can override them (--param repository_root=...).
    signature += [
        inspect.Parameter(n, keyword, default=v, annotation=Any)
        for n, v in context.items()
        if n not in input_names and n not in RESERVED_PARAMETERS
    ]
    signature += [
        inspect.Parameter("event", keyword, default=None, annotation=dict[str, Any] | None),
        inspect.Parameter("condition", keyword, default=None, annotation=dict[str, Any] | None),
        inspect.Parameter("idempotency_key", keyword, default=None, annotation=str | None),
    ]
    return inspect.Signature(signature)


def build_flow(loaded: LoadedAutomation, attribute_name: str | None = None) -> Flow[..., Any]:
    """An async flow (sync flows pay ~1 s joining the heartbeat thread) whose actions are tasks."""
    automation = loaded.automation

    async def automation_flow(**parameters: Any) -> Any:
        run = RunInputs.from_parameters(parameters)
        if run.event is None and run.condition is None and run.idempotency_key is None:
            run = RunInputs.from_parameters(parameters, scheduled_time=await _scheduled_time())
        return await run_automation(loaded, run)

    automation_flow.__signature__ = flow_signature(loaded.inputs, automation.context)  # type: ignore[attr-defined]  # inspect reads it; typeshed omits it
    # The entrypoint Prefect derives must be the attribute flows/automations.py exposes (see the seam).
    name_flow_function(automation_flow, "flows.automations", attribute_name or automation.name)
    return AutomationFlow(
        automation_flow,
        loaded,
        name=automation.name,
        description=automation.description or None,
        version=automation.version,
        validate_parameters=True,
        persist_result=False,
        # The run's summary artifact, published once the final state is on the server.
        on_completion=[publish_summary_hook],
        on_failure=[publish_summary_hook],
        # The flow persists nothing (every action's task names its own storage), but named explicitly:
        # otherwise Prefect looks the default storage up from the API on every run, and given the shared
        # block's slug it would load that block from the API on every run.
        result_storage=_flow_result_storage(),
    )


class AutomationFlow(Flow[..., Any]):
    """An automation's flow. Called directly (not as a subflow, not by a worker), it first asks whether the
    call's occurrence already completed and, if so, answers without Prefect's engine (``flows/rerun_answer``)."""

    def __init__(self, fn: Any, loaded: LoadedAutomation, **options: Any) -> None:
        super().__init__(fn, **options)
        self.loaded = loaded

    def __call__(self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any) -> Any:
        if wait_for is not None or FlowRunContext.get() is not None or TaskRunContext.get() is not None:
            return super().__call__(*args, return_state=return_state, wait_for=wait_for, **kwargs)
        return self._answer_or_run(args, kwargs, return_state)

    async def _answer_or_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool) -> Any:
        answered = await answer_if_completed(self, self.loaded, get_call_parameters(self.fn, args, kwargs))
        if answered is None:
            # An async flow's call is a coroutine; Prefect's overloads type the call by its function's return, here None.
            return await super().__call__(*args, return_state=return_state, **kwargs)  # type: ignore[misc]
        return answered if return_state else await answered.aresult()


def _flow_result_storage() -> Any:
    return get_settings().results_dir / "data"
