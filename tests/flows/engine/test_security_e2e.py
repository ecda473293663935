"""Security behaviour end to end: template injection from events, secret redaction (outputs and Prefect logs),
the private-address guard, and artifact paths that try to leave the artifacts folder."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests.flows.e2e_support import Runtime

SECRET = "s3cr3t-value"
INJECTION = "a {secret:tok} b {run_id} c {{ d {0.__class__} e }} f {event.payload.text}"

_EVENT_TRIGGER = """
trigger:
  type: event
  event:
    event_type: custom
    custom_type: probe
"""


def _event_file(runtime: Runtime, payload: dict[str, Any], event_id: str) -> Path:
    event = {"event_type": "custom", "custom_type": "probe", "id": event_id, "payload": payload}
    return runtime.write_json(f"event-{event_id}.json", event)


def test_event_payload_templates_are_sent_literally_and_leak_nothing(runtime: Runtime, tag: str) -> None:
    path = f"/echo/{tag}"
    name = runtime.write_automation(
        f"""
name: injection_probe
{_EVENT_TRIGGER}
actions:
  - type: http_request
    name: forward
    parameters:
      url: "{runtime.server.url}{path}"
      method: POST
      json:
        note: "{{event.payload.text}}"
        quoted: "payload said: {{event.payload.text}}"
"""
    )
    event = _event_file(runtime, {"text": INJECTION}, f"inj-{tag}")

    result = runtime.cli("run", name, "--event", str(event), "--json", env=runtime.env(AUTOMATIONS_SECRET_TOK=SECRET))
    [request] = runtime.server.requests(path)
    body = json.loads(request.text())

    assert result.returncode == 0, result.output
    assert body == {"note": INJECTION, "quoted": f"payload said: {INJECTION}"}
    assert SECRET not in request.text() and SECRET not in str(request.headers)
    assert SECRET not in result.output


def _secret_automation(runtime: Runtime, tag: str) -> str:
    """A header and a query value carry the secret; the endpoint echoes them back into the action output."""
    url = runtime.server.url
    return runtime.write_automation(
        f"""
name: secret_user
{_EVENT_TRIGGER}
actions:
  - type: http_request
    name: echo_call
    parameters:
      url: "{url}/echo/{tag}"
      headers:
        Authorization: "Bearer {{secret:tok}}"
      params:
        token: "{{secret:tok}}"
  - type: log_message
    name: chatty
    parameters:
      message: "the token is {{secret:tok}} and the echo was {{outputs.echo_call.body}}"
  - type: http_request
    name: failing_call
    parameters:
      url: "{url}/script/503/{tag}?token={{secret:tok}}"
    retry_count: 1
    retry_delay_seconds: 0.1
    continue_on_failure: true
"""
    )


def _flow_run_logs(api_url: str, flow_run_id: str, timeout: float = 15.0) -> list[str]:
    """The run's log lines from the API, once its final "Finished in state" line has arrived."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from tests.prefect_support import wait_for

    async def read() -> list[str]:
        async with PrefectClient(api_url) as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200
            )
        return [log.message for log in logs]

    def finished(lines: list[str]) -> bool:
        return any(line.startswith("Finished in state Completed(") for line in lines)

    return asyncio.run(wait_for(read, finished, timeout))


def _stored_outputs(folder: Path) -> list[str]:
    """Action outputs persisted by Prefect (base64 cloudpickle, its default serializer), as JSON text."""
    return [json.dumps(pickle.loads(base64.b64decode(p.read_bytes())), default=str) for p in folder.iterdir()]


