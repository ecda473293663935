"""Deployment settings for the build (``configs/deploy.yaml`` + command-line overrides) and deploy-time helpers."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from compiler.language.config_files import read_document, root_is_mapping, validate_document
from compiler.language.diagnostics import Diagnostic
from compiler.language.model.base import JsonValue, StrictModel
from compiler.language.project import beside

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = [
    "DEFAULT_JOB_ENV",
    "DEFAULT_PULL_STEPS",
    "DEFAULT_WORK_POOL",
    "DEPLOY_CONFIG_NAME",
    "BuildOptions",
    "DeployConfig",
    "JobVariables",
    "apply_server_objects",
    "deploy_config_path",
    "deploy_environment",
    "ensure_prefect_automations",
    "load_deploy_config",
    "pull_steps_for_directory",
    "resolve_build_options",
]

DEPLOY_CONFIG_NAME = "deploy.yaml"
DEFAULT_WORK_POOL = "automations"
# `prefect deploy` substitutes `{{ $NAME }}` from its own environment while deploying (measured: the
# stored pull step holds the absolute folder), so this is the folder `prefect deploy` ran in, not the
# worker's. Workers on the same machine then find flows/ and deployments/ wherever they were started.
DEFAULT_PULL_STEPS: tuple[dict[str, Any], ...] = (
    {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}},
)

# Flow-run processes send a heartbeat every 30 s (Prefect's minimum); the zombie-run automation marks a
# run Crashed after 90 s without one. Without heartbeats a killed worker's runs stay Running forever.
DEFAULT_JOB_ENV: dict[str, str] = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that carry credentials by convention; their values must never sit in prefect.yaml or the deployment.
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
_SECRET_HINT = (
    "secrets never go into deploy.yaml (prefect.yaml and the deployment would hold them in clear text): "
    "set it in the worker's own environment, or save a Prefect Secret block and refer to it as {secret:NAME} in the automation"
)
_TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$")  # the automation model's tag rule
_TAG = Annotated[str, Field(pattern=_TAG_PATTERN.pattern)]
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True)
class BuildOptions:
    """What the build needs beyond the automations: where runs go and how workers find the code."""

    work_pool: str = DEFAULT_WORK_POOL
    extra_tags: tuple[str, ...] = ()
    # None means DEFAULT_PULL_STEPS; an empty tuple means "no pull steps" (`pull: []`).
    pull_steps: tuple[dict[str, Any], ...] | None = None
    job_variables: JobVariables | None = None

    @cached_property
    def _job_variables(self) -> dict[str, Any]:
        variables = self.job_variables.model_dump(exclude_none=True) if self.job_variables is not None else {}
        variables["env"] = {**DEFAULT_JOB_ENV, **variables.get("env", {})}
        return variables

    @property
    def effective_job_variables(self) -> dict[str, Any]:
        """deploy.yaml's job variables with the default environment under it (the file's values win); a fresh copy."""
        return {key: dict(value) if isinstance(value, dict) else value for key, value in self._job_variables.items()}

    @property
    def effective_pull_steps(self) -> list[dict[str, Any]]:
        return [dict(step) for step in (DEFAULT_PULL_STEPS if self.pull_steps is None else self.pull_steps)]


def _plain_env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ValueError(f"'{name}' is not an environment variable name (letters, digits and _, not starting with a digit)")
    return name


def _env_name(name: str) -> str:
    _plain_env_name(name)
    if name.upper().startswith("AUTOMATIONS_SECRET_") or _SECRET_NAME.search(name):
        raise ValueError(_SECRET_HINT)
    return name


def _env_value(text: str) -> str:
    if _URL_WITH_PASSWORD.match(text):
        raise ValueError(f"the URL holds a password; {_SECRET_HINT}")
    if "prefect.blocks." in text:
        raise ValueError(
            f"`prefect deploy` resolves block references when it deploys and stores the value in the deployment; {_SECRET_HINT}"
        )
    return text


class JobVariables(StrictModel):
    """The process work pool's job variables every deployment carries (what its flow-run processes get)."""

    env: dict[Annotated[str, AfterValidator(_env_name)], Annotated[str, AfterValidator(_env_value)]] | None = Field(
        default=None,
        description="Environment of every flow-run process: the AUTOMATIONS_* settings (never secrets) and Prefect settings.",
    )
    working_dir: str | None = Field(default=None, min_length=1, description="Folder flow-run processes start in.")
    stream_output: bool | None = Field(default=None, description="Stream flow-run output to the worker's own output.")
    labels: dict[str, str] | None = Field(default=None, description="Labels of the flow-run processes.")


