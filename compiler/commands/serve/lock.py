"""One ``serve`` per project: a lock file holding the PID and host of its holder; a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from flows.local_server.process_records import pid_alive

__all__ = ["LockHeld", "ProjectLock"]


class LockHeld(RuntimeError):
    def __init__(self, pid: int, host: str, path: Path) -> None:
        super().__init__(f"this project is already served by PID {pid} on host {host} (lock {path}); stop it first")
        self.pid = pid
        self.host = host


@dataclass
class ProjectLock:
    path: Path

    def _holder(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.path.read_text())
            return int(data["pid"]), str(data["host"])
        except (OSError, ValueError, KeyError):
            return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    self.path.unlink(missing_ok=True)  # torn write by a holder killed mid-create
                    continue
                pid, host = holder
                if host == socket.gethostname() and not pid_alive(pid):
                    # Take over atomically: replace the dead holder's file with ours.
                    tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(me)
                    os.replace(tmp, self.path)
                    if self._holder() == (os.getpid(), socket.gethostname()):
                        return
                    continue
                raise LockHeld(pid, host, self.path) from None  # the lock, not the open, is the news
            with os.fdopen(fd, "w") as handle:
                handle.write(me)
            return
        raise LockHeld(*(self._holder() or (0, "?")), self.path)

    def release(self) -> None:
        if self._holder() == (os.getpid(), socket.gethostname()):
            self.path.unlink(missing_ok=True)
