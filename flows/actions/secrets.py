"""Secret references (``{secret:NAME}``) resolved at action run time, and their redaction.

Secrets are never written inline in YAML. A parameter string may contain ``{secret:NAME}``, e.g.
``Authorization: "Bearer {secret:github_token}"``; the action resolves it only while it runs,
through a :class:`SecretBox` that also redacts the plaintext from results, logs and exceptions.

Resolution order for ``NAME``:

1. environment variable ``AUTOMATIONS_SECRET_<NAME>`` (upper-cased, non-alphanumerics → ``_``),
   so secrets work offline without a Prefect server;
2. the Prefect ``Secret`` block named after ``NAME`` lower-cased with ``_`` and ``.`` → ``-``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "REDACTED",
    "SECRET_PATTERN",
    "SecretBox",
    "SecretNotFound",
    "block_slug",
    "env_var_name",
    "resolve_secret",
    "secret_names",
]

SECRET_PATTERN: re.Pattern[str] = re.compile(r"\{secret:(?P<name>[A-Za-z0-9_.-]{1,128})\}")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
REDACTED = "***"
ENV_PREFIX = "AUTOMATIONS_SECRET_"
# Encoded forms (URL-encoded, base64) are only redacted for secrets at least this long: shorter
# strings would match by accident far too often.
MIN_ENCODED_LEN = 6
LOGGER_NAMES = ("prefect.flow_runs", "prefect.task_runs")


class SecretNotFound(LookupError):
    """A ``{secret:NAME}`` reference that neither the environment nor Prefect can resolve."""

    def __init__(self, name: str, detail: str | None = None) -> None:
        message = (
            f"secret {name!r} not found: create a Prefect Secret block named {block_slug(name)!r}"
            f" or set env {env_var_name(name)}"
        )
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)
        self.name = name


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid secret name {name!r}: use 1-128 of [A-Za-z0-9_.-]")
    return name


def env_var_name(name: str) -> str:
    """``github_token`` → ``AUTOMATIONS_SECRET_GITHUB_TOKEN``."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def block_slug(name: str) -> str:
    """``github_token`` → ``github-token`` (Prefect block names: lowercase letters, digits, dashes)."""
    return re.sub(r"[_.]", "-", name.lower())


