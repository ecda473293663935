"""The flow body end to end: retries with their delays, timeouts, continue_on_failure, retry classification.

Every run is a real Prefect flow run (in this process) against the session's Prefect server; every action
calls the real HTTP server on 127.0.0.1, which records when each request arrived.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.flows.e2e_support import Runtime

_TIME_TRIGGER = """
trigger:
  type: time
  time:
    cron_expression: "0 2 * * *"
"""


def _automation(name: str, actions: str, context: str = "") -> str:
    return f"name: {name}\n{context}{_TIME_TRIGGER}actions:\n{actions}"


@pytest.mark.parametrize(
    ("backoff", "base_delay", "expected_gaps"),
    [
        ("fixed", 0.5, [0.5, 0.5]),
        ("exponential", 0.3, [0.3, 0.6]),  # Prefect's exponential_backoff: factor * 2**n
    ],
)
def test_retries_wait_the_configured_delays_then_succeed(
    runtime: Runtime, tag: str, backoff: str, base_delay: float, expected_gaps: list[float]
) -> None:
    path = f"/script/503-503-200/{tag}"
    runtime.write_automation(
        _automation(
            "retrying",
            f"""
  - type: http_request
    name: flaky_call
    parameters:
      url: "{runtime.server.url}{path}"
    retry_count: 2
    retry_delay_seconds: {base_delay}
    retry_backoff: {backoff}
""",
        )
    )
    state = runtime.run("retrying")

    requests = runtime.server.requests(path)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    action = runtime.actions(state)["flaky_call"]
    assert state.is_completed(), state.message
    assert len(requests) == 3
    assert (action.status, action.attempts) == ("Completed", 3)
    # Server-side timestamps: each retry came no earlier than its configured delay (a behaviour check).
    assert all(gap >= expected for gap, expected in zip(gaps, expected_gaps, strict=True)), gaps


def test_hanging_endpoint_ends_timed_out_near_its_timeout(runtime: Runtime, tag: str) -> None:
    hang_seconds = 20.0
    runtime.write_automation(
        _automation(
            "hanging",
            f"""
  - type: http_request
    name: slow_call
    parameters:
      url: "{runtime.server.url}/script/s{hang_seconds:g}/{tag}"
    timeout_seconds: 1.5
""",
        )
    )
    started = time.monotonic()
    state = runtime.run("hanging")
    elapsed = time.monotonic() - started

    action = runtime.actions(state)["slow_call"]
    assert state.is_failed()
    assert action.status == "TimedOut", action.message
    assert 1.4 <= action.duration_s < 5.0
    assert elapsed < hang_seconds / 2


@pytest.mark.parametrize("continue_on_failure", [False, True])
def test_continue_on_failure_decides_whether_later_actions_run(
    runtime: Runtime, tag: str, continue_on_failure: bool
) -> None:
    url = runtime.server.url
    runtime.write_automation(
        _automation(
            "stopping",
            f"""
  - type: http_request
    name: first
    parameters:
      url: "{url}/script/200/{tag}/first"
  - type: http_request
    name: broken
    parameters:
      url: "{url}/script/500/{tag}/broken"
    continue_on_failure: {str(continue_on_failure).lower()}
  - type: http_request
    name: after_one
    parameters:
      url: "{url}/script/200/{tag}/after_one"
  - type: log_message
    name: after_two
    parameters:
      message: "still running"
""",
        )
    )
    state = runtime.run("stopping")
    actions = runtime.actions(state)
    later_requests = runtime.server.requests(f"/script/200/{tag}/after_one")

    assert actions["broken"].status == "Failed"
    if continue_on_failure:
        assert state.is_completed(), state.message
        assert "failed with continue_on_failure: broken" in state.message
        assert [actions[n].status for n in ("after_one", "after_two")] == ["Completed", "Completed"]
        assert len(later_requests) == 1
    else:
        assert state.is_failed()
        assert state.message.startswith("action 'broken' failed:") and "answered 500" in state.message
        assert [actions[n].status for n in ("after_one", "after_two")] == ["Skipped", "Skipped"]
        assert "action 'broken' failed" in actions["after_one"].message
        assert later_requests == []


@pytest.mark.parametrize(
    ("status", "expected_requests"),
    [
        (404, 1),  # our mistake: retrying cannot help
        (400, 1),
        (500, 3),  # the server's trouble: every retry is used
        (503, 3),
        (429, 3),  # rate limited: worth another try
    ],
)
def test_client_errors_are_not_retried_server_errors_are(
    runtime: Runtime, tag: str, status: int, expected_requests: int
) -> None:
    path = f"/script/{status}/{tag}"
    runtime.write_automation(
        _automation(
            "classified",
            f"""
  - type: http_request
    name: call
    parameters:
      url: "{runtime.server.url}{path}"
    retry_count: 2
    retry_delay_seconds: 0.1
""",
        )
    )
    state = runtime.run("classified")
    action = runtime.actions(state)["call"]

    assert state.is_failed()
    assert len(runtime.server.requests(path)) == expected_requests
    assert (action.status, action.attempts) == ("Failed", expected_requests)


def test_missing_input_is_refused_before_any_action_runs(runtime: Runtime, tag: str) -> None:
    path = f"/script/200/{tag}"
    runtime.write_automation(
        _automation(
            "needs_input",
            f"""
  - type: http_request
    name: call
    parameters:
      url: "{runtime.server.url}{path}/{{target}}"
""",
        )
    )
    state = runtime.run("needs_input")

    assert state.is_failed()
    assert "missing input(s): target" in state.message and "--param target=..." in state.message
    assert runtime.server.requests(path) == []
    assert runtime.actions(state) == {}
