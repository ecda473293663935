"""Sensitive response headers (Set-Cookie, Authorization, a configurable list) never reach http_request's
output, its persisted result or the run's logs; other headers are kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flows.actions.http_request import redact_headers
from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime

SECRET = "s3cr3t-session-value"


@pytest.mark.parametrize(
    ("header", "extra", "redacted"),
    [
        ("Set-Cookie", "", True),
        ("set-cookie", "", True),
        ("Authorization", "", True),
        ("Proxy-Authorization", "", True),
        ("X-Api-Key", "", True),
        ("X-Refresh-Token", "", True),
        ("X-Session-Id", "", True),
        ("Content-Type", "", False),
        ("X-Request-Id", "", False),
        ("X-Request-Id", "x-request-id", True),
        ("X-Tenant", "x-*, other", True),
    ],
)
def test_header_table(header: str, extra: str, redacted: bool) -> None:
    assert redact_headers({header: "v"}, extra) == {header: "***" if redacted else "v"}


def _result_files(state_dir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (state_dir / "results").rglob("*") if p.is_file())


async def _logs(flow_run_id: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


def test_set_cookie_and_configured_headers_are_redacted_everywhere(
    runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.language.settings import get_settings

    monkeypatch.setenv("AUTOMATIONS_HTTP_REDACT_HEADERS", "x-internal-*")
    get_settings.cache_clear()
    query = f"Set-Cookie=session%3D{SECRET}&X-Internal-Ticket={SECRET}&X-Request-Id=req-1"
    runtime.write_automation(
        automation(
            "cookie_probe",
            f"""
            - type: http_request
              name: call
              parameters: {{url: "{runtime.server.url}/headers/{tag}?{query}"}}
            - type: log_message
              name: echo
              parameters: {{message: "headers {{outputs.call.headers}}"}}
            """,
        )
    )
    state = runtime.run("cookie_probe")
    history = runtime.history(state)
    output = asyncio.run(_task_output(state))
    logs = asyncio.run(_logs(state.state_details.flow_run_id))

    assert state.is_completed(), state.message
    assert (output["set-cookie"], output["x-internal-ticket"], output["x-request-id"]) == ("***", "***", "req-1")
    assert SECRET not in _result_files(runtime.state_dir)
    assert "headers {" in logs and SECRET not in logs
    assert SECRET not in str(history)


async def _task_output(state: Any) -> dict[str, Any]:
    """The call action's persisted result, read back through Prefect (what a later action or a re-run sees)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    async with get_client() as client:
        [task_run] = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=["call"])),
        )
    result = await task_run.state.aresult()
    return result["headers"]
