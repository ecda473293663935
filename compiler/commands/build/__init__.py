"""``python -m compiler build``: compile the automation catalog into prefect.yaml and deployments/.

The stages, one module each: ``deployments`` (what each automation becomes, as data), ``render`` (the outputs as
text), ``outputs`` (a configuration folder's outputs, or every error that stops them), ``write`` (only what
changed, atomically; ``--check``) and ``command`` (the command line).
"""

from __future__ import annotations

from compiler.commands.build.command import add_command, cmd_build
from compiler.commands.build.deployments import (
    EVENT_PARAMETER,
    PROJECT_NAME,
    ZOMBIE_AUTOMATION_NAME,
    concurrency_limits,
    deployments_for,
    event_trigger,
    prefect_yaml_data,
    watcher_deployments,
    zombie_automation,
)
from compiler.commands.build.outputs import plan_outputs
from compiler.commands.build.render import (
    CONCURRENCY_LIMITS_PATH,
    DEFINITIONS_DIR,
    GENERATED_HEADER,
    PREFECT_AUTOMATIONS_PATH,
    PREFECT_YAML_PATH,
    parsed_prefect_yaml,
    render,
)
from compiler.commands.build.write import BuildResult, CheckResult, build, check
from compiler.language.condition_groups import GROUPS_INDEX_PATH
from compiler.language.deploy_config import BuildOptions
from compiler.language.prefect_names import AUTOMATIONS_MODULE, WATCHER_ENTRYPOINT, WATCHER_FLOW_NAME

__all__ = [
    "AUTOMATIONS_MODULE",
    "CONCURRENCY_LIMITS_PATH",
    "DEFINITIONS_DIR",
    "EVENT_PARAMETER",
    "GENERATED_HEADER",
    "GROUPS_INDEX_PATH",
    "PREFECT_AUTOMATIONS_PATH",
    "PREFECT_YAML_PATH",
    "PROJECT_NAME",
    "WATCHER_ENTRYPOINT",
    "WATCHER_FLOW_NAME",
    "ZOMBIE_AUTOMATION_NAME",
    "BuildOptions",
    "BuildResult",
    "CheckResult",
    "add_command",
    "build",
    "check",
    "cmd_build",
    "concurrency_limits",
    "deployments_for",
    "event_trigger",
    "parsed_prefect_yaml",
    "plan_outputs",
    "prefect_yaml_data",
    "render",
    "watcher_deployments",
    "zombie_automation",
]
