"""http_request against the real local server: what is sent (method, query, body) and what counts as success."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime


@pytest.mark.parametrize(
    ("query_in_url", "params", "expected_query"),
    [
        ("?since=2024-01-01", "{}", {"since": ["2024-01-01"]}),
        ("", "{page: 2}", {"page": ["2"]}),
        ("?since=2024-01-01", "{page: 2, verbose: true}", {"since": ["2024-01-01"], "page": ["2"], "verbose": ["true"]}),
    ],
)
def test_query_in_the_url_and_params_are_both_sent(
    runtime: Runtime, tag: str, query_in_url: str, params: str, expected_query: dict[str, list[str]]
) -> None:
    path = f"/echo/{tag}"
    runtime.write_automation(
        automation(
            "query_probe",
            f"""
            - type: http_request
              name: call
              parameters:
                url: "{runtime.server.url}{path}{query_in_url}"
                params: {params}
            """,
        )
    )
    state = runtime.run("query_probe")
    [request] = runtime.server.requests(path)

    assert state.is_completed(), state.message
    assert request.query == expected_query


@pytest.mark.parametrize(
    ("method", "body_yaml", "expected_body", "expected_type"),
    [
        ("POST", 'json: {item: "{item}", count: 3}', {"item": "x1", "count": 3}, "application/json"),
        ("PUT", 'body: "plain {item}"', "plain x1", None),
        ("PATCH", 'body: [1, "{item}"]', [1, "x1"], "application/json"),
    ],
)
def test_method_and_body_are_sent_as_configured(
    runtime: Runtime, tag: str, method: str, body_yaml: str, expected_body: Any, expected_type: str | None
) -> None:
    path = f"/echo/{tag}"
    runtime.write_automation(
        automation(
            "body_probe",
            f"""
            - type: http_request
              name: call
              parameters:
                url: "{runtime.server.url}{path}"
                method: {method}
                {body_yaml}
            """,
        )
    )
    state = runtime.run("body_probe", item="x1")
    [request] = runtime.server.requests(path)
    body = json.loads(request.text()) if expected_type else request.text()

    assert state.is_completed(), state.message
    assert request.method == method
    assert body == expected_body
    if expected_type:
        assert request.headers["content-type"] == expected_type


@pytest.mark.parametrize(("expected_status", "final"), [("[404]", "Completed"), ("[200, 201]", "Failed")])
def test_expected_status_decides_success(runtime: Runtime, tag: str, expected_status: str, final: str) -> None:
    runtime.write_automation(
        automation(
            "status_probe",
            f"""
            - type: http_request
              name: call
              parameters:
                url: "{runtime.server.url}/script/404/{tag}"
                expected_status: {expected_status}
            """,
        )
    )
    state = runtime.run("status_probe")

    assert runtime.actions(state)["call"].status == final
