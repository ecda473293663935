"""The spec's registry API over the compiler's catalog: load, register, look up, export (no Prefect API needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from platform_god.automations import AutomationDefinition, AutomationError, AutomationRegistry, AutomationRun, RunStatus
from platform_god.automations.registry import get_automation_registry
from tests.prefect_support import ROOT

EXTRA = {
    "name": "registered_in_code",
    "trigger": {"type": "event", "event": {"event_type": "custom", "custom_type": "deploy_done"}},
    "actions": [{"type": "log_message", "name": "say", "parameters": {"message": "deployed {event.payload.service}"}}],
}


@pytest.fixture()
def config_dir(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path / "configs" / "automations"


@pytest.fixture()
def registry(config_dir: Path) -> AutomationRegistry:
    return AutomationRegistry(config_dir)


def test_load_all_counts_the_valid_automations(registry: AutomationRegistry) -> None:
    assert (registry.load_all(), registry.names()) == (4, ["chain_completion_notification", "daily_security_scan", "health_alert", "record_push"])


def test_a_bad_file_is_reported_and_the_others_load(registry: AutomationRegistry, config_dir: Path) -> None:
    (config_dir / "broken.yaml").write_text("name: broken\ntrigger: {type: time, time: {cron_expression: '0 0 31 2 *'}}\nactions: []\n")
    assert registry.load_all() == 4
    assert [d.field for d in registry.diagnostics] == ["trigger.time.cron_expression", "actions"]


def test_get_by_name_returns_a_definition_or_none(registry: AutomationRegistry) -> None:
    found = registry.get_by_name("daily_security_scan")
    assert isinstance(found, AutomationDefinition) and found.trigger.time.cron_expression == "0 2 * * *"
    assert registry.get_by_name("no_such_automation") is None


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_load_from_file_registers_it(registry: AutomationRegistry, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"extra.{fmt}"
    path.write_text(yaml.safe_dump(EXTRA) if fmt == "yaml" else json.dumps(EXTRA))
    loaded = getattr(registry, f"load_from_{fmt}")(path)
    assert (loaded.name, loaded.inputs, registry.get_by_name("registered_in_code") == loaded) == ("registered_in_code", (), True)


@pytest.mark.parametrize(
    ("method", "filename", "message"),
    [
        ("load_from_yaml", "a.json", "load_from_yaml reads .yaml or .yml files, not '.json'"),
        ("load_from_json", "a.yaml", "load_from_json reads .json files, not '.yaml'"),
    ],
)
def test_load_from_file_refuses_the_other_format(registry: AutomationRegistry, tmp_path: Path, method: str, filename: str, message: str) -> None:
    (tmp_path / filename).write_text("{}")
    with pytest.raises(ValueError, match=message):
        getattr(registry, method)(tmp_path / filename)


def test_load_from_an_invalid_file_names_file_line_and_field(registry: AutomationRegistry, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntrigger:\n  type: time\n  time: {cron_expression: 'every day'}\nactions: []\n")
    with pytest.raises(AutomationError) as caught:
        registry.load_from_yaml(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:4:27: trigger.time.cron_expression: cron needs five fields (minute hour day-of-month month day-of-week), got 2: 'every day'",
        f"{path}:5:10: actions: must not be empty (at least 1)",
    ]


@pytest.mark.parametrize("given", ["mapping", "definition"])
def test_register_makes_it_available_and_survives_reload(registry: AutomationRegistry, given: str) -> None:
    automation = EXTRA if given == "mapping" else AutomationDefinition.from_dict(EXTRA)
    registered = registry.register(automation)
    registry.load_all()
    assert registry.get("registered_in_code") == registered
    assert "registered_in_code" in registry.catalog.automations


def test_register_refuses_other_objects(registry: AutomationRegistry) -> None:
    with pytest.raises(TypeError, match="register\\(\\) takes an AutomationDefinition or a mapping, not int"):
        registry.register(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_automation_is_the_normalized_definition(registry: AutomationRegistry, fmt: str) -> None:
    text = registry.export_automation(registry.get_by_name("health_alert"), format=fmt)  # type: ignore[arg-type]
    data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert (data["name"], data["trigger"]["condition"]["source"]) == ("health_alert", {"type": "registry"})


def test_export_all_lists_every_automation(registry: AutomationRegistry) -> None:
    registry.register(EXTRA)
    assert [a["name"] for a in json.loads(registry.export_all(format="json"))] == [
        "chain_completion_notification", "daily_security_scan", "health_alert", "record_push", "registered_in_code",
    ]


def test_export_refuses_an_unknown_format(registry: AutomationRegistry) -> None:
    with pytest.raises(ValueError, match="format must be 'yaml' or 'json', not 'toml'"):
        registry.export_all(format="toml")


def test_record_run_stores_nothing_and_returns_the_run(registry: AutomationRegistry) -> None:
    run = AutomationRun("id", "demo", RunStatus.COMPLETED, "", None, 0.0)
    assert registry.record_run(run) is run


def test_the_process_registry_is_one_object_until_another_folder_is_asked_for(config_dir: Path, tmp_path: Path) -> None:
    first = get_automation_registry(config_dir)
    assert get_automation_registry() is first
    other = get_automation_registry(tmp_path / "elsewhere")
    assert other is not first and get_automation_registry() is other
