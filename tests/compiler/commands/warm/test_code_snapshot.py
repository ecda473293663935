"""A warm runner notices changed code: an edited module, a new module beside it, an installed package."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.commands.warm.code_snapshot import CodeSnapshot


@pytest.fixture()
def imported_module(tmp_path: Path) -> Iterator[Path]:
    """A module under ``tmp_path`` (the project), imported as the runner imports the project's code."""
    package = tmp_path / "proj_pkg_for_snapshot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("X = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("proj_pkg_for_snapshot.mod")
        yield package
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("proj_pkg_for_snapshot")]:
            del sys.modules[name]


def _bump(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_unchanged_code_is_unchanged(tmp_path: Path, imported_module: Path) -> None:
    assert CodeSnapshot.capture(tmp_path, ["first", str(tmp_path / "site")]).changed() is None


def test_an_edited_module_is_a_change(tmp_path: Path, imported_module: Path) -> None:
    snapshot = CodeSnapshot.capture(tmp_path, [])
    _bump(imported_module / "mod.py")
    assert snapshot.changed() == str(imported_module / "mod.py")


def test_a_new_module_beside_an_imported_one_is_a_change(tmp_path: Path, imported_module: Path) -> None:
    snapshot = CodeSnapshot.capture(tmp_path, [])
    (imported_module / "new_action.py").write_text("")
    _bump(imported_module)  # the folder's time moves with the new file; forced, as both can share a clock tick
    assert snapshot.changed() == str(imported_module)


def test_an_install_into_an_import_folder_is_a_change(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    snapshot = CodeSnapshot.capture(tmp_path / "elsewhere", [str(tmp_path / "cwd"), str(site)])
    (site / "newpkg").mkdir()
    _bump(site)
    assert snapshot.changed() == str(site)


def test_the_first_import_folder_is_the_working_directory_not_code(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    snapshot = CodeSnapshot.capture(tmp_path / "elsewhere", [str(cwd)])
    (cwd / "report.json").write_text("{}")
    _bump(cwd)
    assert snapshot.changed() is None
