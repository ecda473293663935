"""Run an agent chain as a Prefect subflow with one task per step, and publish chain_complete / chain_failed."""

from __future__ import annotations

import time
from typing import Any

from compiler.language.model.chains import ChainDefinition, ChainStep

__all__ = ["ChainFailed", "resolve_chain", "run_chain"]


class ChainFailed(RuntimeError):
    pass


def resolve_chain(params: Any) -> ChainDefinition:
    """The chain an execute_chain action names (configs/chains/) or carries inline."""
    # deferred: loading the definitions costs ~240 ms (measured: the catalog and models); only running a chain needs it
    from flows.engine.definitions import chain_definitions

    if params.chain is not None and not isinstance(params.chain, str):
        return ChainDefinition(name=params.chain.name, steps=params.chain.steps)
    name = params.referenced_chain
    chains = chain_definitions()
    if name not in chains:
        raise ChainFailed(f"unknown chain '{name}' (chains: {', '.join(sorted(chains)) or 'none'})")
    return chains[name].chain


async def run_chain(params: Any, ctx: Any) -> dict[str, Any]:
    # deferred: Prefect costs ~1 s CPU to import (measured); only running a chain needs it
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    chain = resolve_chain(params)
    deadline = time.monotonic() + ctx.deadline_seconds

    async def run_step(step: ChainStep, previous: dict[str, Any]) -> dict[str, Any]:
        # deferred: the agent runner costs ~15 ms (measured: multiprocessing); only running a chain needs it
        from flows.agents.runner import run_agent_isolated

        remaining = max(deadline - time.monotonic(), 0.001)
        return await run_agent_isolated(step.agent_name, params.repository_root, step.mode or params.mode, step.options, remaining)

    async def chain_body() -> dict[str, Any]:
        started = time.monotonic()
        steps: dict[str, Any] = {}
        completed = 0
        failure: str | None = None
        for step in chain.steps:
            step_task = task(name=step.name, task_run_name=step.name, cache_policy=NO_CACHE)(run_step)
            # An async task's call is a coroutine; Prefect's overloads give return_state=True the State itself.
            state = await step_task(step, steps, return_state=True)  # type: ignore[misc]
            if state.is_completed():
                result = await state.aresult()
                steps[step.name] = result
                if result.get("status") == "completed":
                    completed += 1
                    continue
                message = result.get("summary", "failed")
            else:
                message = state.message or "failed"
            steps[step.name] = steps.get(step.name) or {"status": "failed", "error": message}
            if not step.continue_on_failure:
                failure = f"step '{step.name}' ({step.agent_name}) failed: {message}"
                break
        status = "completed" if failure is None else "failed"
        payload = {
            "chain_name": chain.name,
            "status": status,
            "completed_steps": completed,
            "total_steps": len(chain.steps),
            "execution_time_ms": int((time.monotonic() - started) * 1000),
        }
        ctx.publish("chain_complete" if failure is None else "chain_failed", {"chain_name": chain.name}, payload)
        return {**payload, "steps": steps, "error": failure}

    subflow = flow(name=f"chain-{chain.name}", flow_run_name=f"{chain.name}", validate_parameters=False)(chain_body)
    result = await subflow()
    if result["error"]:
        raise ChainFailed(result["error"])
    return result
