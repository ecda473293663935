"""``dry-run NAME --request FILE`` of a webhook: would a saved request (headers + body) be accepted, which event
would it become, and which automations would that event trigger. Nothing is emitted."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.output import err, say
from compiler.language.catalog import Catalog, load_catalog
from compiler.language.model.webhooks import secret_name
from compiler.language.webhook_catalog import LoadedWebhook, load_webhooks, webhooks_dir_for
from flows.events.matching import match_event
from flows.events.webhooks.auth import verify
from flows.events.webhooks.intake import Verdict, after_authentication, precheck

__all__ = ["SavedRequestError", "cmd_dry_run_webhook", "read_saved_request", "webhook_dry_run"]


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


def _format_report(report: dict[str, Any]) -> list[str]:
    accepted = report["accepted"]
    verdict = ("would ACCEPT (202)" if accepted else
               f"would REFUSE ({report['status']}): {report['reason']}" if accepted is False else
               "would ACCEPT if the signature is right (it was not checked)")
    if report["status"] == 200:
        verdict = f"would answer 200: {report['reason']}"
    lines = [f"{report['webhook']} (POST {report['path']}): {verdict}"]
    event = report["event"]
    if event is not None:
        lines.append(f"  event {event['id']}: {event['event']}")
        lines.append(f"    resource: {json.dumps(event['resource'], sort_keys=True)}")
        lines.append(f"    payload:  {json.dumps(event['payload'], sort_keys=True, default=str)[:2000]}")
        triggered = [row for row in report["automations"] if row["matches"]]
        if not triggered:
            lines.append("  would trigger no automation (no event trigger matches)")
        for row in triggered:
            disabled = " [disabled: not served or deployed]" if row["status"] != "enabled" else ""
            lines.append(f"  would trigger {row['automation']}: {row['why']}{disabled}")
    for note in report["notes"]:
        lines.append(f"  note: {note}")
    return lines


def cmd_dry_run_webhook(args: argparse.Namespace) -> int:
    """``dry-run NAME --request FILE``: NAME is a webhook; the report says what the receiver would do."""
    catalog = load_webhooks(webhooks_dir_for(args.config_dir))
    try:
        loaded = catalog.get(args.name)
    except KeyError as exc:
        err(str(exc.args[0]))
        for diagnostic in catalog.errors:
            err(str(diagnostic))
        return 1
    try:
        headers, body, notes = read_saved_request(args.request)
    except SavedRequestError as exc:
        err(str(exc))
        return 2
    report = asyncio.run(webhook_dry_run(loaded, headers, body, load_catalog(args.config_dir)))
    report["notes"] = notes + report["notes"]
    if args.json:
        say(json.dumps(report, indent=2, default=str))
    else:
        for line in _format_report(report):
            say(line)
    return 0
