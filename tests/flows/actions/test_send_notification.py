"""send_notification end to end: a webhook channel that fails fails the action (never silently), the registry
channel writes a row, and what the webhook receives."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime


@pytest.mark.parametrize(
    ("status", "final", "requests"),
    [
        (200, "Completed", 1),
        (500, "Failed", 2),  # the receiver's trouble: retried (retry_count 1), then the action fails
        (404, "Failed", 1),  # a wrong URL: not retried
    ],
)
def test_webhook_channel_outcome_follows_the_receiver(
    runtime: Runtime, tag: str, status: int, final: str, requests: int
) -> None:
    path = f"/script/{status}/{tag}"
    runtime.write_automation(
        automation(
            "webhook_notify",
            f"""
            - type: send_notification
              name: notify
              parameters:
                message: "deploy {{version}} done"
                title: Deploys
                level: warning
                channels:
                  - webhook: "{runtime.server.url}{path}"
              retry_count: 1
              retry_delay_seconds: 0.1
            """,
        )
    )
    state = runtime.run("webhook_notify", version="1.2.3")
    action = runtime.actions(state)["notify"]
    received = runtime.server.requests(path)

    assert (action.status, action.attempts) == (final, requests)
    assert len(received) == requests
    assert json.loads(received[0].text()) == {
        "text": "deploy 1.2.3 done", "title": "Deploys", "level": "warning", "automation": "webhook_notify"
    }
    if final == "Failed":
        assert state.is_failed()
        assert f"notification not delivered to webhook: webhook answered {status}" in action.message


def test_registry_channel_stores_the_notification(runtime: Runtime) -> None:
    runtime.write_automation(
        automation(
            "registry_notify",
            """
            - type: send_notification
              name: notify
              parameters:
                message: "nightly {date} finished"
                level: error
                title: Nightly
                channels: [log, registry]
            """,
        )
    )
    state = runtime.run("registry_notify")
    with sqlite3.connect(runtime.state_dir / "registry" / "registry.db") as db:
        rows = db.execute("SELECT automation, level, message, data FROM notifications").fetchall()

    assert state.is_completed(), state.message
    assert [(a, lvl, msg.startswith("nightly 20"), json.loads(data)) for a, lvl, msg, data in rows] == [
        ("registry_notify", "error", True, {"title": "Nightly"})
    ]
