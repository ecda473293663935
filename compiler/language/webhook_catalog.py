"""Load and validate webhook files (``configs/webhooks/``): every file, every error, located, in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from compiler.language.catalog import Catalog, load_catalog
from compiler.language.config_files import Findings, Report, config_files, named, read_document, reporter, root_is_mapping, validate_document
from compiler.language.cross_machine import deploy_config_warnings
from compiler.language.deploy_config import deploy_config_path, load_deploy_config
from compiler.language.diagnostics import Diagnostic, did_you_mean
from compiler.language.model.webhooks import Webhook
from compiler.language.project import beside
from compiler.language.source import SourceDocument
from compiler.language.templates import Placeholder, iter_placeholders

__all__ = [
    "CREDENTIAL_HEADERS",
    "WEBHOOK_VARIABLES",
    "LoadedWebhook",
    "WebhookCatalog",
    "load_webhooks",
    "validate_with_webhooks",
    "webhooks_dir_for",
]

# What a webhook's event templates can read (flows/events/webhooks/intake.py builds exactly these).
WEBHOOK_VARIABLES: dict[str, str] = {
    "body": "the parsed request body (JSON, or the form's fields): {body.repository.full_name}",
    "headers": "a request header, lower-case name: {headers.x-github-event}",
    "delivery_id": "the value of event.id_header (the sender's delivery id)",
    "webhook": "the webhook's name",
    "received_at": "when the request arrived, UTC ISO 8601",
}
# Never readable from templates: they carry credentials, and an event is stored and shown in the UI.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-hub-signature", "x-hub-signature-256"})


@dataclass(frozen=True)
class LoadedWebhook:
    webhook: Webhook
    path: str


@dataclass
class WebhookCatalog(Findings):
    """The valid webhooks of a folder and every diagnostic; a bad file never hides the good ones."""

    webhooks: dict[str, LoadedWebhook] = field(default_factory=dict)

    @property
    def enabled(self) -> list[Webhook]:
        return [w.webhook for _, w in sorted(self.webhooks.items()) if w.webhook.status == "enabled"]

    def get(self, name: str) -> LoadedWebhook:
        return named(self.webhooks, name, "webhook")


def webhooks_dir_for(config_dir: Path) -> Path:
    """``configs/automations`` → ``configs/webhooks``."""
    return beside(config_dir, "webhooks")


def load_webhooks(folder: Path, paths: Iterable[Path] | None = None) -> WebhookCatalog:
    """Validate every webhook file in ``folder`` (or just ``paths``); names and paths must be unique."""
    catalog = WebhookCatalog()
    files = list(paths) if paths is not None else config_files(folder)
    names: dict[str, str] = {}
    routes: dict[str, str] = {}
    for path in files:
        catalog.files.append(str(path))
        found: list[Diagnostic] = []
        loaded = _load_one(path, found, names, routes)
        catalog.diagnostics.extend(found)
        if loaded is not None and not any(d.severity == "error" for d in found):
            catalog.webhooks[loaded.webhook.name] = loaded
    catalog.diagnostics.sort()
    return catalog


def _load_one(path: Path, found: list[Diagnostic], names: dict[str, str], routes: dict[str, str]) -> LoadedWebhook | None:
    doc = read_document(path, found)
    if doc is None or not root_is_mapping(doc, "name, auth and event", found):
        return None
    report = reporter(doc, found)
    webhook = validate_document(doc, Webhook, found)
    _check_templates(doc, report)
    if webhook is None:
        return None
    if webhook.name in names:
        report(("name",), f"webhook name '{webhook.name}' is already used by {names[webhook.name]}; names must be unique")
        return None
    if webhook.status == "enabled" and webhook.route in routes:
        loc = ("path",) if webhook.path else ("name",)
        report(loc, f"path '{webhook.route}' is already served by {routes[webhook.route]}; paths must be unique")
        return None
    names[webhook.name] = doc.path
    if webhook.status == "enabled":
        routes[webhook.route] = doc.path
    return LoadedWebhook(webhook, doc.path)


def _check_templates(doc: SourceDocument, report: Report) -> None:
    """Syntax and names of every template in ``event`` (checked on the raw data: also when other fields are wrong)."""
    event = doc.data.get("event")
    if not isinstance(event, dict):
        return
    id_header = event.get("id_header")
    auth = doc.data.get("auth")
    signature = auth.get("signature_header") if isinstance(auth, dict) else None
    hidden = CREDENTIAL_HEADERS | ({signature.lower()} if isinstance(signature, str) else set())
    for key, value in event.items():
        if key == "id_header":
            continue
        for loc, placeholder in iter_placeholders(value, at=("event", key), report_syntax=report):
            problem = _check_placeholder(placeholder, id_header is not None, hidden)
            if problem:
                report(loc, problem)


def _check_placeholder(placeholder: Placeholder, has_id_header: bool, hidden_headers: frozenset[str] | set[str]) -> str | None:
    if placeholder.secret is not None:
        return f"'{{{placeholder.reference}}}': secrets cannot go into an event (events are stored and shown in the Prefect UI)"
    head, rest = placeholder.path[0], placeholder.path[1:]
    if head not in WEBHOOK_VARIABLES:
        return f"unknown variable '{head}'{did_you_mean(head, WEBHOOK_VARIABLES)} (a webhook's templates can use: {', '.join(WEBHOOK_VARIABLES)})"
    if head == "headers":
        if len(rest) != 1:
            return f"'{{{placeholder.reference}}}' names one header: {{headers.NAME}}, e.g. {{headers.x-github-event}}"
        name = rest[0]
        if name != name.lower():
            return f"'{{{placeholder.reference}}}': header names are matched lower-case; write {{headers.{name.lower()}}}"
        if name in hidden_headers:
            return f"'{{{placeholder.reference}}}': header '{name}' carries a credential and cannot go into an event"
        return None
    if head == "delivery_id" and not has_id_header:
        return "'{delivery_id}' needs event.id_header (the header carrying the sender's delivery id)"
    if head in ("delivery_id", "webhook", "received_at") and rest:
        return f"'{{{placeholder.reference}}}': '{head}' is a plain value with no keys"
    return None


def validate_with_webhooks(config_dir: Path, files: list[Path] | None) -> tuple[Catalog, WebhookCatalog]:
    """``validate``'s pass: the automations (all, or the given files) and the webhooks (``configs/webhooks/``, or
    the given files inside a ``webhooks`` folder); with no files, ``configs/deploy.yaml`` too. The automation
    catalog returned also holds the webhooks' and deploy.yaml's diagnostics and files, so error counts and
    the exit code (``--strict``: warnings too) cover them all."""
    if files is None:
        catalog = load_catalog(config_dir)
        webhooks = load_webhooks(webhooks_dir_for(config_dir))
        catalog.diagnostics.extend(_deploy_config_diagnostics(config_dir, catalog.files))
    else:
        hooks = [p for p in files if p.parent.name == "webhooks"]
        others = [p for p in files if p.parent.name != "webhooks"]
        catalog = load_catalog(config_dir, others) if others else Catalog()
        webhooks = load_webhooks(config_dir, hooks)
    catalog.files.extend(webhooks.files)
    catalog.diagnostics = sorted([*catalog.diagnostics, *webhooks.diagnostics])
    return catalog, webhooks


def _deploy_config_diagnostics(config_dir: Path, files: list[str]) -> list[Diagnostic]:
    """Errors and warnings of ``configs/deploy.yaml`` (when it exists; added to ``files``)."""
    path = deploy_config_path(config_dir)
    if not path.exists():
        return []
    files.append(str(path))
    config, errors = load_deploy_config(path)
    return errors if config is None else deploy_config_warnings(path)
