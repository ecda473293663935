"""Commands for webhooks: ``webhooks`` (the receiver alone) and the receiver under ``serve``; ``dry-run`` of one is in dry_run/webhook.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler.commands.api_endpoint import use_api
from compiler.commands.output import err, say
from compiler.language.webhook_catalog import load_webhooks, webhooks_dir_for

__all__ = ["add_command", "add_serve_arguments", "cmd_webhooks", "start_for_serve"]


def _webhooks(config_dir: Path) -> Any:
    return load_webhooks(webhooks_dir_for(config_dir))


def _settings(host: str | None, port: int | None) -> Any:
    # deferred: its settings cost ~160 ms (measured: pydantic-settings); every command loads this module; validate, list and test never need it
    from flows.events.webhooks.settings import WebhookSettings

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return WebhookSettings(**overrides)


def _describe(webhooks: list[Any]) -> str:
    return ", ".join(f"{w.name} (POST {w.route}, {w.auth.type})" for w in webhooks)


def cmd_webhooks(args: argparse.Namespace) -> int:
    catalog = _webhooks(args.config_dir)
    for diagnostic in catalog.diagnostics:
        err(str(diagnostic))
    enabled = catalog.enabled
    if not enabled:
        err(f"webhooks: no enabled, valid webhook in {webhooks_dir_for(args.config_dir)}")
        return 1
    settings = _settings(args.host, args.port)

    api_url, embedded = use_api()
    say(f"Prefect API: {api_url}" + (" (embedded local server)" if embedded else ""))
    # deferred: the receiver costs ~370 ms (measured: uvicorn, starlette); every command loads this module; validate, list and test never need it
    from flows.events.webhooks.server import configure_logging, run_foreground

    configure_logging()
    say(f"webhooks: serving on http://{settings.host}:{settings.port}: {_describe(enabled)}")
    return run_foreground(enabled, settings)


def start_for_serve(config_dir: Path, host: str | None, port: int | None, say: Callable[[str], None]) -> tuple[Any, bool]:
    """Start the receiver in a thread when the project has webhooks: (receiver or None, started fine)."""
    catalog = _webhooks(config_dir)
    for diagnostic in catalog.diagnostics:
        say(str(diagnostic))
    enabled = catalog.enabled
    if not enabled:
        return None, True
    # deferred: the receiver costs ~370 ms (measured: uvicorn, starlette); every command loads this module; validate, list and test never need it
    from flows.events.webhooks.server import BackgroundReceiver, configure_logging

    configure_logging()
    settings = _settings(host, port)
    receiver = BackgroundReceiver(enabled, settings)
    if not receiver.start():
        say(f"webhooks: cannot listen on {settings.host}:{settings.port} (see the error above); "
            "choose another with --webhooks-port or AUTOMATIONS_WEBHOOKS_PORT")
        receiver.stop()
        return None, False
    say(f"webhooks: listening on http://{receiver.address}: {_describe(enabled)}")
    return receiver, True


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """``serve``'s options for its webhook receiver (started only when configs/webhooks/ has webhooks)."""
    parser.add_argument("--webhooks-host", help="address the webhook receiver binds (default 127.0.0.1, env AUTOMATIONS_WEBHOOKS_HOST)")
    parser.add_argument("--webhooks-port", type=int, help="its port (default 8787, env AUTOMATIONS_WEBHOOKS_PORT)")


def add_command(sub: Any) -> None:
    p = sub.add_parser("webhooks", help="run the webhook receiver alone (configs/webhooks/), next to workers")
    p.add_argument("--host", help="address to bind (default 127.0.0.1, env AUTOMATIONS_WEBHOOKS_HOST)")
    p.add_argument("--port", type=int, help="port (default 8787, env AUTOMATIONS_WEBHOOKS_PORT)")
    p.set_defaults(func=cmd_webhooks)
