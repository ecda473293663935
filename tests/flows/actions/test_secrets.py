"""Secret references: resolution from the environment, substitution and redaction."""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from flows.actions.secrets import (
    SECRET_PATTERN,
    SecretBox,
    SecretNotFound,
    block_slug,
    env_var_name,
    resolve_secret,
    secret_names,
)

TOKEN = "ghp_s3cr3tT0kenValue"
TOKEN_ENV = "AUTOMATIONS_SECRET_GITHUB_TOKEN"


@pytest.fixture
def github_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


@pytest.fixture
def unreachable_prefect_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No env value and a Prefect API URL nothing listens on (port 9, discard)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        yield


async def _box_with(value: object) -> tuple[SecretBox, object]:
    box = SecretBox()
    return box, await box.substitute(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bearer {secret:github_token}", {"github_token"}),
        ("{secret:a}{secret:b.c-d_E}", {"a", "b.c-d_E"}),
        ({"headers": {"X-Key": "{secret:api_key}"}, "urls": ["https://x/?t={secret:t1}"]}, {"api_key", "t1"}),
        ({"{secret:in_key}": "plain"}, {"in_key"}),
        ("{secret:}", set()),
        ("{secret:has space}", set()),
        ("{secret:" + "x" * 129 + "}", set()),
        ("{ secret:spaced }", set()),
        (42, set()),
    ],
)
def test_secret_names(value: object, expected: set[str]) -> None:
    assert secret_names(value) == expected


def test_secret_pattern_captures_name() -> None:
    assert SECRET_PATTERN.fullmatch("{secret:github_token}").group("name") == "github_token"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "env", "slug"),
    [
        ("github_token", "AUTOMATIONS_SECRET_GITHUB_TOKEN", "github-token"),
        ("Slack.Webhook-URL", "AUTOMATIONS_SECRET_SLACK_WEBHOOK_URL", "slack-webhook-url"),
        ("db2", "AUTOMATIONS_SECRET_DB2", "db2"),
    ],
)
def test_env_var_and_block_names(name: str, env: str, slug: str) -> None:
    assert (env_var_name(name), block_slug(name)) == (env, slug)


def test_resolve_secret_from_env(github_token: str) -> None:
    assert asyncio.run(resolve_secret("github_token")) == github_token


def test_resolve_secret_rejects_invalid_name() -> None:
    with pytest.raises(ValueError, match="invalid secret name"):
        asyncio.run(resolve_secret("not a name"))


def test_missing_secret_message_explains_both_sources(unreachable_prefect_api: None) -> None:
    with pytest.raises(SecretNotFound) as info:
        asyncio.run(resolve_secret("github_token"))
    assert str(info.value).startswith(
        "secret 'github_token' not found: create a Prefect Secret block named 'github-token'"
        " or set env AUTOMATIONS_SECRET_GITHUB_TOKEN"
    )


def test_missing_secret_message_says_prefect_api_unreachable(unreachable_prefect_api: None) -> None:
    with pytest.raises(SecretNotFound, match=r"\(no Prefect API reachable: "):
        asyncio.run(resolve_secret("github_token"))


def test_substitute_replaces_reference_with_plaintext(github_token: str) -> None:
    _, substituted = asyncio.run(_box_with({"Authorization": "Bearer {secret:github_token}"}))
    assert substituted == {"Authorization": f"Bearer {github_token}"}


def test_substitute_leaves_input_unchanged(github_token: str) -> None:
    original = {"headers": ["Bearer {secret:github_token}"]}
    asyncio.run(_box_with(original))
    assert original == {"headers": ["Bearer {secret:github_token}"]}


def test_substitute_then_redact_round_trip(github_token: str) -> None:
    box, substituted = asyncio.run(_box_with({"Authorization": "Bearer {secret:github_token}", "n": 1}))
    assert box.redact(substituted) == {"Authorization": "Bearer ***", "n": 1}


def test_redact_url_encoded_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATIONS_SECRET_DB_PASSWORD", "p@ss/w0rd+&=")
    box, _ = asyncio.run(_box_with("{secret:db_password}"))
    url = f"https://api.example.com/login?password={quote('p@ss/w0rd+&=', safe='')}&user=bob"
    assert box.redact_text(url) == "https://api.example.com/login?password=***&user=bob"


def test_redact_base64_basic_auth_form(github_token: str) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    header = "Basic " + base64.b64encode(f"alice:{github_token}".encode()).decode()
    assert "***" in box.redact_text(header)


def test_redact_bytes_returns_redacted_str(github_token: str) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    assert box.redact(f'{{"token": "{github_token}"}}'.encode()) == '{"token": "***"}'


def test_short_secret_is_redacted_only_verbatim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATIONS_SECRET_PIN", "a b")
    box, _ = asyncio.run(_box_with("{secret:pin}"))
    assert box.redact_text("a b / a%20b") == "*** / a%20b"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


@pytest.fixture
def task_run_messages() -> Iterator[list[str]]:
    logger = logging.getLogger("prefect.task_runs")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def test_log_filter_redacts_task_run_record(github_token: str, task_run_messages: list[str]) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    with box.install_log_filter():
        logging.getLogger("prefect.task_runs").warning("calling with token %s", github_token)
    assert task_run_messages == ["calling with token ***"]


def test_log_filter_redacts_logged_traceback(github_token: str, task_run_messages: list[str]) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    with box.install_log_filter():
        try:
            raise RuntimeError(f"rejected {github_token}")
        except RuntimeError:
            logging.getLogger("prefect.task_runs").exception("request failed")
    assert github_token not in task_run_messages[0]


def test_log_filter_is_removed_on_exit(github_token: str, task_run_messages: list[str]) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    with box.install_log_filter():
        pass
    logging.getLogger("prefect.task_runs").warning("token %s", github_token)
    assert task_run_messages == [f"token {github_token}"]


def test_redact_exception_keeps_type_and_redacts_message(github_token: str) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    redacted = box.redact_exception(ValueError(f"bad credentials {github_token}"))
    assert (type(redacted), str(redacted)) == (ValueError, "bad credentials ***")


def test_redact_exception_traceback_has_no_plaintext(github_token: str) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    try:
        try:
            try:
                raise OSError(f"connect failed for https://x/?t={github_token}")
            except OSError as inner:
                raise ValueError(f"request with {github_token} failed") from inner
        except ValueError as exc:
            raise box.redact_exception(exc)  # noqa: B904 (redact_exception already chains from None)
    except ValueError as final:
        rendered = "".join(traceback.format_exception(final))
    assert github_token not in rendered


class _NeedsTwoArgs(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


def test_redact_exception_falls_back_to_runtime_error(github_token: str) -> None:
    box, _ = asyncio.run(_box_with("{secret:github_token}"))
    redacted = box.redact_exception(_NeedsTwoArgs(401, f"token {github_token} rejected"))
    assert (type(redacted), str(redacted)) == (RuntimeError, "_NeedsTwoArgs: 401: token *** rejected")
