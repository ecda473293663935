"""The names build, deploy and the runtime share: which deployments are ours, the cooldown limit's name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from compiler.language.prefect_names import COOLDOWN_LIMIT_PREFIX, cooldown_limit_name, is_ours


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
