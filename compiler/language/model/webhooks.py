"""Inbound webhooks as pydantic models: the endpoint, how senders authenticate, and the event a request becomes."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from compiler.language.model.automation import AUTOMATION_NAME_PATTERN
from compiler.language.model.base import JsonValue, StrictModel
from compiler.language.model.triggers import EventType

__all__ = [
    "LABEL_FIELDS",
    "REQUIRED_LABELS",
    "SECRET_REFERENCE_PATTERN",
    "BearerAuth",
    "ContentType",
    "GithubAuth",
    "HmacAuth",
    "RateLimit",
    "Webhook",
    "WebhookAuth",
    "WebhookEvent",
    "secret_name",
]

# Exactly one `{secret:NAME}` reference: a credential is never written into the file itself.
SECRET_REFERENCE_PATTERN = r"^\{secret:[A-Za-z0-9_.-]{1,128}\}$"
_HEADER_NAME = r"^[A-Za-z0-9-]{1,100}$"
ContentType = Literal["json", "form"]



def _is_secret_reference(value: str) -> str:
    if not re.match(SECRET_REFERENCE_PATTERN, value):
        raise ValueError(
            "expected a secret reference such as '{secret:github_webhook}' (secrets are never written in YAML: "
            "set env AUTOMATIONS_SECRET_<NAME> or a Prefect Secret block)"
        )
    return value


_SecretReference = Annotated[
    str,
    AfterValidator(_is_secret_reference),
    Field(description="A secret reference, {secret:NAME}: env AUTOMATIONS_SECRET_<NAME> or the Prefect Secret block."),
]
_HeaderName = Annotated[str, Field(pattern=_HEADER_NAME, description="An HTTP header name (matched case-insensitively).")]
_LabelTemplate = Annotated[
    str,
    Field(min_length=1, max_length=500, description="Text or a template over the request, e.g. '{body.repository.name}'."),
]


def secret_name(reference: str) -> str:
    """``{secret:github_hook}`` → ``github_hook`` (the model guarantees the form)."""
    return reference[len("{secret:") : -1]


class GithubAuth(StrictModel):
    """GitHub's signature: HMAC-SHA256 of the raw body in ``X-Hub-Signature-256: sha256=<hex>``."""

    type: Literal["github"]
    secret: _SecretReference


class HmacAuth(StrictModel):
    """HMAC-SHA256 over ``<timestamp>.<raw body>``; the timestamp (Unix seconds) must be within the tolerance."""

    type: Literal["hmac"]
    secret: _SecretReference
    signature_header: _HeaderName = Field(default="X-Signature", description="Holds sha256=<hex> (or just <hex>).")
    timestamp_header: _HeaderName = Field(default="X-Timestamp", description="Holds the signing time, Unix seconds.")
    tolerance_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=300, description="Requests signed longer ago (or further ahead) than this are refused (replay protection)."
    )


class BearerAuth(StrictModel):
    """``Authorization: Bearer <token>``."""

    type: Literal["bearer"]
    token: _SecretReference


WebhookAuth = Annotated[GithubAuth | HmacAuth | BearerAuth, Field(discriminator="type")]

# The resource labels an event carries (the same names as the event trigger's filters), by kind.
LABEL_FIELDS = ("agent_name", "chain_name", "custom_type", "entity_type", "entity_id", "artifact_type", "status")
REQUIRED_LABELS: dict[str, tuple[str, ...]] = {
    "agent_complete": ("agent_name",),
    "agent_failed": ("agent_name",),
    "chain_complete": ("chain_name",),
    "chain_failed": ("chain_name",),
    "registry_update": ("entity_type", "entity_id"),
    "artifact_created": ("artifact_type",),
    "custom": ("custom_type",),
}


