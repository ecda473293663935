"""Triggers: event, time (cron) and condition (JSONPath metric), each with a cooldown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse as parse_jsonpath
from pydantic import Field, ValidationInfo, field_validator, model_validator

from compiler.language.diagnostics import did_you_mean
from compiler.language.model.base import JsonValue, RequestableUrl, StrictModel, checked

__all__ = [
    "NUMERIC_OPERATORS",
    "ConditionSpec",
    "ConditionTrigger",
    "EventSpec",
    "EventTrigger",
    "EventType",
    "MatchMode",
    "MetricsSource",
    "MissedRunsPolicy",
    "Operator",
    "TimeSpec",
    "TimeTrigger",
    "Trigger",
    "compile_jsonpath",
]

EventType = Literal[
    "agent_complete",
    "agent_failed",
    "chain_complete",
    "chain_failed",
    "registry_update",
    "artifact_created",
    "custom",
]
Operator = Literal["gt", "lt", "gte", "lte", "eq", "ne", "contains", "exists"]
MatchMode = Literal["any", "all"]
NUMERIC_OPERATORS = frozenset({"gt", "lt", "gte", "lte"})

_FilterValue = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"^[^\s]+$", description="Exact value, or a glob (`*`, `?`)."),
]
Cooldown = Annotated[
    int,
    Field(
        ge=0,
        le=31_536_000,
        description="Seconds after a run starts during which new firings are skipped (0 = no cooldown).",
    ),
]


class EventSpec(StrictModel):
    """Which published events start the automation; every given filter must match."""

    event_type: EventType = Field(description="Kind of event, as published by the runtime.")
    chain_name: _FilterValue | None = Field(default=None, description="Only chains with this name.")
    agent_name: _FilterValue | None = Field(default=None, description="Only agents with this name.")
    custom_type: _FilterValue | None = Field(
        default=None, description="Custom event name; required when event_type is custom."
    )
    entity_type: _FilterValue | None = Field(default=None, description="registry_update: entity type.")
    artifact_type: _FilterValue | None = Field(default=None, description="artifact_created: artifact type.")
    status: _FilterValue | None = Field(default=None, description="Only events with this status.")

    @field_validator("chain_name", "agent_name", "custom_type", "entity_type", "artifact_type")
    @classmethod
    def _filter_fits_event_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model one) so the error points at the filter that does not apply.
        event_type = info.data.get("event_type")  # absent when event_type itself was invalid
        if value is not None and event_type is not None and info.field_name not in _FILTERS_BY_EVENT[event_type]:
            fits = ", ".join(sorted(_FILTERS_BY_EVENT[event_type]))
            raise ValueError(f"{info.field_name} does not apply to {event_type} events (allowed: {fits})")
        return value

    @model_validator(mode="after")
    def _custom_has_custom_type(self) -> EventSpec:
        if self.event_type == "custom" and self.custom_type is None:
            raise ValueError("custom events need custom_type: the name given to publish_custom()")
        return self


_FILTERS_BY_EVENT: dict[str, frozenset[str]] = {
    "agent_complete": frozenset({"agent_name"}),
    "agent_failed": frozenset({"agent_name"}),
    "chain_complete": frozenset({"chain_name"}),
    "chain_failed": frozenset({"chain_name"}),
    "registry_update": frozenset({"entity_type"}),
    "artifact_created": frozenset({"artifact_type"}),
    "custom": frozenset({"custom_type"}),
}


class EventTrigger(StrictModel):
    """Start on a matching event."""

    type: Literal["event"]
    event: EventSpec
    cooldown_seconds: Cooldown = 0


class MissedRunsPolicy(StrictModel):
    """What to do with scheduled runs that start late (after downtime): run all, only the newest, or none."""

    policy: Literal["all", "last", "none"] = Field(
        default="last", description="all: run every late run; last: only the newest of a backlog; none: skip late runs."
    )
    grace_seconds: Annotated[int, Field(ge=0, le=31_536_000)] = Field(
        default=300, description="A run that starts later than this after its scheduled time counts as missed."
    )


@lru_cache(maxsize=1024)
def _cron_problem(value: str) -> str | None:
    """Why a five-field cron expression is invalid, or None; cached: croniter takes ~0.5 ms per expression
    and the answer depends on the expression alone (the search starts at a fixed date)."""
    fields = value.split()
    if len(fields) != 5:
        return f"cron needs five fields (minute hour day-of-month month day-of-week), got {len(fields)}: '{value}'"
    try:
        # croniter searches forward; an expression such as '0 0 31 2 *' has no next date at all.
        croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadCronError as exc:
        return f"invalid cron expression '{value}': {exc}"
    except CroniterBadDateError:
        return f"cron expression '{value}' can never fire (no such date)"
    return None


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=256)
def _timezone_problem(value: str) -> str | None:
    """Why ``value`` is not a timezone, or None. ``ZoneInfo`` reads files named by the key, so a region
    folder (``Europe``) or a data file (``zone.tab``) raised OSError or half-parsed: the IANA list decides."""
    if value in _iana_names():
        return None
    regions = sorted(name for name in _iana_names() if name.startswith(value + "/"))
    if regions:
        return f"'{value}' is a region, not a timezone; use a name such as {', '.join(regions[:2])}"
    hint = did_you_mean(value, _iana_names()) if len(value) <= 64 else ""
    shown = value if len(value) <= 64 else value[:61] + "..."
    return f"unknown timezone '{shown}': use an IANA name such as UTC or Europe/Berlin{hint}"


class TimeSpec(StrictModel):
    """A five-field cron expression in a timezone."""

    cron_expression: Annotated[str, checked(_cron_problem)] = Field(description="Five-field cron: minute hour day-of-month month day-of-week.")
    timezone_str: Annotated[str, checked(_timezone_problem)] = Field(default="UTC", description="IANA timezone name, e.g. Europe/Berlin.")
    missed_runs: MissedRunsPolicy = Field(default_factory=MissedRunsPolicy)


class TimeTrigger(StrictModel):
    """Start on a cron schedule."""

    type: Literal["time"]
    time: TimeSpec
    cooldown_seconds: Cooldown = 0


class MetricsSource(StrictModel):
    """Where the metrics document comes from: the registry's latest metrics, a JSON file, or a URL."""

    type: Literal["registry", "file", "http"] = "registry"
    path: str | None = Field(default=None, description="file: path of a JSON document.")
    url: RequestableUrl | None = Field(default=None, description="http: URL answering a JSON document.")

    @model_validator(mode="after")
    def _location_fits_type(self) -> MetricsSource:
        need = {"registry": None, "file": "path", "http": "url"}[self.type]
        for name in ("path", "url"):
            if name == need and getattr(self, name) is None:
                raise ValueError(f"a {self.type} source needs '{name}'")
            if name != need and getattr(self, name) is not None:
                raise ValueError(f"'{name}' does not apply to a {self.type} source")
        return self


