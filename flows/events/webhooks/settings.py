"""Where the webhook receiver listens (``AUTOMATIONS_WEBHOOKS_HOST`` / ``_PORT``); loopback unless told otherwise."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebhookSettings"]


class WebhookSettings(BaseSettings):
    """Bind to 127.0.0.1 by default: put the user's reverse proxy (TLS) in front for outside senders."""

    model_config = SettingsConfigDict(env_prefix="AUTOMATIONS_WEBHOOKS_", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the receiver binds.")
    port: int = Field(default=8787, ge=0, le=65535, description="Port the receiver binds (0: any free port).")
    emit_timeout_seconds: float = Field(
        default=8.0, gt=0, description="A request whose event Prefect has not taken by then is answered 503 (GitHub waits 10 s)."
    )
    body_timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="A request whose body has not arrived by then is answered 408 (a sender trickling bytes holds no connection for long).",
    )
