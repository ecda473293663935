"""FlowCatalog gives each deployment's flow name and parameter schema as Prefect computes them from the real flow
(one schema per distinct signature), and the build's rendered prefect.yaml data is what parsing its text gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from compiler.commands.build import PREFECT_YAML_PATH, parsed_prefect_yaml, plan_outputs
from compiler.commands.plan.flow_facts import FlowCatalog
from compiler.language.deploy_config import BuildOptions
from tests.prefect_support import ROOT

LOG = "actions:\n  - type: log_message\n    name: say\n    parameters: {{message: \"{text}\"}}\n"
EVENT = "trigger:\n  type: event\n  event: {event_type: custom, custom_type: probe}\n"
CASES = {
    "no_context": EVENT + LOG.format(text="hello"),
    "strings": "context: {repository_root: '.', owner: team-1}\n" + EVENT + LOG.format(text="{owner}"),
    "same_strings": "context: {repository_root: '.', owner: team-1}\n" + EVENT + LOG.format(text="other"),
    "other_value": "context: {repository_root: '.', owner: team-2}\n" + EVENT + LOG.format(text="x"),
    "typed_values": "context: {retries: 3, ratio: 0.5, flags: [a, b], nested: {k: true}}\n" + EVENT + LOG.format(text="x"),
    "an_input": EVENT + LOG.format(text="{branch}"),
    "timed": "context: {owner: team-1}\ntrigger:\n  type: time\n  time: {cron_expression: '0 1 * * *'}\n" + LOG.format(text="x"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, str]]:
    project = tmp_path_factory.mktemp("facts")
    folder = project / "configs" / "automations"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", project / "configs" / "chains")
    for name, body in CASES.items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    outputs, errors, _ = plan_outputs(folder, BuildOptions())
    assert not errors, errors
    return project, outputs


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_automations_flow_facts_are_its_real_flows(built: tuple[Path, dict[Path, str]], name: str) -> None:
    from prefect.utilities.callables import parameter_schema

    project, outputs = built
    catalog = FlowCatalog.from_outputs(project, outputs)
    for other in sorted(CASES):  # schemas are shared by signature: the order they are asked in must not matter
        catalog.facts(f"flows/automations.py:{other}")
    facts = catalog.facts(f"flows/automations.py:{name}")
    real = FlowCatalog.from_outputs(project, outputs).facts(f"flows/automations.py:{name}").flow()
    assert (facts.name, facts.parameter_schema.model_dump(exclude_unset=True)) == (real.name, parameter_schema(real).model_dump(exclude_unset=True))


def test_the_watcher_flow_is_imported(built: tuple[Path, dict[Path, str]]) -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.conditions.watcher import condition_watcher

    facts = FlowCatalog.from_outputs(*built).facts("flows/conditions/watcher.py:condition_watcher")
    assert (facts.name, facts.parameter_schema) == (condition_watcher.name, parameter_schema(condition_watcher))


def test_the_rendered_prefect_yaml_data_is_what_its_text_parses_to(built: tuple[Path, dict[Path, str]]) -> None:
    text = built[1][PREFECT_YAML_PATH]
    assert parsed_prefect_yaml(text) == yaml.safe_load(text)
