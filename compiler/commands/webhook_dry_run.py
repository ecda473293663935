"""Dry run of a webhook: would a saved request (headers + body) be accepted, which event would it become,
and which automations would that event trigger. Nothing is emitted."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from compiler.commands.api_endpoint import configured_api_url
from compiler.language.catalog import Catalog
from compiler.language.model.webhooks import secret_name
from compiler.language.webhook_catalog import LoadedWebhook
from flows.events.matching import match_event
from flows.events.webhooks.auth import verify
from flows.events.webhooks.intake import Verdict, after_authentication, precheck

__all__ = ["SavedRequestError", "read_saved_request", "webhook_dry_run"]


class SavedRequestError(ValueError):
    """The saved request file is not of the documented form."""


def read_saved_request(path: Path) -> tuple[dict[str, str], bytes, list[str]]:
    """``{"headers": {...}, "body": "<raw text>"}`` (or ``"body_base64"``, or ``"body"`` as JSON data):
    lower-cased headers, the raw body, and notes about how it was read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SavedRequestError(f"cannot read saved request {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("headers", {}), dict):
        raise SavedRequestError(f"{path}: expected a JSON object with 'headers' (an object) and 'body'")
    headers = {str(k).lower(): str(v) for k, v in data.get("headers", {}).items()}
    notes: list[str] = []
    if "body_base64" in data:
        try:
            body = base64.b64decode(str(data["body_base64"]), validate=True)
        except ValueError:
            raise SavedRequestError(f"{path}: body_base64 is not base64") from None
    elif isinstance(data.get("body"), str):
        body = data["body"].encode("utf-8")
    elif "body" in data:
        body = json.dumps(data["body"], separators=(",", ":")).encode("utf-8")
        notes.append("body given as JSON data: serialized compactly, so a signature over the original bytes may not match")
    else:
        raise SavedRequestError(f"{path}: no 'body' (raw text) or 'body_base64'")
    return headers, body, notes


async def _secret(name: str) -> tuple[str | None, str | None]:
    """(plaintext, None) or (None, why it could not be had) — never an embedded server for a dry run."""
    # deferred: the secret store costs ~170 ms (measured: asyncio, ssl); every command loads this module; validate, list and test never need it
    from flows.actions.secrets import env_var_name, resolve_secret

    if env_var_name(name) not in os.environ:
        url = configured_api_url()
        if not url:
            return None, f"secret '{name}' is not in env {env_var_name(name)} and no Prefect API is configured"
        os.environ["PREFECT_API_URL"] = url
    try:
        return await resolve_secret(name), None
    except Exception as exc:  # noqa: BLE001 - a dry run reports what it could not check
        return None, str(exc)


def _triggered(catalog: Catalog, event: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, loaded in sorted(catalog.automations.items()):
        automation = loaded.automation
        if automation.trigger.type != "event":
            continue
        matches, why = match_event(automation.trigger.event, event)
        rows.append({"automation": name, "status": automation.status, "matches": matches, "why": why})
    return rows


async def webhook_dry_run(loaded: LoadedWebhook, headers: dict[str, str], body: bytes, catalog: Catalog) -> dict[str, Any]:
    """The receiver's verdict for this request now (rate limit and cooldowns are not applied)."""
    webhook = loaded.webhook
    now = time.time()
    notes = ["rate limit not applied in a dry run; automations' cooldowns not checked"]
    verdict = precheck(webhook, headers, body)
    authenticated: bool | None = None
    if verdict is None:
        key, missing = await _secret(secret_name(webhook.secret_reference))
        if key is None:
            notes.append(f"authentication NOT checked: {missing}")
        else:
            problem = verify(webhook.auth, key, headers, body, now)
            authenticated = problem is None
            if problem:
                verdict = Verdict(401, problem)
        if verdict is None:
            verdict = after_authentication(webhook, headers, body, now)
    report: dict[str, Any] = {
        "webhook": webhook.name,
        "path": webhook.route,
        "status": verdict.status,
        # None: everything but the signature checked out, and the signature could not be checked.
        "accepted": None if verdict.accepted and authenticated is None else verdict.accepted,
        "authenticated": authenticated,
        "reason": verdict.reason,
        "event": verdict.event,
        "automations": [],
        "notes": notes,
    }
    if webhook.status != "enabled":
        report["accepted"] = False
        notes.append("the webhook is disabled: the receiver answers 404")
    if verdict.event is not None:
        report["automations"] = _triggered(catalog, verdict.event)
    return report