class WebhookEvent(StrictModel):
    """The Platform God event an accepted request becomes (the kinds event triggers listen for)."""

    event_type: EventType = Field(description="Kind of event, as an event trigger names it.")
    agent_name: _LabelTemplate | None = Field(default=None, description="agent_complete / agent_failed.")
    chain_name: _LabelTemplate | None = Field(default=None, description="chain_complete / chain_failed.")
    custom_type: _LabelTemplate | None = Field(default=None, description="custom: the event is platform-god.custom.<custom_type>.")
    entity_type: _LabelTemplate | None = Field(default=None, description="registry_update.")
    entity_id: _LabelTemplate | None = Field(default=None, description="registry_update.")
    artifact_type: _LabelTemplate | None = Field(default=None, description="artifact_created.")
    status: _LabelTemplate | None = Field(default=None, description="Any kind: the status label triggers can filter on.")
    payload: dict[str, JsonValue] | str = Field(
        default="{body}",
        description="The event payload: a mapping of templates, or one placeholder holding a mapping (default: the whole body).",
    )
    id_header: _HeaderName | None = Field(
        default=None,
        description="Header carrying the sender's delivery id (GitHub: X-GitHub-Delivery): a redelivery is the same event.",
    )

    @field_validator("agent_name", "chain_name", "custom_type", "entity_type", "entity_id", "artifact_type")
    @classmethod
    def _label_fits_event_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        # On the field (not the model) so the error points at the label that does not apply.
        event_type = info.data.get("event_type")  # absent when event_type itself was invalid
        if value is not None and event_type is not None and info.field_name not in REQUIRED_LABELS[event_type]:
            fits = ", ".join([*REQUIRED_LABELS[event_type], "status"])
            raise ValueError(f"{info.field_name} does not apply to {event_type} events (allowed: {fits})")
        return value

    @field_validator("payload")
    @classmethod
    def _payload_string_is_one_placeholder(cls, value: Any) -> Any:
        if isinstance(value, str) and not (value.startswith("{") and value.endswith("}") and value.count("{") == 1):
            raise ValueError(f"payload is a mapping, or exactly one placeholder such as '{{body}}'; got '{value}'")
        return value

    @model_validator(mode="after")
    def _required_labels_present(self) -> WebhookEvent:
        missing = [name for name in REQUIRED_LABELS[self.event_type] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.event_type} events need {' and '.join(missing)} (text or a template over the request)")
        return self

    def labels(self) -> dict[str, str]:
        """Label field → template, for the labels that are set."""
        return {name: getattr(self, name) for name in LABEL_FIELDS if getattr(self, name) is not None}


class RateLimit(StrictModel):
    """At most ``requests`` per ``per_seconds`` (a token bucket: bursts up to ``requests``)."""

    requests: Annotated[int, Field(ge=1, le=1_000_000)] = 120
    per_seconds: Annotated[int, Field(ge=1, le=86_400)] = 60


class Webhook(StrictModel):
    """One inbound endpoint: requests that pass authentication become one Prefect event each."""

    name: str = Field(pattern=AUTOMATION_NAME_PATTERN, description="Unique across webhook files; shown in logs.")
    description: str = Field(default="", max_length=2000)
    status: Literal["enabled", "disabled"] = Field(default="enabled", description="disabled: validated but not served.")
    path: str | None = Field(
        default=None,
        pattern=r"^/[A-Za-z0-9._~/-]{0,199}$",
        description="URL path on the receiver; default /hooks/<name>.",
    )
    auth: WebhookAuth = Field(description="How senders prove who they are; required.")
    event: WebhookEvent
    content_types: list[ContentType] = Field(
        default_factory=lambda: list[ContentType](["json"]), min_length=1, description="Accepted bodies: json and/or form (urlencoded)."
    )
    max_body_bytes: Annotated[int, Field(ge=1, le=26_214_400)] = Field(
        default=1_048_576, description="Larger bodies are refused with 413 (GitHub sends at most 25 MB)."
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Requests over it are refused with 429.")

    @field_validator("path")
    @classmethod
    def _path_is_not_reserved(cls, value: str | None) -> str | None:
        if value is not None and (value.rstrip("/") in ("", "/healthz") or "//" in value):
            raise ValueError(f"path '{value}' is reserved or malformed; use something like /hooks/NAME")
        return value

    @property
    def route(self) -> str:
        return self.path or f"/hooks/{self.name}"

    @property
    def secret_reference(self) -> str:
        auth = self.auth
        return auth.token if isinstance(auth, BearerAuth) else auth.secret
