"""Action ``send_notification``: deliver a message to the run log, the registry, Prefect notification blocks or a webhook."""

from __future__ import annotations

import asyncio
from typing import Any

from compiler.language.model.actions.send_notification import SPEC, BlockChannel, Channel, SendNotificationParameters, WebhookChannel
from flows.actions.base import LOG_LEVELS, ActionContext, ActionError, ActionType
from flows.actions.secrets import SecretBox
from flows.engine.failure_messages import connection_failure, describe_exception

__all__ = ["ACTION"]


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
        # deferred: the registry costs ~200 ms (measured: SQLAlchemy); test and dry-run load the action table without running actions
        from flows.registry import Deadline, RegistryBusy, RegistryError, RegistryStore

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
    block = await _load_block(name)
    await _check_block_address(block, name)
    try:
        # notify() swallows delivery errors unless raise_on_failure() is active.
        with block.raise_on_failure():
            await block.notify(params.message, subject=params.title)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is reported with its cause
        raise ActionError(f"delivery failed: {_delivery_cause(exc, block)}", retryable=True) from None


async def _load_block(name: str) -> Any:
    """A notification block by ``type-slug/name`` (exact) or by document name alone (any notification type)."""
    import prefect.blocks.notifications  # noqa: F401 - registers the notification block classes
    from prefect.blocks.core import Block

    if "/" in name:
        slug = name
    else:
        slug = await _slug_for_name(name)
    try:
        block = await Block.aload(slug)
    except (ValueError, LookupError) as exc:
        raise ActionError(f"notification block '{name}' not found: {exc}") from None
    if not hasattr(block, "notify") or not hasattr(block, "raise_on_failure"):
        raise ActionError(f"block '{slug}' is a {type(block).__name__}, not a notification block")
    return block


async def _slug_for_name(name: str) -> str:
    """``type-slug/name`` of the one notification block document called ``name`` (read page by page)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run load the action table without running actions
    from prefect.client.orchestration import get_client

    found: list[str] = []
    async with get_client() as client:
        offset = 0
        while True:
            page = await client.read_block_documents(offset=offset, limit=200, include_secrets=False)
            for document in page:
                capabilities = document.block_schema.capabilities if document.block_schema else []
                if document.name == name and not document.is_anonymous and "notify" in capabilities:
                    found.append(f"{document.block_type.slug if document.block_type else '?'}/{document.name}")
            if len(page) < 200:
                break
            offset += 200
    if not found:
        raise ActionError(
            f"notification block '{name}' not found: no notification block document has that name "
            "(create one in the Prefect UI or with Block.save(); or write type-slug/name)"
        )
    if len(found) > 1:
        raise ActionError(f"notification block name '{name}' is ambiguous ({', '.join(sorted(found))}): write type-slug/name")
    return found[0]


async def _check_block_address(block: Any, name: str) -> None:
    """The webhook policy for blocks whose URL is known (custom webhooks, Slack, Teams …): no internal
    address unless AUTOMATIONS_HTTP_ALLOW_PRIVATE, never cloud metadata."""
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx

    # deferred: the SSRF guard costs ~75 ms (measured: httpx); test and dry-run load the action table without running actions
    from flows.actions.net_guard import BlockedAddress, check_url

    for field_name in ("url", "webhook_url"):
        raw = getattr(block, field_name, None)
        url = raw.get_secret_value() if raw is not None and hasattr(raw, "get_secret_value") else raw
        if not isinstance(url, str) or not url:
            continue
        try:
            await check_url(url, allow_private=_allow_private())
        except BlockedAddress as exc:
            raise ActionError(f"block '{name}': {exc}") from None
        except (httpx.InvalidURL, httpx.TransportError, ValueError):
            continue  # a templated or unresolvable URL: the block's own request decides


def _allow_private() -> bool:
    # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); test and dry-run load the action table without running actions
    from compiler.language.settings import get_settings

    return get_settings().http_allow_private


def _delivery_cause(exc: BaseException, block: Any) -> str:
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx


    if isinstance(exc, httpx.HTTPStatusError):
        return f"{type(block).__name__} answered {exc.response.status_code}"
    if isinstance(exc, httpx.TransportError):
        url = exc.request.url if _has_request(exc) else None
        target = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}" if url else "its endpoint"
        return connection_failure(exc, target)
    return describe_exception(exc)


def _has_request(exc: Any) -> bool:
    try:
        return exc.request is not None
    except RuntimeError:  # httpx raises when no request is attached
        return False


async def _deliver_webhook(url: str, params: SendNotificationParameters, ctx: ActionContext) -> None:
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx

    # deferred: the SSRF guard costs ~75 ms (measured: httpx); test and dry-run load the action table without running actions
    from flows.actions.net_guard import BlockedAddress, guarded_client

    box: SecretBox = ctx.extras.get("secrets") or SecretBox()
    target = url  # secrets were resolved when the engine rendered the parameters
    payload = {"text": params.message, "title": params.title, "level": params.level, "automation": ctx.automation}
    try:
        async with guarded_client(timeout=ctx.deadline_seconds) as client:
            response = await client.post(target, json=payload)
    except BlockedAddress as exc:
        raise ActionError(box.redact_text(str(exc))) from None
    except httpx.TransportError as exc:
        parsed = httpx.URL(target)
        where = f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
        raise ActionError(box.redact_text(f"webhook failed: {connection_failure(exc, where)}"), retryable=True) from None
    if response.status_code >= 400:
        raise ActionError(f"webhook answered {response.status_code}", retryable=response.status_code >= 500)


ACTION = ActionType.of(SPEC, execute)
