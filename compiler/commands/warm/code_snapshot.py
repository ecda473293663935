"""Has the code a warm runner imported changed since? Modification times of the project's modules and of the
folders that hold them and the installed packages (a new module, a `pip install`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CodeSnapshot"]


def _stamp(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


@dataclass(frozen=True)
class CodeSnapshot:
    stamps: dict[str, int | None]

    @classmethod
    def capture(cls, project_root: Path, search_path: list[str] | None = None) -> CodeSnapshot:
        """The project's imported modules and their folders, plus every import folder but the first
        (``sys.path[0]`` is the working directory: files created there are not code)."""
        root = str(project_root.resolve()) + os.sep
        paths: set[str] = set()
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and file.startswith(root):
                paths.update((file, os.path.dirname(file)))
        paths.update(p for p in (search_path if search_path is not None else sys.path)[1:] if os.path.isdir(p))
        return cls({path: _stamp(path) for path in sorted(paths)})

    def changed(self) -> str | None:
        """The first file or folder that changed (or appeared or vanished), else None."""
        return next((path for path, stamp in self.stamps.items() if _stamp(path) != stamp), None)
