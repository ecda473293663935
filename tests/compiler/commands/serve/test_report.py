"""What serve prints: when each automation next fires, and one line per run started and finished."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from compiler.commands.serve import report as serve_report
from compiler.language.model.automation import automation_model

NOW = datetime(2026, 11, 30, 14, 7, 30, tzinfo=UTC)
SAY = [{"type": "log_message", "name": "say", "parameters": {"message": "hi"}}]


def _automation(trigger: dict[str, Any]) -> Any:
    return automation_model().model_validate({"name": "probe", "trigger": trigger, "actions": SAY})


@pytest.mark.parametrize(("trigger", "expected"), [
    ({"type": "time", "time": {"cron_expression": "0 2 * * *"}}, "next run 2026-12-01 02:00 UTC (cron '0 2 * * *' UTC)"),
    ({"type": "time", "time": {"cron_expression": "0 9 * * *", "timezone_str": "Europe/Berlin"}},
     "next run 2026-12-01 09:00 CET (cron '0 9 * * *' Europe/Berlin)"),
    ({"type": "condition", "condition": {"metric_path": "$.score", "operator": "lt", "threshold": 5, "check_interval_seconds": 300,
                                         "source": {"type": "registry"}}},
     "checks $.score lt 5 every 300 s; next check 14:10:00 UTC"),
    ({"type": "event", "event": {"event_type": "chain_complete", "chain_name": "nightly"}},
     "waits for event platform-god.chain.completed (platform-god.chain-name=nightly)"),
])
def test_next_fire(trigger: dict[str, Any], expected: str) -> None:
    assert serve_report.next_fire(_automation(trigger), NOW) == expected


def _run(parameters: dict[str, Any], auto_scheduled: bool = False) -> Any:
    return SimpleNamespace(id="1234", parameters=parameters, auto_scheduled=auto_scheduled)


class _State(SimpleNamespace):
    def is_completed(self) -> bool:
        return self.name == "Completed"

    def is_failed(self) -> bool:
        return self.name == "Failed"

    def is_crashed(self) -> bool:
        return False


@pytest.mark.parametrize(("run", "flow", "state", "expected"), [
    (_run({}, auto_scheduled=True), "nightly", _State(name="Completed", message=None),
     "run finished: nightly (schedule): Completed in 1.50 s http://ui/runs/flow-run/1234"),
    (_run({"event": {"event": "platform-god.custom.deploy"}}), "on_deploy", _State(name="Failed", message="action call failed\nmore"),
     "run finished: on_deploy (event platform-god.custom.deploy): Failed in 1.50 s: action call failed http://ui/runs/flow-run/1234"),
    (_run({"condition": {"value": 3}}), "health", _State(name="Skipped", message="in cooldown"),
     "run finished: health (condition): Skipped in 1.50 s: in cooldown http://ui/runs/flow-run/1234"),
    (_run({}), "manual_one", None, "run finished: manual_one (manual): ended outside the engine in 1.50 s http://ui/runs/flow-run/1234"),
    (_run({"automation": "health"}), "condition-watcher", _State(name="Failed", message="source unreachable"),
     "run finished: health (condition check): Failed in 1.50 s: source unreachable http://ui/runs/flow-run/1234"),
    (_run({"automation": "health"}), "condition-watcher", _State(name="Completed", message=None), None),
])
def test_run_finished_lines(run: Any, flow: str, state: Any, expected: str | None,
                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(serve_report, "ui_url", lambda: "http://ui")
    serve_report.run_finished(run, flow, state, 1.5)
    assert capsys.readouterr().out == (f"{expected}\n" if expected else "")


def test_run_started_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(serve_report, "ui_url", lambda: "http://ui")
    serve_report.run_started(_run({}, auto_scheduled=True), "nightly")
    assert capsys.readouterr().out == "run started: nightly (schedule) http://ui/runs/flow-run/1234\n"
