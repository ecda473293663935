"""Action ``execute_agent``: run one registered agent on a repository, in a child process that the deadline can end."""

from __future__ import annotations

from typing import Any

from compiler.language.model.actions.execute_agent import SPEC, ExecuteAgentParameters
from flows.actions.base import ActionContext, ActionError, ActionType
from flows.agents.runner import AgentRunFailed, run_agent_isolated
from flows.events.publish import agent_payload

__all__ = ["ACTION"]


async def execute(params: ExecuteAgentParameters, ctx: ActionContext) -> dict[str, Any]:
    try:
        result = await run_agent_isolated(
            params.agent_name, params.repository_root, params.mode, params.options, ctx.deadline_seconds
        )
    except AgentRunFailed as exc:
        ctx.publish(
            "agent_failed",
            {"agent_name": params.agent_name},
            {"agent_name": params.agent_name, "status": "failed", "error": str(exc)},
        )
        raise ActionError(str(exc), retryable=exc.retryable) from None
    kind = "agent_complete" if result["status"] == "completed" else "agent_failed"
    ctx.publish(kind, {"agent_name": params.agent_name}, _event_payload(result))
    if kind == "agent_failed":
        raise ActionError(f"agent {params.agent_name} failed: {result.get('summary', '')}")
    return result


def _event_payload(result: dict[str, Any]) -> dict[str, Any]:
    return agent_payload(result)


ACTION = ActionType.of(SPEC, execute)
