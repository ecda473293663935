"""Action ``send_notification``: deliver a message to the run log, the registry, Prefect notification blocks or a webhook."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field, field_validator

from compiler.model.base import StrictModel
from compiler.urls import url_problem
from flows.actions.base import LOG_LEVELS, ActionContext, ActionError, ActionParameters, ActionType, LogLevel

__all__ = ["SendNotificationParameters", "BlockChannel", "WebhookChannel", "ACTION"]


class BlockChannel(StrictModel):
    """A Prefect notification block (Slack, Teams, PagerDuty, custom webhook …) loaded by name."""

    block: str = Field(min_length=1, description="Block document name, e.g. 'slack-alerts' or 'slack-webhook/alerts'.")


class WebhookChannel(StrictModel):
    """A plain webhook: the message is POSTed as JSON (guarded like http_request)."""

    webhook: str = Field(min_length=1, description="URL; may use {secret:NAME}.")

    @field_validator("webhook")
    @classmethod
    def _requestable_url(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


Channel = Literal["log", "registry"] | BlockChannel | WebhookChannel


class SendNotificationParameters(ActionParameters):
    message: str = Field(min_length=1, description="Notification text; may use templates.")
    level: LogLevel = Field(default="info", description="debug, info, warning, error or critical.")
    title: str | None = Field(default=None, description="Subject for channels that have one.")
    channels: list[Channel] = Field(
        default_factory=lambda: ["log"],
        min_length=1,
        description="log, registry, {block: NAME} or {webhook: URL}; every channel must deliver.",
    )

    def urls(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Webhook URLs, by location in the parameters (for the address checks of validate)."""
        return [(("channels", i, "webhook"), c.webhook) for i, c in enumerate(self.channels) if isinstance(c, WebhookChannel)]


async def execute(params: SendNotificationParameters, ctx: ActionContext) -> dict[str, Any]:
    delivered: list[str] = []
    failures: list[str] = []
    retryable = False
    for channel in params.channels:
        label = _label(channel)
        try:
            await _deliver(channel, params, ctx)
            delivered.append(label)
        except ActionError as exc:
            failures.append(f"{label}: {exc}")
            retryable = retryable or exc.retryable
    if failures:
        # Every channel is tried once per attempt; any failure fails the action (never silent).
        raise ActionError("notification not delivered to " + "; ".join(failures), retryable=retryable)
    return {"delivered": delivered, "level": params.level, "message": params.message}


def _label(channel: Channel) -> str:
    if isinstance(channel, BlockChannel):
        return f"block:{channel.block}"
    if isinstance(channel, WebhookChannel):
        return "webhook"
    return channel


async def _deliver(channel: Channel, params: SendNotificationParameters, ctx: ActionContext) -> None:
    if channel == "log":
        ctx.logger.log(LOG_LEVELS[params.level], "%s", params.message)
    elif channel == "registry":
        from flows.registry import RegistryStore

        from flows.registry.store import Deadline, RegistryBusy, RegistryError

        store = RegistryStore.from_settings()
        deadline = Deadline.after(max(ctx.deadline_seconds - 1.0, 0.1))  # see update_registry
        try:
            await asyncio.to_thread(
                store.add_notification, ctx.automation, params.level, params.message, {"title": params.title}, deadline
            )
        except asyncio.CancelledError:
            deadline.cancel()
            raise
        except RegistryError as exc:
            raise ActionError(str(exc), retryable=isinstance(exc, RegistryBusy)) from None
    elif isinstance(channel, BlockChannel):
        await _deliver_block(channel.block, params)
    elif isinstance(channel, WebhookChannel):
        await _deliver_webhook(channel.webhook, params, ctx)


async def _deliver_block(name: str, params: SendNotificationParameters) -> None:
    from prefect.blocks.notifications import NotificationBlock

    try:
        if "/" in name:
            block = await NotificationBlock.aload(name)
        else:
            block = await _load_by_name(name)
    except (ValueError, LookupError) as exc:
        raise ActionError(f"notification block '{name}' not found: {exc}") from None
    try:
        # notify() swallows delivery errors unless raise_on_failure() is active.
        with block.raise_on_failure():
            await block.notify(params.message, subject=params.title)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is reported with its type
        raise ActionError(f"delivery failed: {type(exc).__name__}: {exc}", retryable=True) from None


async def _load_by_name(name: str) -> Any:
    """Find a notification block by document name whatever its block type."""
    from prefect.blocks.core import Block
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import BlockDocumentFilter, BlockDocumentFilterName

    async with get_client() as client:
        documents = await client.read_block_documents(
            block_document_filter=BlockDocumentFilter(name=BlockDocumentFilterName(any_=[name])),
            include_secrets=True,
        )
    if not documents:
        raise LookupError("no block document has that name")
    return Block._from_block_document(documents[0])


async def _deliver_webhook(url: str, params: SendNotificationParameters, ctx: ActionContext) -> None:
    import httpx

    from flows.net_guard import BlockedAddress, guarded_client
    from flows.secrets import SecretBox

    box: SecretBox = ctx.extras.get("secrets") or SecretBox()
    target = url  # secrets were resolved when the engine rendered the parameters
    payload = {"text": params.message, "title": params.title, "level": params.level, "automation": ctx.automation}
    try:
        async with guarded_client(timeout=ctx.deadline_seconds) as client:
            response = await client.post(target, json=payload)
    except BlockedAddress as exc:
        raise ActionError(box.redact_text(str(exc))) from None
    except httpx.TransportError as exc:
        raise ActionError(box.redact_text(f"webhook connection failed: {exc!r}"), retryable=True) from None
    if response.status_code >= 400:
        raise ActionError(f"webhook answered {response.status_code}", retryable=response.status_code >= 500)


ACTION = ActionType("send_notification", "Send a notification.", SendNotificationParameters, execute)
