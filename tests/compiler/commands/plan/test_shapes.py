"""Canonical shapes: what prefect.yaml says and what the API answers (as measured on Prefect 3.9.1) compare equal."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.commands.plan.shapes import THIS_DEPLOYMENT, automation_shape, desired_schedule, desired_triggers, server_schedule, trigger_shape

DEPLOYMENT_ID = "ef87ed4e-2aa1-4e01-b2b8-a9b7fe4c3432"
EVENT_PARAMETERS = {"event": {"id": "{{ event.id | string }}", "payload": "{{ event.payload }}"}}
TRIGGER_SPEC = {
    "name": "notify (event trigger)",
    "type": "event",
    "enabled": True,
    "posture": "Reactive",
    "expect": ["platform-god.chain.completed"],
    "match": {"prefect.resource.id": "platform-god.*", "platform-god.chain-name": "full_analysis"},
    "threshold": 1,
    "within": 3600,
    "parameters": EVENT_PARAMETERS,
}
# The automation `prefect deploy` created for TRIGGER_SPEC, as GET /automations answered it.
SERVER_TRIGGER = {
    "id": "efc8fcc7-5154-4eae-9cf5-dac00b616bd9",
    "name": "notify (event trigger)",
    "description": "",
    "enabled": True,
    "tags": [],
    "trigger": {
        "type": "event", "id": "0b7a2d8e-0000-4000-8000-000000000001",
        "match": {"prefect.resource.id": "platform-god.*", "platform-god.chain-name": "full_analysis"},
        "match_related": {}, "after": [], "expect": ["platform-god.chain.completed"], "for_each": [],
        "posture": "Reactive", "threshold": 1, "within": 3600.0,
    },
    "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": DEPLOYMENT_ID,
                 "parameters": EVENT_PARAMETERS, "job_variables": None, "schedule_after": 0.0}],
    "actions_on_trigger": [],
    "actions_on_resolve": [],
    "owner_resource": None,
}


def test_a_deployed_trigger_reads_back_as_its_prefect_yaml_spec() -> None:
    desired = desired_triggers("notify", [TRIGGER_SPEC])
    assert desired == {"notify (event trigger)": trigger_shape(SERVER_TRIGGER, DEPLOYMENT_ID)}


def test_an_unnamed_trigger_gets_prefect_deploys_default_name() -> None:
    spec = {k: v for k, v in TRIGGER_SPEC.items() if k != "name"}
    assert list(desired_triggers("notify", [spec, spec])) == ["notify__automation_1", "notify__automation_2"]


@pytest.mark.parametrize(
    ("field", "server_value", "expected_path_value"),
    [
        ("expect", ["b.event", "a.event"], ["a.event", "b.event"]),  # stored as a set: order is not a difference
        ("after", ["x", "a"], ["a", "x"]),
        ("within", 3600, 3600.0),
    ],
)
def test_set_like_lists_and_numbers_are_canonical(field: str, server_value: Any, expected_path_value: Any) -> None:
    server = {**SERVER_TRIGGER, "trigger": {**SERVER_TRIGGER["trigger"], field: server_value}}
    assert trigger_shape(server, DEPLOYMENT_ID)["trigger"][field] == expected_path_value


def test_the_run_deployment_action_folds_into_parameters() -> None:
    shape = trigger_shape(SERVER_TRIGGER, DEPLOYMENT_ID)
    assert "actions" not in shape and "id" not in shape["trigger"]
    assert (shape["parameters"], shape["job_variables"], shape["schedule_after"]) == (EVENT_PARAMETERS, None, 0.0)


def test_an_automation_aimed_elsewhere_keeps_its_actions() -> None:
    other = {**SERVER_TRIGGER, "actions": [{**SERVER_TRIGGER["actions"][0], "deployment_id": "9" * 8 + DEPLOYMENT_ID[8:]}]}
    shape = trigger_shape(other, DEPLOYMENT_ID)
    assert shape["actions"][0]["deployment_id"] != THIS_DEPLOYMENT and "parameters" not in shape


def test_a_top_level_automation_drops_ids_and_sorts_sets() -> None:
    spec = {"name": "z", "trigger": {**SERVER_TRIGGER["trigger"], "expect": ["b", "a"]}, "actions": [{"type": "do-nothing"}]}
    server = {**spec, "id": "1f1e6f4c-0000-4000-8000-000000000002", "trigger": {**spec["trigger"], "expect": ["a", "b"]}}
    assert automation_shape(spec) == automation_shape(server)
    assert "id" not in automation_shape(server)


class _Schedule:
    """A deployment schedule as the client returns it (only the attributes the plan reads)."""

    def __init__(self, schedule: Any, active: bool = True) -> None:
        self.schedule, self.active, self.parameters, self.slug, self.max_scheduled_runs = schedule, active, {}, None, None


@pytest.mark.parametrize(
    ("prefect_yaml", "server_json"),
    [
        ({"cron": "0 2 * * *", "timezone": "UTC", "day_or": True, "active": True}, {"cron": "0 2 * * *", "timezone": "UTC", "day_or": True}),
        (
            {"interval": 300, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": "UTC", "active": True},
            {"interval": 300.0, "anchor_date": "2020-01-01T00:00:00Z", "timezone": "UTC"},
        ),
    ],
)
def test_schedules_read_back_equal(prefect_yaml: dict[str, Any], server_json: dict[str, Any]) -> None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    model = CronSchedule if "cron" in server_json else IntervalSchedule
    assert desired_schedule(prefect_yaml) == server_schedule(_Schedule(model.model_validate(server_json)))


@pytest.mark.parametrize(
    ("change", "field", "before", "after"),
    [
        ({"timezone": "Europe/Berlin"}, "timezone", "UTC", "Europe/Berlin"),
        ({"active": False}, "active", True, False),
        ({"cron": "0 3 * * *"}, "cron", "0 2 * * *", "0 3 * * *"),
    ],
)
def test_schedule_differences_show(change: dict[str, Any], field: str, before: Any, after: Any) -> None:
    base = {"cron": "0 2 * * *", "timezone": "UTC", "day_or": True, "active": True}
    assert (desired_schedule(base)[field], desired_schedule({**base, **change})[field]) == (before, after)
