"""Settings that share state between machines only in part, and so break a guarantee of "Running at scale" (README)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from compiler.language.deploy_config import DeployConfig
from compiler.language.diagnostics import Diagnostic
from compiler.language.settings import REDIS_SCHEMES
from compiler.language.source import SourceError, load_source

__all__ = ["SharingGap", "deploy_config_warnings", "environment_warnings", "sharing_gaps"]

RESULTS = "AUTOMATIONS_RESULT_STORAGE"
LOCKS = "AUTOMATIONS_LOCK_URL"
REGISTRY = "AUTOMATIONS_REGISTRY_URL"
ARTIFACTS = "AUTOMATIONS_ARTIFACT_STORAGE"
_SETTINGS = (RESULTS, LOCKS, REGISTRY, ARTIFACTS)


@dataclass(frozen=True)
class SharingGap:
    """``shared`` makes the runs span machines; ``missing`` is the setting that then has to be shared as well."""

    shared: str
    missing: str
    problem: str  # what is shared and what is not
    consequence: str  # the guarantee that breaks
    example: str  # a value of ``missing`` that shares it

    def message(self, values: Mapping[str, str], how_to_set: str) -> str:
        """One line: what is wrong, what breaks, what to set (never a setting's value: it may hold a password)."""
        state = "unset" if not values.get(self.missing, "").strip() else "not shared"
        return f"{self.problem} ({self.missing} {state}): {self.consequence}; set {self.missing}{how_to_set.format(example=self.example)}"


def _is_shared(name: str, value: str) -> bool:
    if name == LOCKS:
        return value.startswith(REDIS_SCHEMES)  # unset or "file": flock'ed files of this machine
    if name == REGISTRY:
        return bool(value) and not value.lower().startswith("sqlite")  # the default is SQLite under STATE_DIR
    return bool(value)  # a storage block or URL: taken as one every machine reads


def sharing_gaps(values: Mapping[str, str], set_by_workers: Collection[str] = ()) -> list[SharingGap]:
    """The guarantees ``values`` (AUTOMATIONS_* settings) break across machines; ``set_by_workers``: names each
    worker's own environment sets (their values are unknown here and taken as shared)."""
    shared = {name: name in set_by_workers or _is_shared(name, values.get(name, "").strip()) for name in _SETTINGS}
    if not (shared[RESULTS] or shared[LOCKS]):
        return []  # one machine: every default is right
    anchor = RESULTS if shared[RESULTS] else LOCKS
    gaps = []
    if shared[RESULTS] and not shared[LOCKS]:
        gaps.append(SharingGap(
            RESULTS, LOCKS, "action results are shared between machines but idempotency locks are not",
            "workers on two machines can both run one occurrence's action", "redis://HOST:6379/0",
        ))
    if shared[LOCKS] and not shared[RESULTS]:
        gaps.append(SharingGap(
            LOCKS, RESULTS, "idempotency locks are shared between machines but action results are not",
            "a worker on another machine finds no result and runs the action again", "BLOCK_TYPE/BLOCK_NAME (a storage block every machine reads)",
        ))
    if not shared[REGISTRY]:
        gaps.append(SharingGap(
            anchor, REGISTRY, "runs span machines but the registry is each machine's own SQLite file",
            "entities, metrics and artifact records written on one machine are missing on the others",
            "postgresql+psycopg://USER@HOST/DB",
        ))
    if not shared[ARTIFACTS]:
        gaps.append(SharingGap(
            anchor, ARTIFACTS, "runs span machines but artifacts are written to each machine's own disk",
            "an artifact opens only on the machine that wrote it", "file:///mnt/shared/artifacts or s3://BUCKET/PREFIX",
        ))
    return gaps


def environment_warnings(environ: Mapping[str, str], process: str) -> list[str]:
    """``warning: …`` lines for a process (``serve``) whose own environment holds its settings."""
    values = {name.upper(): value for name, value in environ.items() if name.upper().startswith("AUTOMATIONS_")}
    return [f"warning: {gap.message(values, f'={{example}} in the environment of every {process}')}" for gap in sharing_gaps(values)]


def deploy_config_warnings(path: Path) -> list[Diagnostic]:
    """Warnings located in ``configs/deploy.yaml`` (whose ``job_variables.env`` reaches every worker); none when
    the file is missing or invalid (its errors are reported where it is loaded)."""
    if not path.exists():
        return []
    try:
        doc = load_source(path)
        config = DeployConfig.model_validate(doc.data or {})
    except (SourceError, OSError, ValueError):
        return []
    values = dict((config.job_variables.env if config.job_variables is not None else None) or {})
    set_by_workers = list(config.worker_env or ())
    diagnostics = []
    for gap in sharing_gaps(values, set_by_workers):
        if gap.shared in values:
            loc: tuple[str | int, ...] = ("job_variables", "env", gap.shared)
            field = f"job_variables.env.{gap.shared}"
        else:
            loc = ("worker_env", set_by_workers.index(gap.shared))
            field = f"worker_env[{loc[1]}]"
        position = doc.position_of(loc, key=True)
        how = ": {example} in job_variables.env (or name it under worker_env when each worker's own environment sets it)"
        diagnostics.append(Diagnostic(str(path), position.line, position.col, field, gap.message(values, how), "warning"))
    return diagnostics
