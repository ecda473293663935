"""The interpreter hook the runtime module relies on still exists (Prefect's internals are in flows/prefect_api/seam.py)."""

from __future__ import annotations

import threading


def test_threading_exit_hook_exists() -> None:
    assert callable(getattr(threading, "_register_atexit", None)), (
        "threading._register_atexit is gone: platform_god/automations/_runtime.py needs another exit hook"
    )
