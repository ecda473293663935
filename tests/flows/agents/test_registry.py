"""Agent registry: built-ins, in-code registration, entry-point plug-ins and request/result types."""

from __future__ import annotations

import logging
import pickle
import re
import uuid
from pathlib import Path

import pytest

from flows.agents import (
    Agent,
    AgentError,
    AgentNotFound,
    AgentRequest,
    AgentResult,
    DiscoveryAgent,
    HealthAgent,
    SecurityScanAgent,
    available_agents,
    get_agent,
    register_agent,
    unregister_agent,
)

BUILTINS = {"PG_DISCOVERY": DiscoveryAgent, "PG_SECURITY_SCAN": SecurityScanAgent, "PG_HEALTH": HealthAgent}


class EchoAgent:
    """Minimal plug-in used to exercise registration."""

    name = "TEST_ECHO"
    description = "Echoes its options."

    def run(self, request: AgentRequest) -> AgentResult:
        return AgentResult(self.name, "completed", "echo", {"options": dict(request.options)})


def unique_name(prefix: str = "TEST") -> str:
    # The registry is process-wide; unique names keep tests independent of each other and of order.
    return f"{prefix}_{uuid.uuid4().hex[:8].upper()}"


def install_plugin(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A real (unpacked) distribution: *.dist-info with entry_points.txt plus its modules, on ``site``."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = ["[platform_god.agents]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


PLUGIN_SOURCE = '''
from flows.agents import AgentResult

class PluginAgent:
    name = "{name}"
    description = "Plug-in agent from an entry point."

    def run(self, request):
        return AgentResult(self.name, "completed", "plugin ran", {{"root": str(request.repository_root)}})
'''


@pytest.mark.parametrize(("name", "cls"), sorted(BUILTINS.items()))
def test_builtin_agents_are_available_without_installation(name: str, cls: type) -> None:
    assert available_agents()[name] is cls


@pytest.mark.parametrize(("name", "cls"), sorted(BUILTINS.items()))
def test_get_agent_returns_an_instance_named_like_the_request(name: str, cls: type) -> None:
    agent = get_agent(name)
    assert isinstance(agent, cls) and isinstance(agent, Agent) and agent.name == name


def test_unknown_agent_error_lists_known_names() -> None:
    with pytest.raises(AgentNotFound) as excinfo:
        get_agent("PG_FOO")
    assert str(excinfo.value).startswith("unknown agent 'PG_FOO'; known: PG_DISCOVERY, PG_HEALTH, PG_SECURITY_SCAN")


def test_agent_not_found_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        get_agent("PG_FOO")


def test_agent_not_found_survives_pickling_for_subprocess_runners() -> None:
    error = AgentNotFound("PG_FOO", ["PG_B", "PG_A"])
    assert str(pickle.loads(pickle.dumps(error))) == "unknown agent 'PG_FOO'; known: PG_A, PG_B"


def test_register_agent_makes_it_available_by_name(tmp_path: Path) -> None:
    name = unique_name()
    register_agent(name, EchoAgent)
    try:
        result = get_agent(name).run(AgentRequest(tmp_path, options={"x": 1}))
        assert result.data == {"options": {"x": 1}}
    finally:
        unregister_agent(name)


def test_register_agent_is_listed_by_available_agents() -> None:
    name = unique_name()
    register_agent(name, EchoAgent)
    try:
        assert available_agents()[name] is EchoAgent
    finally:
        unregister_agent(name)


def test_unregister_agent_removes_the_registration() -> None:
    name = unique_name()
    register_agent(name, EchoAgent)
    unregister_agent(name)
    with pytest.raises(AgentNotFound):
        get_agent(name)


def test_register_agent_refuses_a_builtin_name() -> None:
    with pytest.raises(ValueError, match="built-in"):
        register_agent("PG_DISCOVERY", EchoAgent)


def _another_echo_factory() -> EchoAgent:
    """A factory other than the class itself."""
    return EchoAgent()


def test_register_agent_refuses_a_second_factory_for_the_same_name() -> None:
    name = unique_name()
    register_agent(name, EchoAgent)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_agent(name, _another_echo_factory)
    finally:
        unregister_agent(name)


@pytest.mark.parametrize("bad_name", ["", "1ABC", "has space", "semi;colon"])
def test_register_agent_refuses_malformed_names(bad_name: str) -> None:
    with pytest.raises(ValueError, match="invalid agent name"):
        register_agent(bad_name, EchoAgent)


def test_factory_that_returns_a_non_agent_is_an_agent_error() -> None:
    name = unique_name()
    register_agent(name, object)
    try:
        with pytest.raises(AgentError, match="does not implement the Agent protocol"):
            get_agent(name)
    finally:
        unregister_agent(name)


def test_entry_point_plugin_is_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique_name("EP")
    module = f"pg_plugin_{name.lower()}"
    install_plugin(tmp_path, f"dist_{name.lower()}", {name: f"{module}:PluginAgent"},
                   {module: PLUGIN_SOURCE.format(name=name)})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_agent(name).run(AgentRequest(tmp_path)).summary == "plugin ran"


def test_broken_entry_point_is_skipped_by_available_agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique_name("EP")
    install_plugin(tmp_path, f"dist_{name.lower()}", {name: "pg_no_such_module_xyz:Agent"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert name not in available_agents()


def test_broken_entry_point_lookup_reports_the_import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique_name("EP")
    install_plugin(tmp_path, f"dist_{name.lower()}", {name: "pg_no_such_module_xyz:Agent"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AgentError, match=r"ModuleNotFoundError.*pg_no_such_module_xyz"):
        get_agent(name)


def test_entry_point_cannot_replace_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"pg_plugin_shadow_{uuid.uuid4().hex[:8]}"
    install_plugin(tmp_path, module, {"PG_DISCOVERY": f"{module}:PluginAgent"},
                   {module: PLUGIN_SOURCE.format(name="PG_DISCOVERY")})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert available_agents()["PG_DISCOVERY"] is DiscoveryAgent


def test_entry_point_shadowing_a_builtin_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = f"pg_plugin_shadow_{uuid.uuid4().hex[:8]}"
    install_plugin(tmp_path, module, {"PG_HEALTH": f"{module}:PluginAgent"},
                   {module: PLUGIN_SOURCE.format(name="PG_HEALTH")})
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="flows.agents.base"):
        available_agents()
    assert f"PG_HEALTH={module}:PluginAgent ignored: built-in PG_HEALTH wins" in caplog.text


def test_request_accepts_live_as_an_alias_of_apply(tmp_path: Path) -> None:
    assert AgentRequest(tmp_path, mode="live").mode == "apply"  # type: ignore[arg-type]


def test_request_rejects_an_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be"):
        AgentRequest(tmp_path, mode="yolo")  # type: ignore[arg-type]


def test_request_turns_a_string_root_into_a_path(tmp_path: Path) -> None:
    assert AgentRequest(str(tmp_path)).repository_root == tmp_path  # type: ignore[arg-type]


def test_request_defaults_to_dry_run(tmp_path: Path) -> None:
    assert AgentRequest(tmp_path).mode == "dry_run"


def test_request_is_picklable_for_subprocess_runners(tmp_path: Path) -> None:
    request = AgentRequest(tmp_path, "apply", {"max_files": 10})
    assert pickle.loads(pickle.dumps(request)) == request


def test_result_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        AgentResult("X", "skipped", "s", {})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_missing_repository_root_is_an_agent_error(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(AgentError, match=re.escape(f"repository_root '{missing}' does not exist")):
        get_agent(name).run(AgentRequest(missing))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_repository_root_that_is_a_file_is_an_agent_error(name: str, tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(AgentError, match="is not a directory"):
        get_agent(name).run(AgentRequest(file))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_invalid_option_value_is_an_agent_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="max_files"):
        get_agent(name).run(AgentRequest(tmp_path, options={"max_files": 0}))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_unknown_options_are_reported_not_silently_dropped(name: str, tmp_path: Path) -> None:
    result = get_agent(name).run(AgentRequest(tmp_path, options={"max_filez": 3}))
    assert result.data["ignored_options"] == ["max_filez"]
