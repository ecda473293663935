"""The names build, deploy and the runtime share: which deployments and Prefect automations are ours, the cooldown limit's name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from compiler.commands.build import zombie_automation
from compiler.language.prefect_names import COOLDOWN_LIMIT_PREFIX, cooldown_limit_name, is_our_automation, is_ours


@pytest.mark.parametrize(
    ("tags", "entrypoint", "ours"),
    [
        pytest.param(["platform-god"], "flows/automations.py:health_alert", True, id="automation-flow"),
        pytest.param(["platform-god", "x"], "flows/conditions/watcher.py:condition_watcher", True, id="watcher"),
        pytest.param([], "flows/automations.py:health_alert", False, id="not-tagged"),
        pytest.param(None, "flows/automations.py:health_alert", False, id="no-tags"),
        pytest.param(["platform-god"], "other/flow.py:main", False, id="foreign-entrypoint"),
        pytest.param(["platform-god"], None, False, id="no-entrypoint"),
        pytest.param(["platform-god"], "flows/automations.pyc:x", False, id="prefix-is-not-the-module"),
    ],
)
def test_is_ours_needs_our_tag_and_one_of_our_entrypoints(tags: list[str] | None, entrypoint: str | None, ours: bool) -> None:
    assert is_ours(SimpleNamespace(tags=tags, entrypoint=entrypoint)) is ours


def test_every_cooldown_limit_name_has_the_prefix_prune_looks_for() -> None:
    assert cooldown_limit_name("health_alert") == COOLDOWN_LIMIT_PREFIX + "health_alert"


@pytest.mark.parametrize(
    ("automation", "ours"),
    [
        pytest.param({"name": "platform-god-crash-zombie-runs", "owner_resource": None}, True, id="build-automation"),
        pytest.param({"name": "platform-god-old-one"}, True, id="no-owner-field"),
        pytest.param({"name": "platform-god-x", "owner_resource": "prefect.deployment.1234"}, False, id="a-deployment-trigger"),
        pytest.param({"name": "someone-elses", "owner_resource": None}, False, id="foreign-name"),
        pytest.param({"owner_resource": None}, False, id="no-name"),
    ],
)
def test_is_our_automation_needs_our_prefix_and_no_owning_deployment(automation: dict[str, Any], ours: bool) -> None:
    assert is_our_automation(automation) is ours


def test_the_build_s_prefect_automation_is_one_prune_may_remove() -> None:
    assert is_our_automation(zombie_automation())