class DeployConfig(StrictModel):
    """``configs/deploy.yaml``: deployment settings shared by every automation; the file and every key are optional.

    ::

        # Work pool every deployment is sent to (a process pool; create it with
        # `prefect work-pool create automations --type process`). Default: automations.
        work_pool: automations
        # Extra tags added to every deployment (after the automation's own tags and platform-god).
        tags: [team-platform]
        # Pull steps run before each flow run; replaces the default, which is
        #   - prefect.deployments.steps.set_working_directory: {directory: "{{ $PWD }}"}
        # (`prefect deploy` fills in $PWD from its own environment: the folder it runs in).
        pull:
          - prefect.deployments.steps.set_working_directory:
              directory: /srv/platform-god
        # The work pool's job variables, written into every deployment: settings travel with the
        # deployment to every worker. PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 is added unless set here.
        job_variables:
          env:
            AUTOMATIONS_RESULT_STORAGE: remote-file-system/automation-results
            AUTOMATIONS_ARTIFACT_STORAGE: remote-file-system/shared-artifacts
            AUTOMATIONS_REGISTRY_URL: postgresql+psycopg://prefect@db.internal:5432/automations
        # Settings each worker's own environment sets (a Redis URL with a password, say): only named here,
        # so the build knows every machine has them (it warns when results are shared but locks are not).
        worker_env: [AUTOMATIONS_LOCK_URL]

    Command-line flags (``--pool``, ``--tag``, ``--pull-directory``) replace the file's value for that key.
    """

    work_pool: str | None = Field(default=None, min_length=1, max_length=100, description="Work pool name.")
    tags: list[_TAG] | None = Field(default=None, description="Extra tags on every deployment.")
    pull: list[dict[str, dict[str, JsonValue]]] | None = Field(
        default=None, description="Prefect pull steps; each item is {fully.qualified.step: {arguments}}."
    )
    job_variables: JobVariables | None = Field(default=None, description="The process work pool's job variables.")
    worker_env: list[Annotated[str, AfterValidator(_plain_env_name)]] | None = Field(
        default=None,
        description="Environment variables each worker's own environment sets (never written anywhere; names only).",
    )

    @field_validator("worker_env")
    @classmethod
    def _not_also_in_job_variables(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        variables = info.data.get("job_variables")
        both = sorted(set(value or ()) & set((variables.env if variables is not None else None) or {}))
        if both:
            raise ValueError(
                f"{', '.join(both)} also set in job_variables.env, whose value replaces the worker's own: keep one of the two"
            )
        return value

    @field_validator("pull")
    @classmethod
    def _one_step_per_item(cls, value: list[dict[str, dict[str, Any]]] | None) -> list[dict[str, dict[str, Any]]] | None:
        for index, step in enumerate(value or []):
            if len(step) != 1:
                raise ValueError(f"pull[{index}] must have exactly one key: the step's import path")
            (name,) = step
            if not _STEP_NAME.match(name):
                raise ValueError(f"pull[{index}]: '{name}' is not an import path such as prefect.deployments.steps.set_working_directory")
        return value


def deploy_config_path(config_dir: Path) -> Path:
    """``configs/automations`` → ``configs/deploy.yaml`` (next to the automations and chains folders)."""
    return beside(config_dir, DEPLOY_CONFIG_NAME)


def load_deploy_config(path: Path) -> tuple[DeployConfig | None, list[Diagnostic]]:
    """The file's settings (an empty config when the file does not exist), or located diagnostics."""
    if not path.exists():
        return DeployConfig(), []
    diagnostics: list[Diagnostic] = []
    doc = read_document(path, diagnostics)
    if doc is None:
        return None, diagnostics
    if doc.data is None:
        return DeployConfig(), []  # an empty file (only comments) means "all defaults"
    if not root_is_mapping(doc, None, diagnostics):
        return None, diagnostics
    return validate_document(doc, DeployConfig, diagnostics), diagnostics


def pull_steps_for_directory(directory: str) -> tuple[dict[str, Any], ...]:
    """The pull steps of a worker that runs flows from ``directory`` (an absolute path on the worker)."""
    return ({"prefect.deployments.steps.set_working_directory": {"directory": directory}},)


def resolve_build_options(
    config_dir: Path,
    *,
    work_pool: str | None = None,
    extra_tags: list[str] | tuple[str, ...] | None = None,
    pull_steps: tuple[dict[str, Any], ...] | None = None,
) -> tuple[BuildOptions | None, list[Diagnostic]]:
    """Defaults, then ``configs/deploy.yaml``, then the given (command-line) values; None on a config error."""
    path = deploy_config_path(config_dir)
    config, diagnostics = load_deploy_config(path)
    if config is None:
        return None, diagnostics
    bad_tags = [t for t in extra_tags or () if not _TAG_PATTERN.match(t)]
    if bad_tags:
        message = f"tag(s) {', '.join(map(repr, bad_tags))} must be letters, digits and _.:/- (at most 63 characters)"
        return None, [Diagnostic("<command line>", 1, 1, "--tag", message)]
    file_pull = tuple(dict(step) for step in config.pull) if config.pull is not None else None
    options = BuildOptions(
        work_pool=work_pool or config.work_pool or DEFAULT_WORK_POOL,
        extra_tags=tuple(extra_tags if extra_tags is not None else (config.tags or ())),
        pull_steps=pull_steps if pull_steps is not None else file_pull,
        job_variables=config.job_variables,
    )
    return options, []


def deploy_environment(project_root: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running ``prefect deploy --all --no-prompt`` in ``project_root`` as a subprocess.

    PWD: the default pull step is ``{{ $PWD }}``, which `prefect deploy` reads from its environment; a
    subprocess started with ``cwd=`` inherits the caller's PWD, so it must be set explicitly.
    PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY: `schedules: []` otherwise keeps an existing
    deployment's old schedules (Prefect 3.9 default), e.g. after a time trigger became an event trigger.
    """
    env = dict(os.environ if base is None else base)
    env["PWD"] = str(project_root.resolve())
    env["PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY"] = "true"
    return env


async def apply_limits(client: PrefectClient, limits: list[dict[str, Any]]) -> list[str]:
    """Create or update the cooldown concurrency limits (idempotent: upsert by name)."""
    applied: list[str] = []
    for limit in limits:
        await client.upsert_global_concurrency_limit_by_name(
            limit["name"], limit["limit"], slot_decay_per_second=limit["slot_decay_per_second"]
        )
        applied.append(f"concurrency limit {limit['name']}")
    return applied


async def apply_prefect_automations(client: PrefectClient, specs: list[dict[str, Any]]) -> list[str]:
    """Create or update Prefect automations by name (keeps their id and history)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); validate loads this module without needing it
    from prefect.events.schemas.automations import AutomationCore

    applied: list[str] = []
    for spec in specs:
        automation = AutomationCore.model_validate(spec)
        existing = await client.read_automations_by_name(automation.name)
        if existing:
            # Update in place; duplicates by name are collapsed to one.
            await client.update_automation(existing[0].id, automation)
            for duplicate in existing[1:]:
                await client.delete_automation(duplicate.id)
        else:
            await client.create_automation(automation)
        applied.append(f"automation {automation.name}")
    return applied


async def ensure_prefect_automations(client: PrefectClient, specs: list[dict[str, Any]]) -> list[str]:
    """Create the Prefect automations that do not exist yet (by name); existing ones are left as they are.

    For `run`: one read per automation, so a later run pays a few milliseconds, not an update.
    """
    # deferred: Prefect costs ~1 s CPU to import (measured); validate loads this module without needing it
    from prefect.events.schemas.automations import AutomationCore

    created: list[str] = []
    for spec in specs:
        automation = AutomationCore.model_validate(spec)
        if not await client.read_automations_by_name(automation.name):
            await client.create_automation(automation)
            created.append(f"automation {automation.name}")
    return created


async def apply_server_objects(client: PrefectClient, project_root: Path) -> list[str]:
    """Create or update what `prefect deploy` does not: cooldown concurrency limits and Prefect automations.

    Reads ``deployments/concurrency_limits.json`` and ``deployments/prefect_automations.json`` (written
    by the build); returns one line per object applied. Objects of automations that were removed are
    left alone (the same as `prefect deploy`, which never deletes deployments).
    """
    deployments_dir = project_root / "deployments"
    limits = json.loads((deployments_dir / "concurrency_limits.json").read_text(encoding="utf-8"))
    automations_file = deployments_dir / "prefect_automations.json"
    specs = json.loads(automations_file.read_text(encoding="utf-8")) if automations_file.exists() else []
    return [*await apply_limits(client, limits), *await apply_prefect_automations(client, specs)]
