"""Project settings read from the environment (prefix ``AUTOMATIONS_``) with safe local defaults.

In the language because ``validate`` reads them too (a machine that allows private addresses gets no
warning about them); the runtime reads them through ``compiler.language.settings``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from compiler.language.project import project_path

__all__ = ["REDIS_SCHEMES", "RuntimeSettings", "get_settings"]

# URL schemes of the Redis lock backend (flows.exactly_once.locks), the only kind of AUTOMATIONS_LOCK_URL besides "file".
REDIS_SCHEMES = ("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://", "unix://")


class RuntimeSettings(BaseSettings):
    """Where state lives and which unsafe behaviours are explicitly allowed."""

    model_config = SettingsConfigDict(env_prefix="AUTOMATIONS_", frozen=True)

    # Defaults hang off the project root (found from any subfolder, as git does), so `run` from a
    # subfolder uses the same state; explicit values are taken as given.
    state_dir: Path = Field(
        default_factory=lambda: project_path("var/automations"),
        description="State folder: registry database, artifacts, cached action results, locks.",
    )
    config_dir: Path = Field(
        default_factory=lambda: project_path("configs"),
        description="Folder holding `automations/` and `chains/`.",
    )
    registry_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the registry; default SQLite at STATE_DIR/registry/registry.db.",
    )
    result_storage: str | None = Field(
        default=None,
        description="Prefect result storage (block slug) for shared deployments; default STATE_DIR/results.",
    )
    artifact_storage: str | None = Field(
        default=None,
        description=(
            "Where create_artifact writes: unset = STATE_DIR/artifacts on the worker; file:///shared/folder; "
            "an fsspec URL (s3://bucket/prefix); or a Prefect storage block slug (remote-file-system/NAME)."
        ),
    )
    lock_url: str | None = Field(
        default=None,
        description=(
            "Idempotency lock backend: unset or 'file' (this machine: flock'ed files under STATE_DIR/results/locks), "
            "or a Redis URL (redis://host:6379/0) shared by every worker for exactly-once across machines."
        ),
    )
    http_allow_private: bool = Field(
        default=False,
        description="Allow http_request to reach loopback, private and link-local addresses (never metadata).",
    )
    http_max_body_bytes: int = Field(default=1_000_000, gt=0, description="Response body bytes kept.")
    verbose_errors: bool = Field(
        default=False,
        description="Log the traceback of every failed action (the CLI's --verbose sets it); messages stay one line.",
    )
    api_outage_seconds: float = Field(
        default=900.0,
        ge=0,
        description=(
            "How long a process using the runtime (a flow-run process, serve, run, plan) keeps re-sending a Prefect API "
            "request that finds no API (connection refused, a load balancer's 502/503/504) before giving up; "
            "0: Prefect's own retries only (~62 s)."
        ),
    )
    http_redact_headers: str = Field(
        default="",
        description=(
            "More response header names whose values http_request never keeps (comma-separated, * wildcards), "
            "added to Authorization, Cookie, Set-Cookie and the other credential headers always redacted."
        ),
    )

    @field_validator("lock_url")
    @classmethod
    def _known_lock_backend(cls, value: str | None) -> str | None:
        if value and value != "file" and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must be unset, 'file' or a Redis URL ({', '.join(REDIS_SCHEMES)}...)")
        return value or None

    @field_validator("artifact_storage")
    @classmethod
    def _usable_artifact_storage(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("file://") and not value.startswith("file:///"):
            raise ValueError("a file URL needs an absolute path: file:///mnt/shared/artifacts")
        if "://" not in value and value.count("/") != 1:
            raise ValueError("must be an fsspec URL (s3://bucket/prefix, file:///path) or a storage block slug BLOCK_TYPE/BLOCK_NAME")
        return value

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / "artifacts"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "results"

    @property
    def effective_registry_url(self) -> str:
        if self.registry_url:
            return self.registry_url
        return f"sqlite:///{(self.state_dir / 'registry' / 'registry.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> RuntimeSettings:
    """Settings are read once per process; tests call ``get_settings.cache_clear()`` after changing env."""
    return RuntimeSettings()
