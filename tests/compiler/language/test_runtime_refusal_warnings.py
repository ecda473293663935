"""Warnings for what the runtime will refuse unless this machine differs (a setting, an installed plug-in),
and ``validate --strict``, which makes them errors for CI.

Each row: a valid file and the exact warning lines (``line:col: field: warning: message``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compiler.support import ROOT, lines_for, validate_text

ALLOW = "refused at run time unless AUTOMATIONS_HTTP_ALLOW_PRIVATE=true is set where the automation runs"
NOT_REGISTERED = (
    "(registered: none; register one with register_custom_action() or the entry point group platform_god.actions)"
)


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True)
class Row:
    id: str
    content: str
    expected: list[str]


ROWS = [
    Row("loopback-ip", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "http://127.0.0.1:8080/hook"}}
    """), [f"4:56: actions[0].parameters.url: warning: 127.0.0.1 is a loopback address: {ALLOW}"]),
    Row("localhost-name", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "http://localhost/{event.payload.path}"}}
    """), [f"4:56: actions[0].parameters.url: warning: localhost is a loopback address: {ALLOW}"]),
    Row("private-ipv4-in-decimal", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "http://167772161/x"}}
    """), [f"4:56: actions[0].parameters.url: warning: 167772161 is a private address: {ALLOW}"]),
    Row("ipv6-loopback-webhook", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: send_notification
            name: tell
            parameters: {message: hi, channels: [{webhook: "http://[::1]:9000/hook"}]}
    """), [f"6:52: actions[0].parameters.channels[0].webhook: warning: ::1 is a loopback address: {ALLOW}"]),
    Row("private-metrics-source", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.a
            operator: exists
            source: {type: http, url: "http://10.0.0.7/metrics"}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [f"7:31: trigger.condition.source.url: warning: 10.0.0.7 is a private address: {ALLOW}"]),
    Row("templated-host-is-not-judged", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "http://{event.payload.host}/x"}}
    """), []),
    Row("public-address", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "https://93.184.215.14/x"}}
    """), []),
    Row("unregistered-custom-action", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: custom, name: cust, parameters: {action_name: rotate_keys}}
    """), [f"4:58: actions[0].parameters.action_name: warning: custom action 'rotate_keys' is not registered here"
           f" {NOT_REGISTERED}"]),
]


@pytest.fixture
def private_not_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from compiler.language.settings import get_settings

    monkeypatch.delenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_warning_lines(tmp_path: Path, row: Row, private_not_allowed: None) -> None:
    catalog, path = validate_text(tmp_path, row.content)
    assert (lines_for(catalog, path), sorted(catalog.automations)) == (row.expected, ["demo"])


def test_no_address_warning_where_private_addresses_are_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler.language.settings import get_settings

    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    try:
        catalog, path = validate_text(tmp_path, ROWS[0].content)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert lines_for(catalog, path) == []


def test_a_custom_action_registered_in_code_is_known(tmp_path: Path, private_not_allowed: None) -> None:
    from compiler.language.plugins import CUSTOM_ACTIONS as _REGISTERED
    from compiler.language.plugins import register_custom_action

    register_custom_action("rotate_keys", lambda arguments, context: None)
    try:
        catalog, path = validate_text(tmp_path, ROWS[-1].content)
    finally:
        _REGISTERED.pop("rotate_keys", None)
    assert lines_for(catalog, path) == []


# --- validate --strict -------------------------------------------------------------------------------


def _validate(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in __import__("os").environ.items() if k != "AUTOMATIONS_HTTP_ALLOW_PRIVATE"}
    return subprocess.run(
        [sys.executable, "-m", "compiler", "--config-dir", str(folder), "validate", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
    )


@pytest.fixture(scope="module")
def warned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.compiler.support import make_config_dir

    automations = make_config_dir(tmp_path_factory.mktemp("warned"))
    (automations / "demo.yaml").write_text(ROWS[0].content, encoding="utf-8")
    return automations


def test_without_strict_a_warning_passes(warned: Path) -> None:
    result = _validate(warned)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0, "1 automation(s) valid, 0 error(s), 1 warning(s)"
    )


def test_strict_turns_the_warning_into_a_failure(warned: Path) -> None:
    result = _validate(warned, "--strict")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        1, "1 automation(s) valid, 0 error(s), 1 warning(s) (--strict: warnings count as errors)"
    )


def test_strict_json_says_not_valid(warned: Path) -> None:
    report = json.loads(_validate(warned, "--strict", "--json").stdout)
    assert (report["valid"], report["strict"], [d["severity"] for d in report["diagnostics"]]) == (
        False, True, ["warning"]
    )
