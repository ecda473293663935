"""The project root, found as git finds its repository: the nearest folder up from here holding the project."""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

__all__ = ["PROJECT_NAME", "beside", "find_project_root", "project_path", "shown_path"]

PROJECT_NAME = "platform-god-automations"


def _is_root(folder: Path) -> bool:
    if (folder / "configs" / "automations").is_dir():
        return True
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(data.get("project", {}).get("name") == PROJECT_NAME)


@lru_cache(maxsize=8)
def _root_from(start: str) -> Path:
    here = Path(start)
    for folder in (here, *here.parents):
        if _is_root(folder):
            return folder
    return here


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that holds
    ``configs/automations/`` or this project's ``pyproject.toml``; the start folder itself when none does.

    Every default path (configs, ``var/automations``, the local server under ``var/prefect``) hangs off
    this folder, so ``run`` from a subfolder uses the same server and state as from the root.
    """
    return _root_from(str((start or Path.cwd()).resolve()))


def project_path(relative: str) -> Path:
    """``relative`` under the project root, absolute."""
    return find_project_root() / relative


def shown_path(path: Path) -> Path:
    """``path`` as a person would type it from here: relative to the working directory when inside it or near."""
    try:
        relative = Path(os.path.relpath(path))
    except ValueError:  # another drive (Windows)
        return path
    return relative if len(relative.parts) <= len(path.parts) else path


def beside(folder: Path, name: str) -> Path:
    """``name`` next to ``folder`` (``configs/tests`` beside ``configs/automations``), also when ``folder`` is
    ``.`` or ends in ``..`` (run from inside it), where ``folder.parent`` would be ``folder`` itself."""
    if folder.name in ("", ".."):
        return shown_path(folder.resolve().parent / name)
    return folder.parent / name
