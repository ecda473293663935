"""The spec's model names as views of the compiler's models and of Prefect's run records; statuses as enums.

Nothing is stored here: an ``AutomationDefinition`` is a validated automation (``LoadedAutomation``),
an ``AutomationRun`` with its ``ActionExecution`` records is a Prefect flow run and its task runs, an
``Event`` is the Prefect event that was published. The spec's ``ScheduledTask`` and ``CooldownTracker``
have no counterpart: Prefect keeps schedules (deployment schedules, runs created ahead by its
scheduler) and cooldowns (a global concurrency limit per automation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args

from compiler.language.catalog import LoadedAutomation, load_automation_data
from compiler.language.model.automation import Automation
from compiler.language.model.triggers import ConditionTrigger, EventTrigger, Operator, TimeTrigger
from compiler.language.model.triggers import EventType as _EventType
from compiler.language.normalize import normalized
from flows.actions import ACTION_TYPES
from flows.events.publish import PublishedEvent
from flows.prefect_api.history import ActionHistory, RunHistory
from flows.python_api import AutomationError

__all__ = [
    "ActionConfig",
    "ActionExecution",
    "ActionStatus",
    "ActionType",
    "AutomationDefinition",
    "AutomationRun",
    "AutomationStatus",
    "ConditionOperator",
    "Event",
    "EventType",
    "RunStatus",
    "TriggerConfig",
    "TriggerType",
]


def _value_enum(name: str, values: list[str], doc: str) -> Any:
    """A StrEnum whose values are exactly the language's own values (so the two cannot drift apart)."""
    # The functional API with names from the language's tables; mypy wants literal member names.
    enum = StrEnum(name, [(value.upper(), value) for value in values], module=__name__)  # type: ignore[misc]
    enum.__doc__ = doc
    return enum


def _action_type_names() -> list[str]:
    return list(ACTION_TYPES)


AutomationStatus = _value_enum(
    "AutomationStatus", list(get_args(Automation.model_fields["status"].annotation)), "An automation's status: enabled or disabled."
)
TriggerType = _value_enum(
    "TriggerType",
    [get_args(model.model_fields["type"].annotation)[0] for model in (EventTrigger, TimeTrigger, ConditionTrigger)],
    "What starts an automation: an event, a time (cron) or a condition on a metric.",
)
EventType = _value_enum("EventType", list(get_args(_EventType)), "Kinds of Platform God events (see flows/events/publish.py).")
ConditionOperator = _value_enum("ConditionOperator", list(get_args(Operator)), "Operators of a condition trigger.")
ActionType = _value_enum("ActionType", _action_type_names(), "Action types (one per row of flows/actions ACTION_TYPES).")

Event = PublishedEvent  # what publish_* returned: id, Prefect event name, resource labels, payload


class RunStatus(StrEnum):
    """A run's or an action's status: Prefect's state name in snake case (``Completed`` → ``completed``).

    ``skipped`` is a Completed state named Skipped (cooldown, missed schedule, an earlier action failed);
    ``cached`` is an action whose result was reused for the same occurrence (idempotency).
    """

    SCHEDULED = "scheduled"
    LATE = "late"
    AWAITING_RETRY = "awaiting_retry"
    AWAITING_CONCURRENCY_SLOT = "awaiting_concurrency_slot"
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    CACHED = "cached"
    SKIPPED = "skipped"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def from_state_name(cls, name: str | None) -> RunStatus:
        """``"TimedOut"`` → TIMED_OUT; a name Prefect may add later → UNKNOWN."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name or "").lower()
        try:
            return cls(snake)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def succeeded(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.CACHED, RunStatus.SKIPPED)


_FINAL = frozenset(
    {RunStatus.COMPLETED, RunStatus.CACHED, RunStatus.SKIPPED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CRASHED, RunStatus.CANCELLED}
)
ActionStatus = RunStatus  # actions are Prefect task runs: the same states


class _View:
    """Attribute access falls through to the wrapped pydantic model (``.model``)."""

    __slots__ = ("model",)

    def __init__(self, model: Any) -> None:
        self.model = model

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.model == self.model

    def __hash__(self) -> int:
        return hash((type(self), repr(self.model)))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.model.model_dump(mode="json", by_alias=True, exclude_none=True))


class TriggerConfig(_View):
    """View of the automation's trigger model (``EventTrigger``, ``TimeTrigger`` or ``ConditionTrigger``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"TriggerConfig({self.model!r})"

    @property
    def type(self) -> Any:
        return TriggerType(self.model.type)

    @property
    def event_type(self) -> Any | None:
        return EventType(self.model.event.event_type) if self.model.type == "event" else None


