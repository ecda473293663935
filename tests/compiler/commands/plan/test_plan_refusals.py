"""``plan`` refuses clearly, with exit 1, when it cannot compare: no API, an unreachable API, a config error."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.commands.cli import main
from compiler.commands.plan.command import NO_API_MESSAGE
from tests.compiler.support import make_config_dir

CLOSED_API = "http://127.0.0.1:9/api"  # nothing listens on the discard port
SAY_HI = "actions:\n  - {type: log_message, name: say, parameters: {message: hi}}\n"
GOOD = "name: ok\ntrigger: {type: event, event: {event_type: custom, custom_type: x}}\n" + SAY_HI
BROKEN = "name: broken\ntrigger: {type: time, time: {cron_expression: 'not a cron'}}\n" + SAY_HI


@pytest.fixture
def no_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "home" / "profiles.toml"))


@pytest.mark.parametrize(
    ("api_url", "files", "message"),
    [
        (None, {"ok": GOOD}, NO_API_MESSAGE),
        (CLOSED_API, {"ok": GOOD}, f"plan failed: cannot reach the Prefect API at {CLOSED_API}"),
        (CLOSED_API, {"ok": GOOD, "broken": BROKEN}, "plan: 1 error(s) in the configuration"),
    ],
    ids=["no-api", "unreachable", "config-error"],
)
@pytest.mark.parametrize("command", [["plan"], ["deploy", "--plan"]])
def test_plan_refuses_with_exit_1(
    tmp_path: Path, no_profile: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    api_url: str | None, files: dict[str, str], message: str, command: list[str],
) -> None:
    if api_url:
        monkeypatch.setenv("PREFECT_API_URL", api_url)
    config = make_config_dir(tmp_path / "configs")
    for name, text in files.items():
        (config / f"{name}.yaml").write_text(text, encoding="utf-8")
    code = main(["--config-dir", str(config), *command, "--project-root", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1 and message in captured.err and captured.out == ""
    assert not (tmp_path / "prefect.yaml").exists()  # nothing written
