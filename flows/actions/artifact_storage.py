"""Where ``create_artifact`` writes: this machine's artifacts folder, or storage every worker and user can read.

``AUTOMATIONS_ARTIFACT_STORAGE`` selects it:

- unset: ``STATE_DIR/artifacts`` on the machine that ran the action (one machine: ``serve``, ``run``);
- ``file:///mnt/shared/artifacts``: a folder (typically a network mount) at the same path on every worker;
- any other fsspec URL (``s3://bucket/prefix``, ``gcs://…``, ``memory://…``): Prefect's ``RemoteFileSystem``
  on that URL (the fsspec driver, e.g. ``s3fs``, must be installed on the workers);
- ``BLOCK_TYPE/BLOCK_NAME`` (``remote-file-system/shared-artifacts``, ``local-file-system/nfs``,
  ``s3-bucket/reports``): a saved Prefect storage block, so credentials stay in Prefect.

Every artifact is returned and registered with its *location* (an absolute path or a URL): the same
string on every machine when the storage is shared.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from compiler.language.model.actions.create_artifact import relative_artifact_path

__all__ = ["ArtifactStorageError", "StoredArtifact", "check_relative", "confine_artifact_path", "store_artifact"]


class ArtifactStorageError(ValueError):
    """The artifact storage setting or the file name cannot be used; the message says why."""


@dataclass(frozen=True)
class StoredArtifact:
    """A written artifact: ``location`` is what other machines use to read it, ``relative`` its name in the storage."""

    location: str
    relative: str


def check_relative(filename: str) -> PurePosixPath:
    """The name as a relative POSIX path; absolute paths, ``..``, NUL and backslashes are refused."""
    try:
        return relative_artifact_path(filename)
    except ValueError as exc:
        raise ArtifactStorageError(str(exc)) from None


def confine_artifact_path(root: Path, filename: str) -> Path:
    """``root/filename`` if it stays inside ``root`` once symlinks are resolved."""
    target = (root / check_relative(filename)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ArtifactStorageError(f"artifact filename '{filename}' leaves the artifacts folder")
    return target


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Temporary file in the same folder, then rename: readers never see a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the artifact from other users of a shared folder
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _store_in_folder(root: Path, filename: str, data: bytes) -> StoredArtifact:
    target = confine_artifact_path(root, filename)
    await asyncio.to_thread(_write_atomic, target, data)
    return StoredArtifact(str(target), target.relative_to(root.resolve()).as_posix())


async def _store_in_block(block: Any, filename: str, data: bytes) -> StoredArtifact:
    relative = check_relative(filename).as_posix()
    writer = getattr(block, "awrite_path", None)
    try:
        written = await writer(relative, data) if writer is not None else await asyncio.to_thread(block.write_path, relative, data)
    except ImportError as exc:  # fsspec names the driver to install (e.g. s3fs)
        raise ArtifactStorageError(f"artifact storage driver missing: {exc}") from None
    return StoredArtifact(str(written), relative)


def _remote(url: str) -> Any:
    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run load the action table without running actions
    from prefect.filesystems import RemoteFileSystem

    return RemoteFileSystem(basepath=url)


_BLOCKS: dict[str, Any] = {}


async def _block(slug: str) -> Any:
    """A saved storage block, loaded once per process (a worker's run is one process: one API call)."""
    if slug not in _BLOCKS:
        # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run load the action table without running actions
        from prefect.blocks.core import Block

        try:
            block = await Block.aload(slug)
        except ValueError as exc:
            raise ArtifactStorageError(f"AUTOMATIONS_ARTIFACT_STORAGE: storage block '{slug}' cannot be loaded: {exc}") from None
        if not (hasattr(block, "awrite_path") or hasattr(block, "write_path")):
            raise ArtifactStorageError(f"AUTOMATIONS_ARTIFACT_STORAGE: block '{slug}' is a {type(block).__name__}, not a writable storage block")
        _BLOCKS[slug] = block
    return _BLOCKS[slug]


async def store_artifact(storage: str | None, local_root: Path, filename: str, data: bytes) -> StoredArtifact:
    """Write ``data`` as ``filename`` in the configured storage (see the module docstring)."""
    if not storage:
        return await _store_in_folder(local_root, filename, data)
    if storage.startswith("file://"):
        return await _store_in_folder(Path(storage.removeprefix("file://")), filename, data)
    if "://" in storage:
        return await _store_in_block(_remote(storage), filename, data)
    return await _store_in_block(await _block(storage), filename, data)
