"""What each automation becomes, as data: its deployment, the condition groups' watchers, cooldown limits, the zombie-run automation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler.language.condition_groups import CHECK_ANCHOR, condition_groups, source_label
from compiler.language.deploy_config import BuildOptions
from compiler.language.model.automation import Automation
from compiler.language.prefect_names import (
    AUTOMATIONS_MODULE,
    EVENT_NAMES,
    FILTER_LABELS,
    PLATFORM_TAG,
    WATCHER_ENTRYPOINT,
    cooldown_limit_name,
    event_name,
)

PROJECT_NAME = "platform-god-automations"
WATCHER_TAG = "condition-watcher"
WATCHER_ANCHOR_DATE = CHECK_ANCHOR.isoformat()  # "2020-01-01T00:00:00+00:00"
WATCHER_VERSION = "2"  # 2: one watcher per condition group (1: one per condition automation)
ZOMBIE_AUTOMATION_NAME = "platform-god-crash-zombie-runs"
# Heartbeats every 30 s (the minimum Prefect allows); three missed ones mean the process is gone.
ZOMBIE_AFTER_SECONDS = 90
# Prefect's server checks an enforced parameter schema against JSON Schema's metaschema on every deployment
# written and every run created from it. Measured 2026-12-07: 16 % of the server's CPU in a first deploy of 300
# automations (py-spy; benchmark P12); 31.8 ms of server CPU per deployment enforced vs 26.9 ms not for 200
# deployments registered by ``serve`` (4 alternating pairs; benchmark P13). The flows validate their parameters
# when a run starts (validate_parameters), so a bad parameter still ends the run Failed with the reason.
ENFORCE_PARAMETER_SCHEMA = False

# Event triggers pass one flow parameter, `event`, templated from the event (flows/prefect_api/seam.py
# EVENT_PARAMETER_TEMPLATE: how Prefect renders it is measured, not documented).
EVENT_PARAMETER = "event"
_COLLISION_STRATEGY = {"queue": "ENQUEUE", "skip": "CANCEL_NEW"}
# Characters that make a filter value a glob (or, with a leading !, a negation) in Prefect matching.
_GLOB_CHARS = frozenset("*?[!")



def _tags(automation: Automation, options: BuildOptions, *extra: str) -> list[str]:
    # Order is the automation's own, then ours; duplicates dropped so the file reads cleanly.
    return list(dict.fromkeys([*automation.tags, PLATFORM_TAG, *extra, *options.extra_tags]))


def _expect(event_type: str, custom_type: str | None) -> str:
    if event_type == "custom" and custom_type is not None and _GLOB_CHARS & set(custom_type):
        # Prefect matches `expect` with a regex in which only `*` is a wildcard; a glob such as
        # `deploy?` would match nothing, so expect any custom event and let the label filter decide.
        return EVENT_NAMES["custom"] + "*"
    return event_name(event_type, custom_type)


def event_trigger(automation: Automation) -> dict[str, Any]:
    """The Prefect deployment trigger of an event automation."""
    # deferred: the seam imports Prefect, ~1.1 s to import (measured with -X importtime); build, validate and test
    # load this module and need Prefect only when an event automation is compiled
    from flows.prefect_api.seam import EVENT_PARAMETER_TEMPLATE

    trigger = automation.trigger
    spec = trigger.event  # type: ignore[union-attr]
    match: dict[str, str] = {"prefect.resource.id": f"{PLATFORM_TAG}.*"}
    for field_name, label in FILTER_LABELS.items():
        value = getattr(spec, field_name, None)
        if value is not None:
            match[label] = value  # Prefect label values are fnmatch globs, the same as the YAML's
    return {
        "name": f"{automation.name} (event trigger)",
        "type": "event",
        "enabled": True,
        "posture": "Reactive",
        "expect": [_expect(spec.event_type, spec.custom_type)],
        "match": match,
        "threshold": 1,
        # Damps storms only: one firing per bucket of `within` seconds, buckets aligned to the first
        # firing (the first event fires at once). The exact cooldown is the concurrency-limit gate
        # in the flow.
        "within": trigger.cooldown_seconds,
        "parameters": {EVENT_PARAMETER: dict(EVENT_PARAMETER_TEMPLATE)},
    }


def _base_deployment(automation: Automation, options: BuildOptions, entrypoint: str) -> dict[str, Any]:
    return {
        "name": automation.name,
        "entrypoint": entrypoint,
        # Never empty: for an empty description `prefect deploy` stores the string 'None' when it creates
        # the deployment and null when it updates it (Prefect 3.9.1), so a redeploy would change it.
        "description": automation.description or f"Automation {automation.name} ({automation.trigger.type} trigger).",
        "version": automation.version,
        "tags": _tags(automation, options),
        "work_pool": {"name": options.work_pool, "job_variables": options.effective_job_variables},
        "parameters": {},
        "enforce_parameter_schema": ENFORCE_PARAMETER_SCHEMA,
    }


def deployments_for(automation: Automation, options: BuildOptions) -> list[dict[str, Any]]:
    """The prefect.yaml deployment of one enabled automation (a list: one entry per deployment). A condition
    automation's checks are its group's watcher deployment (:func:`watcher_deployments`)."""
    trigger = automation.trigger
    deployment = _base_deployment(automation, options, f"{AUTOMATIONS_MODULE}:{automation.name}")
    if automation.overlap in _COLLISION_STRATEGY:
        deployment["concurrency_limit"] = {"limit": 1, "collision_strategy": _COLLISION_STRATEGY[automation.overlap]}
    # `schedules: []` and `triggers: []` are explicit so a redeploy after a trigger change removes the
    # old ones (schedules only with PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY=true; see deploy_environment).
    deployment["schedules"] = []
    deployment["triggers"] = []
    if trigger.type == "time":
        deployment["schedules"] = [
            {
                "cron": trigger.time.cron_expression,
                "timezone": trigger.time.timezone_str,
                "day_or": True,  # cron's OR of day-of-month and day-of-week (Prefect's default, written out)
                "active": True,
            }
        ]
    elif trigger.type == "event":
        deployment["triggers"] = [event_trigger(automation)]
    return [deployment]


def watcher_deployments(automations: Iterable[Automation], options: BuildOptions) -> list[dict[str, Any]]:
    """One ``condition-watcher`` deployment per condition group (the enabled condition automations reading one
    metrics source on one interval), named after the group: each run reads the source once and checks every
    member (issue 20: one watcher per automation made ~140 flow runs a minute for 333 automations)."""
    out: list[dict[str, Any]] = []
    for group in condition_groups(automations).values():
        out.append(
            {
                "name": group.name,
                "entrypoint": WATCHER_ENTRYPOINT,
                "description": (
                    f"Checks the condition of every automation that reads {source_label(group.source)} every "
                    f"{group.interval_seconds} s (deployments/condition_groups.json), reading it once per check, "
                    "and starts those whose condition holds."
                ),
                "version": WATCHER_VERSION,
                "tags": list(dict.fromkeys([PLATFORM_TAG, WATCHER_TAG, *options.extra_tags])),
                "work_pool": {"name": options.work_pool, "job_variables": options.effective_job_variables},
                "parameters": {"group": group.name},
                "enforce_parameter_schema": ENFORCE_PARAMETER_SCHEMA,
                # A check still running when the next one is due is not worth a second, parallel check.
                "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"},
                "schedules": [
                    {
                        "interval": group.interval_seconds,
                        # Without an anchor Prefect anchors the interval at deploy time, so every deploy would
                        # change the schedule (and shift the check times); the fixed anchor is also the one
                        # serve's in-process checks use, so both check at the same ticks.
                        "anchor_date": WATCHER_ANCHOR_DATE,
                        "timezone": "UTC",
                        "active": True,
                    }
                ],
                "triggers": [],
            }
        )
    return out


def prefect_yaml_data(automations: list[Automation], options: BuildOptions) -> dict[str, Any]:
    """The whole prefect.yaml as data; ``automations`` are the enabled ones, in any order."""
    deployments: list[dict[str, Any]] = []
    for automation in sorted(automations, key=lambda a: a.name):
        deployments.extend(deployments_for(automation, options))
    deployments.extend(watcher_deployments(automations, options))
    return {
        "name": PROJECT_NAME,
        # No prefect-version: the file must not change with the installed Prefect (pyproject pins >=3.9.1,<3.10).
        "build": None,
        "push": None,
        "pull": options.effective_pull_steps,
        "deployments": deployments,
    }


def concurrency_limits(automations: list[Automation]) -> list[dict[str, Any]]:
    """One rate-limit style global concurrency limit per automation with a cooldown, in name order."""
    return [
        {
            "name": cooldown_limit_name(a.name),
            "limit": 1,
            "slot_decay_per_second": 1 / a.trigger.cooldown_seconds,
        }
        for a in sorted(automations, key=lambda a: a.name)
        if a.trigger.cooldown_seconds > 0
    ]


def zombie_automation() -> dict[str, Any]:
    """A Prefect automation marking our runs Crashed when their process died (no heartbeat, no end state)."""
    return {
        "name": ZOMBIE_AUTOMATION_NAME,
        "description": (
            "Marks a platform-god flow run Crashed when it stopped sending heartbeats without reaching an "
            "end state (its process was killed). Needs PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 on the workers."
        ),
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "after": ["prefect.flow-run.heartbeat"],
            # Any later event of the run: its next heartbeat or a state change. Final states are named by
            # their state name (`Skipped`, `TimedOut`, …), so a list of state types would miss some.
            "expect": ["prefect.flow-run.*"],
            "for_each": ["prefect.resource.id"],
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            # Only runs of our deployments (flow runs carry their deployment's tags).
            "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{PLATFORM_TAG}"},
            "threshold": 1,
            "within": ZOMBIE_AFTER_SECONDS,
        },
        "actions": [
            {
                "type": "change-flow-run-state",
                "state": "CRASHED",
                "message": f"No heartbeat for {ZOMBIE_AFTER_SECONDS} s: the flow-run process is gone.",
            }
        ],
    }
