"""Run an agent chain as a Prefect subflow with one task per step, and publish chain_complete / chain_failed."""

from __future__ import annotations

import time
from typing import Any

from compiler.language.model.chains import ChainDefinition, ChainStep

__all__ = ["ChainFailed", "run_chain", "resolve_chain"]


class ChainFailed(RuntimeError):
    pass


def resolve_chain(params: Any) -> ChainDefinition:
    """The chain an execute_chain action names (configs/chains/) or carries inline."""
    from flows.engine.definitions import chain_definitions

    if params.chain is not None and not isinstance(params.chain, str):
        return ChainDefinition(name=params.chain.name, steps=params.chain.steps)
    name = params.referenced_chain
    chains = chain_definitions()
    if name not in chains:
        raise ChainFailed(f"unknown chain '{name}' (chains: {', '.join(sorted(chains)) or 'none'})")
    return chains[name].chain


async def run_chain(params: Any, ctx: Any) -> dict[str, Any]:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    chain = resolve_chain(params)
    deadline = time.monotonic() + ctx.deadline_seconds

    async def run_step(step: ChainStep, previous: dict[str, Any]) -> dict[str, Any]:
        from flows.agents.runner import run_agent_isolated

        remaining = max(deadline - time.monotonic(), 0.001)
        return await run_agent_isolated(step.agent_name, params.repository_root, step.mode or params.mode, step.options, remaining)

    async def chain_body() -> dict[str, Any]:
        started = time.monotonic()
        steps: dict[str, Any] = {}
        completed = 0
        failure: str | None = None
        for step in chain.steps:
            step_task = task(run_step, name=step.name, task_run_name=step.name, cache_policy=NO_CACHE)
            state = await step_task(step, steps, return_state=True)
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

    subflow = flow(chain_body, name=f"chain-{chain.name}", flow_run_name=f"{chain.name}", validate_parameters=False)
    result = await subflow()
    if result["error"]:
        raise ChainFailed(result["error"])
    return result