class ActionConfig(_View):
    """View of one action model: shared fields (retries, timeout, idempotency…) and its typed parameters."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ActionConfig({self.model!r})"

    @property
    def type(self) -> Any:
        return ActionType(self.model.type)

    @property
    def parameters(self) -> dict[str, Any]:
        """As written (templates unrendered), defaults filled in."""
        return dict(self.model.parameters.model_dump(mode="json", by_alias=True, exclude_none=True))


class AutomationDefinition:
    """A validated automation: the compiler's model with where it came from and the inputs its templates need.

    ``id`` is the name: names are unique, and the Prefect flow and deployment are named after them.
    """

    __slots__ = ("loaded",)

    def __init__(self, loaded: LoadedAutomation) -> None:
        self.loaded = loaded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], config_dir: Path | str | None = None) -> AutomationDefinition:
        """Validate data as an automation file would be (chains from ``config_dir``/../chains); raises
        ``AutomationError`` with every problem."""
        # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); `import platform_god.automations` does without it
        from compiler.language.settings import get_settings

        folder = Path(config_dir) if config_dir is not None else get_settings().config_dir / "automations"
        label = f"<registered:{data.get('name', '?')}>.json"
        catalog = load_automation_data(dict(data), folder, label)
        if catalog.errors or not catalog.automations:
            raise AutomationError(f"{label}: not a valid automation", catalog.errors or catalog.diagnostics)
        (loaded,) = catalog.automations.values()
        return cls(loaded)

    @property
    def model(self) -> Automation:
        return self.loaded.automation

    @property
    def id(self) -> str:
        return self.loaded.automation.name

    @property
    def name(self) -> str:
        return self.loaded.automation.name

    @property
    def description(self) -> str:
        return self.loaded.automation.description

    @property
    def version(self) -> str:
        return self.loaded.automation.version

    @property
    def status(self) -> Any:
        return AutomationStatus(self.loaded.automation.status)

    @property
    def enabled(self) -> bool:
        return self.loaded.automation.status == "enabled"

    @property
    def tags(self) -> list[str]:
        return list(self.loaded.automation.tags)

    @property
    def context(self) -> dict[str, Any]:
        return dict(self.loaded.automation.context)

    @property
    def trigger(self) -> TriggerConfig:
        return TriggerConfig(self.loaded.automation.trigger)

    @property
    def actions(self) -> list[ActionConfig]:
        return [ActionConfig(action) for action in self.loaded.automation.actions]

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.loaded.inputs

    @property
    def path(self) -> str:
        return self.loaded.path

    def to_dict(self) -> dict[str, Any]:
        """The normalized definition (defaults filled in), as ``export`` writes it."""
        return normalized(self.loaded.automation)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutomationDefinition) and other.loaded == self.loaded

    def __hash__(self) -> int:
        return hash(self.loaded.automation.name)

    def __repr__(self) -> str:
        automation = self.loaded.automation
        return f"AutomationDefinition(name={automation.name!r}, trigger={automation.trigger.type!r}, path={self.loaded.path!r})"


@dataclass(frozen=True)
class ActionExecution:
    """One action of a run: its Prefect task run."""

    action_name: str
    status: RunStatus
    attempts: int
    duration_s: float
    message: str = ""
    summary: str = ""

    @classmethod
    def from_history(cls, action: ActionHistory) -> ActionExecution:
        return cls(action.name, RunStatus.from_state_name(action.status), action.attempts, action.duration_s, action.message, action.summary)


@dataclass(frozen=True)
class AutomationRun:
    """One execution of an automation: its Prefect flow run (``run_id`` is the flow run id)."""

    run_id: str
    automation_id: str
    status: RunStatus
    message: str
    started_at: datetime | None
    duration_s: float
    flow_run_name: str = ""
    action_executions: list[ActionExecution] = field(default_factory=list)

    @property
    def automation_name(self) -> str:
        return self.automation_id

    @property
    def succeeded(self) -> bool:
        return self.status.succeeded

    @classmethod
    def from_history(cls, run: RunHistory) -> AutomationRun:
        return cls(
            run_id=run.id,
            automation_id=run.automation,
            status=RunStatus.from_state_name(run.status),
            message=run.message,
            started_at=datetime.fromisoformat(run.start_time) if run.start_time else None,
            duration_s=run.duration_s,
            flow_run_name=run.name,
            action_executions=[ActionExecution.from_history(a) for a in run.actions],
        )
