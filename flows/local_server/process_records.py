"""Processes other commands find again: is a PID still running here (lock files, the local server, the warm
runner), and the small JSON record each background process leaves of itself."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["pid_alive", "read_process_record", "write_process_record"]

R = TypeVar("R")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a killed process that its parent has not reaped yet (a zombie) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces, so split after the last ')'.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def read_process_record(path: Path, record_type: type[R]) -> R | None:
    """The dataclass ``record_type`` written at ``path``; None when missing, unreadable or incomplete."""
    try:
        data = json.loads(path.read_text())
        # fields() wants a dataclass type; R is one by contract (callers pass their record classes).
        return record_type(**{f.name: data[f.name] for f in fields(record_type)})  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_process_record(path: Path, record: Any) -> None:
    """Written to a temporary file and renamed: a reader never sees half a record."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, path)
