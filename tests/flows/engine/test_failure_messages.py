"""Failure messages: one line in our words, causes and files named, control characters escaped (a table per rule)."""

from __future__ import annotations

import errno
import socket

import pytest
from pydantic import BaseModel, ValidationError

from flows.engine.failure_messages import connection_failure, describe_exception, escape_controls, plain_message, validation_message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\\x00b"),
        ("line1\nline2\r\n", "line1\\nline2\\r\\n"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("tab\there", "tab\\there"),
        ("c1\x9bcontrol", "c1\\x9bcontrol"),
        ("unicode ✓ stays", "unicode ✓ stays"),
    ],
)
def test_control_characters_are_escaped(text: str, expected: str) -> None:
    assert escape_controls(text) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Task run encountered an exception ActionError: HTTP GET http://x/ answered 400", "HTTP GET http://x/ answered 400"),
        ("Task run encountered an exception NotRetryable: missing secret", "missing secret"),
        ("Task run exceeded timeout of 5.0 second(s)", "Task run exceeded timeout of 5.0 second(s)"),
        ("two\nlines", "two\\nlines"),
        ("", ""),
    ],
)
def test_plain_message_drops_prefects_prefix(message: str, expected: str) -> None:
    assert plain_message(message) == expected


class _Params(BaseModel):
    url: str
    count: int


def test_validation_errors_are_field_colon_message() -> None:
    with pytest.raises(ValidationError) as raised:
        _Params.model_validate({"url": 5, "count": "x"})
    assert validation_message(raised.value) == (
        "url: Input should be a valid string; count: Input should be a valid integer, unable to parse string as an integer"
    )


def test_connection_refused_names_the_address() -> None:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
        except OSError as inner:
            raise OSError("All connection attempts failed") from inner
    except OSError as outer:
        assert connection_failure(outer, "127.0.0.1:9") == "connection refused by 127.0.0.1:9"


def test_an_unknown_host_is_named() -> None:
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert connection_failure(exc, "nowhere.invalid:443") == "cannot resolve nowhere.invalid (Name or service not known)"


def test_describe_exception_of_a_validation_error() -> None:
    with pytest.raises(ValidationError) as raised:
        _Params.model_validate({"url": "u"})
    assert describe_exception(raised.value) == "count: Field required"
