"""The shared result storage (``AUTOMATIONS_RESULT_STORAGE``): results and occurrence records land in the block,
which a process loads from the API once.

Real flow runs in this process against the session's Prefect server, a real LocalFileSystem block.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.e2e_support import Runtime


def _share(monkeypatch: pytest.MonkeyPatch, block_name: str, folder: Path) -> None:
    """Save (or overwrite) a LocalFileSystem block on ``folder`` and make it this process's shared storage."""
    from prefect.filesystems import LocalFileSystem

    from compiler.language.settings import get_settings

    folder.mkdir(parents=True, exist_ok=True)
    LocalFileSystem(basepath=str(folder)).save(block_name, overwrite=True)
    monkeypatch.setenv("AUTOMATIONS_RESULT_STORAGE", f"local-file-system/{block_name}")
    get_settings.cache_clear()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)).split("/")[0] for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_results_and_occurrence_records_land_in_the_shared_block(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = runtime.root / "shared"
    _share(monkeypatch, f"shared-{tag}", shared)
    state = runtime.run(runtime.write_call_then_note("shared_storage", tag), idempotency_key=tag)

    assert state.is_completed(), state.message
    stored = _files(shared)
    assert stored.count("occurrences") == 1 and len(stored) == 2, stored  # the call's result + the record (the note persists nothing)
    assert _files(runtime.state_dir / "results") == []


def test_a_process_keeps_the_shared_block_it_loaded_first(runtime: Runtime, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded once per process (not once per run and per task): a later edit of the block document is
    seen by the next process, not by this one."""
    first, edited = runtime.root / "first", runtime.root / "edited"
    block = f"kept-{tag}"
    _share(monkeypatch, block, first)
    name = runtime.write_call_then_note("kept_storage", tag)
    runtime.run(name, idempotency_key=f"{tag}-1")
    _share(monkeypatch, block, edited)
    runtime.run(name, idempotency_key=f"{tag}-2")

    assert (len(_files(first)), _files(edited)) == (4, [])