class ConditionSpec(StrictModel):
    """A JSONPath on the metrics document compared with a threshold, checked on an interval."""

    metric_path: str = Field(description="JSONPath, e.g. $.metrics.health_score.")
    operator: Operator
    threshold: JsonValue = Field(default=None, description="Value compared with; not used by exists.")
    match: MatchMode = Field(
        default="any",
        description=(
            "When the JSONPath matches several values: any (default) holds when at least one value satisfies "
            "the operator, all when every value does. A condition is an alert, so one unhealthy service "
            "among many must fire."
        ),
    )
    check_interval_seconds: Annotated[int, Field(ge=10, le=86_400)] = 300
    source: MetricsSource = Field(default_factory=MetricsSource)

    @field_validator("metric_path")
    @classmethod
    def _jsonpath_parses(cls, value: str) -> str:
        try:
            compile_jsonpath(value)
        except JSONPathError as exc:
            raise ValueError(f"invalid JSONPath '{value}': {exc}") from None
        return value

    @field_validator("threshold")
    @classmethod
    def _given_threshold_fits_operator(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked on the field so the error points at the threshold; a missing one is checked below.
        operator = info.data.get("operator")  # absent when the operator itself was invalid
        if operator in NUMERIC_OPERATORS and (isinstance(value, bool) or not isinstance(value, int | float)):
            shown = f"string '{value}'" if isinstance(value, str) else "null" if value is None else json.dumps(value)
            raise ValueError(f"operator {operator} needs a numeric threshold, got {shown}")
        return value

    @model_validator(mode="after")
    def _threshold_fits_operator(self) -> ConditionSpec:
        if self.operator in NUMERIC_OPERATORS and (
            isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float)
        ):
            raise ValueError(f"operator {self.operator} needs a numeric threshold")
        if self.operator in ("eq", "ne", "contains") and self.threshold is None:
            raise ValueError(f"operator {self.operator} needs a threshold")
        return self


class ConditionTrigger(StrictModel):
    """Start when a metric condition holds."""

    type: Literal["condition"]
    condition: ConditionSpec
    cooldown_seconds: Cooldown = 0


@lru_cache(maxsize=1024)
def compile_jsonpath(path: str) -> Any:
    """Parsed JSONPath (jsonpath-ng's parser is slow; many files share the same paths)."""
    return parse_jsonpath(path)


Trigger = Annotated[EventTrigger | TimeTrigger | ConditionTrigger, Field(discriminator="type")]
