"""Where the warm runner listens and how a `run` command talks to it: framed JSON and passed descriptors."""

from __future__ import annotations

import json
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.local_server.process_records import read_process_record, write_process_record

__all__ = [
    "ANSWER_TIMEOUT_SECONDS",
    "CHECK_TIMEOUT_SECONDS",
    "DISABLE_ENV",
    "WarmRecord",
    "disabled",
    "read_record",
    "record_path",
    "recv_fds",
    "recv_message",
    "send_fds",
    "send_message",
    "write_record",
]

# AUTOMATIONS_WARM_RUNS=false: `run` neither uses nor starts a warm runner (every run imports Prefect itself).
DISABLE_ENV = "AUTOMATIONS_WARM_RUNS"
_HEADER = struct.Struct("!I")
# The runner answers a request once its forked child has checked the run's settings (or after this long, declining).
CHECK_TIMEOUT_SECONDS = 30.0  # a loaded machine is slow; a hung child is declined
# How long a caller waits for that answer: past the runner's own bound, so the runner always answers first.
ANSWER_TIMEOUT_SECONDS = CHECK_TIMEOUT_SECONDS + 15.0
_MAX_MESSAGE = 16 * 1024 * 1024  # an environment and an argument list; anything larger is not ours


def disabled(env: dict[str, str] | os._Environ[str]) -> bool:
    return env.get(DISABLE_ENV, "").strip().lower() in ("0", "false", "no", "off")


def record_path(server_dir: Path) -> Path:
    """The runner's record lives beside the embedded server's (``var/prefect``): one runner per project."""
    return server_dir / "warm.json"


@dataclass(frozen=True)
class WarmRecord:
    pid: int
    socket: str


def read_record(server_dir: Path) -> WarmRecord | None:
    return read_process_record(record_path(server_dir), WarmRecord)


def write_record(server_dir: Path, record: WarmRecord) -> None:
    write_process_record(record_path(server_dir), record)


def send_message(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(body)) + body)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks += chunk
    return bytes(chunks)


def recv_message(sock: socket.socket) -> dict[str, Any]:
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    if size > _MAX_MESSAGE:
        raise ConnectionError(f"message of {size} bytes refused")
    message = json.loads(_recv_exactly(sock, size))
    if not isinstance(message, dict):
        raise ConnectionError("message is not a JSON object")
    return message


def send_fds(sock: socket.socket, fds: list[int]) -> None:
    """The caller's stdin, stdout and stderr, so the run writes straight to its terminal or pipes."""
    socket.send_fds(sock, [b"F"], fds)


def recv_fds(sock: socket.socket, count: int) -> list[int]:
    data, fds, _flags, _addr = socket.recv_fds(sock, 1, count)
    if data != b"F" or len(fds) != count:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("expected the caller's standard streams")
    return list(fds)
