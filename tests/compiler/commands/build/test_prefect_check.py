"""Build checks what it emits with Prefect's own models: what `prefect deploy` would refuse fails the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.commands.build import build
from compiler.commands.prefect_check import automation_problems, deployment_problems
from tests.compiler.support import make_config_dir

_TRIGGER = {
    "name": "x (event trigger)",
    "type": "event",
    "enabled": True,
    "posture": "Reactive",
    "expect": ["platform-god.custom.x"],
    "match": {"prefect.resource.id": "platform-god.*"},
    "threshold": 1,
    "within": 0,
    "parameters": {},
}

# (deployment pieces, expected (field, message fragment) list)
CASES = [
    ({"schedules": [{"cron": "0 2 * * *", "timezone": "UTC", "day_or": True, "active": True}]}, []),
    ({"schedules": [{"cron": "0 2 1W * *", "timezone": "UTC"}]}, [("schedules[0]", 'Invalid cron string: "0 2 1W * *"')]),
    ({"schedules": [{"interval": 0, "timezone": "UTC"}]}, [("schedules[0]", "schedule rejected by Prefect: interval")]),
    ({"triggers": [_TRIGGER]}, []),
    ({"triggers": [_TRIGGER | {"within": -5}]}, [("triggers[0]", "trigger rejected by Prefect: within")]),
    ({"triggers": [_TRIGGER | {"posture": "Sideways"}]}, [("triggers[0]", "trigger rejected by Prefect: posture")]),
    ({"concurrency_limit": {"limit": 1, "collision_strategy": "ENQUEUE"}}, []),
    ({"concurrency_limit": {"limit": 1, "collision_strategy": "DROP"}}, [("concurrency_limit", "collision_strategy")]),
]


@pytest.mark.parametrize(("deployment", "expected"), CASES, ids=[f"case{n}" for n in range(len(CASES))])
def test_deployment_pieces_are_checked_with_prefects_models(deployment: dict, expected: list[tuple[str, str]]) -> None:
    problems = deployment_problems(deployment)

    assert [field for field, _ in problems] == [field for field, _ in expected]
    assert all(fragment in message for (_, message), (_, fragment) in zip(problems, expected, strict=True)), problems


def test_an_automation_spec_prefect_refuses_is_named() -> None:
    assert automation_problems({"name": "z", "trigger": {"type": "event", "posture": "Sideways"}, "actions": []})


def test_a_cron_croniter_accepts_but_prefect_refuses_fails_the_build(tmp_path: Path) -> None:
    """`1W` (nearest weekday) passes the language's croniter and fails Prefect's vendored one."""
    automations = make_config_dir(tmp_path / "configs")
    (automations / "weekday.yaml").write_text(
        "name: weekday\ntrigger:\n  type: time\n  time: {cron_expression: '0 2 1W * *'}\n"
        "actions:\n  - {type: log_message, name: x, parameters: {message: hi}}\n",
        encoding="utf-8",
    )
    result = build(automations, tmp_path / "out")

    assert [str(d).split(": ", 1)[1] for d in result.errors] == [
        '<deployment weekday>.schedules[0]: schedule rejected by Prefect: cron: Value error, Invalid cron string: "0 2 1W * *"'
    ]
    assert not (tmp_path / "out").exists()