def test_secrets_are_resolved_at_run_time_and_redacted_from_outputs_and_prefect_logs(
    runtime: Runtime, tag: str
) -> None:
    name = _secret_automation(runtime, tag)
    event = _event_file(runtime, {}, f"sec-{tag}")
    result = runtime.cli("run", name, "--event", str(event), "--json", env=runtime.env(AUTOMATIONS_SECRET_TOK=SECRET))
    history = result.json()
    [echoed] = runtime.server.requests(f"/echo/{tag}")
    failing = runtime.server.requests(f"/script/503/{tag}")
    logs = _flow_run_logs(runtime.api_url, history["id"])
    log_text = "\n".join(logs)

    # Resolved at run time: the server got the plaintext where the YAML asked for it.
    assert echoed.headers["authorization"] == f"Bearer {SECRET}"
    assert echoed.query == {"token": [SECRET]}
    assert [r.query for r in failing] == [{"token": [SECRET]}] * 2
    # The CLI process ended, so its logs were flushed; these are the ones the run wrote.
    assert "the token is *** and the echo was" in log_text
    assert any("Retry 1/1" in line for line in logs)
    # The action output is redacted: where later templates read it, and as stored for idempotent re-runs.
    assert '"authorization": "Bearer ***"' in log_text
    stored = _stored_outputs(runtime.state_dir / "results" / "data")
    assert any("Bearer ***" in text for text in stored)
    assert all(SECRET not in text for text in stored)
    assert SECRET not in log_text
    assert SECRET not in result.output
    assert [a["status"] for a in history["actions"]] == ["Completed", "Completed", "Failed"]


@pytest.mark.parametrize(("allow_private", "expected_requests"), [("false", 0), ("true", 1)])
def test_http_request_refuses_loopback_unless_private_addresses_are_allowed(
    runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch, allow_private: str, expected_requests: int
) -> None:
    from compiler.language.settings import get_settings

    path = f"/script/200/{tag}"
    runtime.write_automation(
        f"""
name: loopback_call
{_EVENT_TRIGGER}
actions:
  - type: http_request
    name: call
    parameters:
      url: "{runtime.server.url}{path}"
    retry_count: 2
"""
    )
    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", allow_private)
    get_settings.cache_clear()
    state = runtime.run("loopback_call", event={"id": f"lb-{tag}", "payload": {}})
    action = runtime.actions(state)["call"]

    assert len(runtime.server.requests(path)) == expected_requests
    if expected_requests:
        assert state.is_completed(), state.message
    else:
        assert state.is_failed()
        assert (action.status, action.attempts) == ("Failed", 1)  # a refusal is not retried
        assert "127.0.0.1" in action.message and "AUTOMATIONS_HTTP_ALLOW_PRIVATE" in action.message


def test_literal_artifact_name_with_dotdot_is_rejected_at_validation(runtime: Runtime) -> None:
    runtime.write_automation(
        """
name: escaping_artifact
trigger:
  type: time
  time:
    cron_expression: "0 2 * * *"
actions:
  - type: create_artifact
    name: save
    parameters:
      artifact_type: report
      filename: "../outside.json"
      content: "x"
"""
    )
    result = runtime.cli("validate")

    assert result.returncode == 1
    assert "escaping_artifact.yaml" in result.output
    assert "must be a relative path inside the artifacts folder" in result.output


@pytest.mark.parametrize("name", ["../../etc/x", "reports/../../../x", "/tmp/x-absolute"])
def test_templated_artifact_name_leaving_the_folder_fails_the_action_at_run_time(
    runtime: Runtime, tag: str, name: str
) -> None:
    runtime.write_automation(
        f"""
name: templated_artifact
{_EVENT_TRIGGER}
actions:
  - type: create_artifact
    name: save
    parameters:
      artifact_type: report
      filename: "{{event.payload.name}}"
      content: "escaped"
"""
    )
    before = _files(runtime.root)
    state = runtime.run("templated_artifact", event={"id": f"art-{tag}", "payload": {"name": name}})
    action = runtime.actions(state)["save"]

    assert state.is_failed()
    assert (action.status, action.attempts) == ("Failed", 1)
    assert "artifacts folder" in action.message
    # Nothing but Prefect's result records (the failed state) was written anywhere in the test folder.
    assert {f for f in _files(runtime.root) - before if not f.startswith("state/results/")} == set()
    assert not Path(name).is_absolute() or not Path(name).exists()


def _files(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}
