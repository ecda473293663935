"""A configuration folder's outputs, or every error that stops them: load, validate, check with Prefect's own models, render."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from compiler.commands.build.deployments import ZOMBIE_AUTOMATION_NAME, deployments_for, watcher_deployments, zombie_automation
from compiler.commands.build.render import PREFECT_AUTOMATIONS_PATH, PREFECT_YAML_PATH, render
from compiler.commands.prefect_check import automation_problems, deployment_problems
from compiler.language.catalog import LoadedAutomation, load_catalog
from compiler.language.cross_machine import deploy_config_warnings
from compiler.language.deploy_config import (
    BuildOptions,
    deploy_config_path,
    resolve_build_options,
)
from compiler.language.diagnostics import Diagnostic
from compiler.language.prefect_names import WATCHER_FLOW_NAME


def plan_outputs(
    config_dir: Path, options: BuildOptions | None, progress: Callable[[int, int], None] | None = None
) -> tuple[dict[Path, str], list[Diagnostic], list[Diagnostic]]:
    """Outputs, errors, warnings; outputs is empty when there is any error."""
    errors: list[Diagnostic] = []
    if options is None:
        options, option_errors = resolve_build_options(config_dir)
        errors.extend(option_errors)
    catalog = load_catalog(config_dir, on_file=progress)
    # deploy.yaml sharing results but not locks (and the like) breaks exactly-once across machines: said here,
    # so build, build --check, deploy and plan all say it.
    warnings = [*catalog.warnings, *deploy_config_warnings(deploy_config_path(config_dir))]
    errors.extend(catalog.errors)
    errors.extend(_reserved_names(catalog.automations.values()))
    if errors or options is None:
        return {}, sorted(errors), warnings
    errors.extend(_prefect_rejections(catalog.automations.values(), options))
    if errors:
        return {}, sorted(errors), warnings
    return render(list(catalog.automations.values()), options), [], warnings


def _prefect_rejections(automations: Iterable[LoadedAutomation], options: BuildOptions) -> list[Diagnostic]:
    """What `prefect deploy` would refuse in the generated deployments, checked with Prefect's own models.

    The language rejects these inputs first; an error here means the two disagree (a cron expression
    croniter accepts and Prefect's schedule model does not, say), and names the automation it came from.
    """
    diagnostics = []
    enabled = [loaded for loaded in automations if loaded.automation.status == "enabled"]
    for loaded in enabled:
        for deployment in deployments_for(loaded.automation, options):
            for where, message in deployment_problems(deployment):
                diagnostics.append(Diagnostic(loaded.path, 1, 1, f"<deployment {deployment['name']}>.{where}", message))
    for deployment in watcher_deployments([loaded.automation for loaded in enabled], options):
        for where, message in deployment_problems(deployment):
            diagnostics.append(Diagnostic(str(PREFECT_YAML_PATH), 1, 1, f"<deployment {deployment['name']}>.{where}", message))
    for message in automation_problems(zombie_automation()):
        diagnostics.append(Diagnostic(str(PREFECT_AUTOMATIONS_PATH), 1, 1, ZOMBIE_AUTOMATION_NAME, message))
    return diagnostics


def _reserved_names(automations: Iterable[LoadedAutomation]) -> list[Diagnostic]:
    # An automation named like the watcher flow would share its Prefect flow, and its deployment
    # name could collide with a watcher deployment (the second silently replaces the first).
    return [
        Diagnostic(loaded.path, 1, 1, "name", f"'{WATCHER_FLOW_NAME}' is reserved for the condition watcher flow; choose another name")
        for loaded in automations
        if loaded.automation.name == WATCHER_FLOW_NAME
    ]
