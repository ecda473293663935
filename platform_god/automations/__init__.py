"""``platform_god.automations``: the spec's Python API, mapped onto this project's compiler and Prefect runtime.

Nothing here is a second implementation: automations are the compiler's validated models, runs are
Prefect flow runs, triggers and schedules are the deployments ``serve`` creates, executed in a
background thread of this process while the trigger engine or scheduler is started. Prefect calls go
to ``PREFECT_API_URL`` or, when none is configured, to the embedded local server (started on first
use and stopped when the process exits).
"""

from __future__ import annotations

from flows.events.publish import EventListener
from platform_god.automations.actions import execute_automation, register_custom_action
from platform_god.automations.models import (
    ActionConfig,
    ActionExecution,
    ActionStatus,
    ActionType,
    AutomationDefinition,
    AutomationRun,
    AutomationStatus,
    ConditionOperator,
    Event,
    EventType,
    RunStatus,
    TriggerConfig,
    TriggerType,
)
from platform_god.automations.registry import AutomationError, AutomationRegistry, get_automation_registry
from platform_god.automations.scheduler import AutomationScheduler, LockHeld, get_scheduler
from platform_god.automations.triggers import ConditionEvaluator, StopReport, TriggerEngine, get_trigger_engine

__all__ = [
    "ActionConfig",
    "ActionExecution",
    "ActionStatus",
    "ActionType",
    "AutomationDefinition",
    "AutomationError",
    "AutomationRegistry",
    "AutomationRun",
    "AutomationScheduler",
    "AutomationStatus",
    "ConditionEvaluator",
    "ConditionOperator",
    "Event",
    "EventListener",
    "EventType",
    "LockHeld",
    "RunStatus",
    "StopReport",
    "TriggerConfig",
    "TriggerEngine",
    "TriggerType",
    "execute_automation",
    "get_automation_registry",
    "get_scheduler",
    "get_trigger_engine",
    "register_custom_action",
]
