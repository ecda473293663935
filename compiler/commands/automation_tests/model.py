"""The test-file format as pydantic models: cases naming an automation, what happens, and what is expected."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from compiler.language.model.base import JsonValue, StrictModel

__all__ = ["Case", "Expect", "TestFile", "When"]

_ActionName = Annotated[str, Field(min_length=1, max_length=63)]


class When(StrictModel):
    """What happens: the trigger's data (one of event, metrics, scheduled_time, matching the trigger), the
    run's parameters, and stubs for the actions."""

    event: dict[str, JsonValue] | None = Field(
        default=None,
        description="Event triggers: a Prefect event (event, resource, payload, id) or the short form "
        "{event_type, <filters>, payload} that dry-run --event takes.",
    )
    metrics: dict[str, JsonValue] | list[JsonValue] | None = Field(
        default=None, description="Condition triggers: the metrics document the JSONPath is evaluated on."
    )
    scheduled_time: str | None = Field(
        default=None,
        description="Time triggers: the run's scheduled time, ISO 8601; without an offset it is in the trigger's timezone.",
    )
    now: str | None = Field(
        default=None,
        description="When the run starts, ISO 8601 (default: the scheduled time, else the current time); "
        "sets {date}, {time}, {timestamp}, {datetime} and the missed-run check.",
    )
    params: dict[str, JsonValue] = Field(default_factory=dict, description="Flow parameters: the automation's inputs.")
    outputs: dict[_ActionName, JsonValue] = Field(
        default_factory=dict, description="Stubbed outputs of actions, for {outputs.ACTION...} in later actions."
    )
    failing: list[_ActionName] = Field(default_factory=list, description="Actions that fail in this case.")
    last_run_seconds_ago: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="The previous run started this many seconds ago (checks the cooldown); default: no previous run."
    )


class Expect(StrictModel):
    """What must hold; only what is given is checked."""

    fires: bool = Field(default=True, description="Whether a run would start and execute its actions.")
    reason: str | None = Field(default=None, min_length=1, description="A substring of the reasons (trigger, cooldown, inputs).")
    parameters: dict[_ActionName, dict[str, JsonValue]] = Field(
        default_factory=dict,
        description="Per action, parameters it must receive after rendering (a subset: keys not given are not checked).",
    )
    skipped: list[_ActionName] | None = Field(
        default=None, description="Exactly the actions that would be skipped after a failure, in any order."
    )


class Case(StrictModel):
    """One test case."""

    name: str = Field(min_length=1, max_length=200, description="Shown in reports.")
    automation: str | None = Field(default=None, min_length=1, description="Automation under test (default: the file's).")
    when: When = Field(default_factory=When)
    expect: Expect = Field(default_factory=Expect)


class TestFile(StrictModel):
    """A test file: cases, optionally sharing one automation."""

    automation: str | None = Field(default=None, min_length=1, description="Default automation of the cases.")
    cases: list[Case] = Field(min_length=1)