def secret_names(value: Any) -> set[str]:
    """Every ``NAME`` referenced as ``{secret:NAME}`` in a str / dict (keys and values) / list."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.update(m.group("name") for m in SECRET_PATTERN.finditer(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(key, found)
            _collect(item, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _collect(item, found)


async def resolve_secret(name: str) -> str:
    """Plaintext of secret ``name``: environment first, then the Prefect Secret block.

    Raises :class:`SecretNotFound` when neither exists, or when no Prefect API is reachable and
    the environment does not provide it (the message says so).
    """
    _check_name(name)
    from_env = os.environ.get(env_var_name(name))
    if from_env is not None:
        return from_env

    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run load the action table without running actions
    import httpx
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    slug = block_slug(name)
    block: Any  # Secret.aload's return type is left unbound by Prefect's annotations
    try:
        block = await Secret.aload(slug)
    except ObjectNotFound:
        raise SecretNotFound(name) from None
    except ValueError as exc:
        if isinstance(exc.__cause__, ObjectNotFound) or "Unable to find block document" in str(exc):
            raise SecretNotFound(name) from None
        raise
    except (httpx.TransportError, OSError) as exc:
        raise SecretNotFound(name, f"no Prefect API reachable: {type(exc).__name__}: {exc}") from None

    value = block.get()
    if isinstance(value, str):
        return value
    # Secret blocks may hold JSON values; a reference inside a string needs text.
    return json.dumps(value)


def _base64_forms(secret: bytes) -> set[str]:
    """Substrings that appear whenever ``secret`` is base64-encoded inside a larger payload.

    Base64 works on 3-byte groups, so the encoding of a secret embedded at an arbitrary offset
    (e.g. ``user:password`` in Basic auth) depends on the offset modulo 3; for each alignment the
    characters fully determined by the secret's own bytes are kept.
    """
    forms: set[str] = set()
    n = len(secret)
    for pad in range(3):
        start = -(-pad * 8 // 6)  # ceil: first char without prefix bits
        end = (pad + n) * 8 // 6  # floor: last char without suffix bits
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            part = encode(b"\0" * pad + secret).decode("ascii")[start:end]
            if len(part) >= MIN_ENCODED_LEN:
                forms.add(part)
    return forms


class SecretBox:
    """Holds resolved secret values for one action run and redacts them."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._forms: list[str] = []  # every redacted form, longest first

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def remember(self, plaintext: str) -> None:
        """Redact ``plaintext`` (and its encoded forms) from now on."""
        if not plaintext:
            return
        forms = {plaintext}
        if len(plaintext) >= MIN_ENCODED_LEN:
            forms.update({quote(plaintext, safe=""), quote_plus(plaintext), quote(plaintext)})
            forms.update(_base64_forms(plaintext.encode("utf-8")))
        merged = set(self._forms) | forms
        self._forms = sorted(merged, key=lambda f: (-len(f), f))

    async def _value(self, name: str) -> str:
        if name not in self._values:
            plaintext = await resolve_secret(name)
            self._values[name] = plaintext
            self.remember(plaintext)
        return self._values[name]

    async def substitute(self, value: Any) -> Any:
        """A copy of ``value`` with every ``{secret:NAME}`` replaced by the plaintext."""
        if isinstance(value, str):
            names = [m.group("name") for m in SECRET_PATTERN.finditer(value)]
            if not names:
                return value
            for name in dict.fromkeys(names):
                await self._value(name)
            return SECRET_PATTERN.sub(lambda m: self._values[m.group("name")], value)
        if isinstance(value, dict):
            return {await self.substitute(k): await self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.substitute(item) for item in value]
        if isinstance(value, tuple):
            return tuple([await self.substitute(item) for item in value])
        return value

    def redact_text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def redact(self, value: Any) -> Any:
        """A copy of str / bytes (decoded to str) / dict / list / tuple with secrets replaced."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.redact_text(bytes(value).decode("utf-8", errors="replace"))
        if isinstance(value, dict):
            return {self.redact(k): self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact(item) for item in value)
        return value

    def redact_exception(self, exc: BaseException) -> BaseException:
        """An exception of the same type (if constructible from one str, else RuntimeError) with a
        redacted message, with ``__cause__`` cleared and context suppressed (``from None``) so the
        original, plaintext-carrying exception does not appear in the traceback.
        """
        text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
        message = self.redact_text(text)
        try:
            new = type(exc)(message)
            if new.args != (message,) and str(new) != message:  # constructor rewrote the message
                raise TypeError(type(exc).__name__)
        except Exception:  # noqa: BLE001 - any exception type's constructor may raise anything: fall back to RuntimeError
            new = RuntimeError(f"{type(exc).__name__}: {message}")
        # Keep the original frames (they show where it failed; frames render code, not values)
        # but neither its message nor its cause/context chain.
        new = new.with_traceback(exc.__traceback__)
        new.__cause__ = None
        new.__suppress_context__ = True
        return new

    @contextlib.contextmanager
    def install_log_filter(self) -> Iterator[logging.Filter]:
        """While active, redact records on the Prefect run loggers and the ``prefect`` handlers."""
        log_filter = _RedactingFilter(self)
        targets: list[logging.Filterer] = [logging.getLogger(n) for n in LOGGER_NAMES]
        targets.extend(logging.getLogger("prefect").handlers)
        for target in targets:
            target.addFilter(log_filter)
        try:
            yield log_filter
        finally:
            for target in targets:
                target.removeFilter(log_filter)


class _RedactingFilter(logging.Filter):
    """Formats the record's message, redacts it and drops the args (and redacts tracebacks)."""

    def __init__(self, box: SecretBox) -> None:
        super().__init__()
        self._box = box

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._box._forms:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - malformed args (any __str__ may raise): keep both parts, as text
            message = f"{record.msg} {record.args!r}"
        record.msg = self._box.redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            # Render the traceback now and drop exc_info, so no formatter re-renders plaintext.
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._box.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._box.redact_text(record.stack_info)
        return True
