"""Parameters of ``send_notification``: a message for the run log, the registry, notification blocks or webhooks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.language.model.actions.base import ActionParameters, ActionSpec, LogLevel
from compiler.language.model.base import RequestableUrl, StrictModel

__all__ = ["SPEC", "BlockChannel", "Channel", "SendNotificationParameters", "WebhookChannel"]


class BlockChannel(StrictModel):
    """A Prefect notification block (Slack, Teams, PagerDuty, custom webhook …) loaded by name."""

    block: str = Field(min_length=1, description="Block document name, e.g. 'slack-alerts' or 'slack-webhook/alerts'.")


class WebhookChannel(StrictModel):
    """A plain webhook: the message is POSTed as JSON (guarded like http_request)."""

    webhook: RequestableUrl = Field(min_length=1, description="URL; may use {secret:NAME}.")


Channel = Literal["log", "registry"] | BlockChannel | WebhookChannel


class SendNotificationParameters(ActionParameters):
    message: str = Field(min_length=1, description="Notification text; may use templates.")
    level: LogLevel = Field(default="info", description="debug, info, warning, error or critical.")
    title: str | None = Field(default=None, description="Subject for channels that have one.")
    channels: list[Channel] = Field(
        default_factory=lambda: list[Channel](["log"]),
        min_length=1,
        description="log, registry, {block: NAME} or {webhook: URL}; every channel must deliver.",
    )

    def urls(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Webhook URLs, by location in the parameters (for the address checks of validate)."""
        return [(("channels", i, "webhook"), c.webhook) for i, c in enumerate(self.channels) if isinstance(c, WebhookChannel)]


SPEC = ActionSpec("send_notification", "Send a notification.", SendNotificationParameters)
