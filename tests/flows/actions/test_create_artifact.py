"""create_artifact end to end: the local default, a shared folder, an fsspec URL and a Prefect storage block.

Each run is a real flow run against the session's Prefect server; artifacts are read back from where the
action says it wrote them, and from the registry row it made.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from compiler.language.settings import get_settings
from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime

_ACTION = """
- type: create_artifact
  name: save
  parameters:
    artifact_type: report
    filename: "reports/{tag}.json"
    content: {service: billing}
    register_in_registry: true
"""


def _registered(runtime: Runtime) -> list[str]:
    with sqlite3.connect(runtime.state_dir / "registry" / "registry.db") as db:
        return [row[0] for row in db.execute("SELECT path FROM artifacts")]


def _run(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch, storage: str | None, filename: str | None = None) -> tuple[Any, Any]:
    if storage is not None:
        monkeypatch.setenv("AUTOMATIONS_ARTIFACT_STORAGE", storage)
    get_settings.cache_clear()
    action = _ACTION.replace("{tag}", tag) if filename is None else _ACTION.replace("reports/{tag}.json", filename)
    runtime.write_automation(automation("artifact_writer", action))
    state = runtime.run("artifact_writer")
    return state, runtime.actions(state)["save"]


def test_default_writes_under_the_state_folder_and_registers_the_absolute_path(
    runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = _run(runtime, tag, monkeypatch, None)
    expected = (runtime.artifacts_dir / "reports" / f"{tag}.json").resolve()

    assert state.is_completed(), state.message
    assert json.loads(expected.read_text()) == {"service": "billing"}
    assert _registered(runtime) == [str(expected)]


def test_a_file_url_writes_to_that_shared_folder(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared = tmp_path / "shared-artifacts"
    state, _ = _run(runtime, tag, monkeypatch, f"file://{shared}")
    expected = (shared / "reports" / f"{tag}.json").resolve()

    assert state.is_completed(), state.message
    assert json.loads(expected.read_text()) == {"service": "billing"}
    assert _registered(runtime) == [str(expected)]
    assert not runtime.artifacts_dir.exists()  # nothing on the worker's own disk


def test_an_fsspec_url_writes_through_prefects_remote_file_system(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    state, _ = _run(runtime, tag, monkeypatch, f"memory://artifacts-{tag}")
    location = f"memory://artifacts-{tag}/reports/{tag}.json"

    assert state.is_completed(), state.message
    assert _registered(runtime) == [location]
    with fsspec.open(location, "rb") as handle:
        assert json.loads(handle.read()) == {"service": "billing"}


def test_a_storage_block_slug_writes_through_the_saved_block(
    runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.filesystems import LocalFileSystem

    folder = tmp_path / "block-artifacts"
    LocalFileSystem(basepath=str(folder)).save(f"artifacts-{tag}", overwrite=True)
    state, _ = _run(runtime, tag, monkeypatch, f"local-file-system/artifacts-{tag}")

    assert state.is_completed(), state.message
    assert json.loads((folder / "reports" / f"{tag}.json").read_text()) == {"service": "billing"}
    assert _registered(runtime) == [str((folder / "reports" / f"{tag}.json").resolve())]


@pytest.mark.parametrize("storage", [None, "memory://escape"], ids=["local", "fsspec"])
def test_a_rendered_name_leaving_the_storage_fails_the_action(
    runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch, storage: str | None
) -> None:
    runtime.write_automation(
        automation(
            "artifact_escape",
            """
            - type: create_artifact
              name: save
              parameters: {artifact_type: report, filename: "{target}", content: x}
            """,
        )
    )
    if storage is not None:
        monkeypatch.setenv("AUTOMATIONS_ARTIFACT_STORAGE", storage)
    get_settings.cache_clear()
    state = runtime.run("artifact_escape", target="../outside.json")
    action = runtime.actions(state)["save"]

    assert state.is_failed()
    assert "must be a relative path inside the artifacts folder" in action.message


def test_a_missing_block_fails_with_its_name(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    state, action = _run(runtime, tag, monkeypatch, f"remote-file-system/missing-{tag}")

    assert state.is_failed()
    assert f"storage block 'remote-file-system/missing-{tag}' cannot be loaded" in action.message
