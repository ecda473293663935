"""send_notification through real Prefect notification blocks saved on the session's server: a
CustomWebhookNotificationBlock posting to the local HTTP server, found by its name and by ``type-slug/name``;
a closed port fails the action; the webhook address policy applies to the block's URL."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime


def _save_block(url: str) -> str:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"alerts-{uuid.uuid4().hex[:8]}"
    block = CustomWebhookNotificationBlock(
        name="automations", url=url, json_data={"text": "{{body}}", "title": "{{subject}}"}
    )
    block.save(name)  # sync outside an event loop (Prefect dispatches on context)
    return name


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _notify(runtime: Runtime, name: str, channel: str) -> None:
    runtime.write_automation(
        automation(
            name,
            f"""
            - type: send_notification
              name: notify
              parameters:
                message: "deploy {{version}} done"
                title: Deploys
                channels: [{{block: "{channel}"}}]
            """,
        )
    )


@pytest.mark.parametrize("form", ["name", "type-slug/name"])
def test_a_block_delivers_in_every_documented_form(runtime: Runtime, tag: str, form: str) -> None:
    path = f"/echo/{tag}"
    block = _save_block(f"{runtime.server.url}{path}")
    _notify(runtime, "block_notify", block if form == "name" else f"custom-webhook/{block}")
    state = runtime.run("block_notify", version="1.2.3")
    [received] = runtime.server.requests(path)

    assert state.is_completed(), state.message
    assert json.loads(received.text()) == {"text": "deploy 1.2.3 done", "title": "Deploys"}


def test_a_closed_port_fails_the_action(runtime: Runtime) -> None:
    port = _closed_port()
    block = _save_block(f"http://127.0.0.1:{port}/hook")
    _notify(runtime, "block_refused", block)
    state = runtime.run("block_refused", version="1")
    action = runtime.actions(state)["notify"]

    assert state.is_failed()
    assert action.message == (
        f"notification not delivered to block:{block}: delivery failed: connection refused by 127.0.0.1:{port}"
    )


def test_an_unknown_block_name_says_so(runtime: Runtime) -> None:
    _notify(runtime, "block_missing", "no-such-block-anywhere")
    state = runtime.run("block_missing", version="1")
    action = runtime.actions(state)["notify"]
    assert state.is_failed()
    assert action.message.startswith(
        "notification not delivered to block:no-such-block-anywhere: notification block 'no-such-block-anywhere' not"
        " found: no notification block document has that name"
    )


@pytest.fixture
def private_refused(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from compiler.language.settings import get_settings

    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_block_url_gets_the_webhook_address_policy(runtime: Runtime, tag: str, private_refused: None) -> None:
    path = f"/echo/{tag}"
    block = _save_block(f"{runtime.server.url}{path}")
    _notify(runtime, "block_private", f"custom-webhook/{block}")
    state = runtime.run("block_private", version="1")
    action = runtime.actions(state)["notify"]

    assert state.is_failed() and runtime.server.requests(path) == []
    assert "127.0.0.1 is a loopback address; set AUTOMATIONS_HTTP_ALLOW_PRIVATE=true" in action.message
