"""Idempotency end to end: the same occurrence never repeats a completed action, also after ``kill -9``.

Runs go through ``python -m compiler run`` in subprocesses (as an operator or a trigger would start them)
against the session's Prefect server; the HTTP server on 127.0.0.1 counts what really got sent.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from flows.exactly_once.locks import FileLockManager
from tests.flows.e2e_support import CliResult, Runtime


def _two_calls(runtime: Runtime, name: str, first: str, second: str, second_timeout: float = 30) -> str:
    return runtime.write_automation(
        f"""
        name: {name}
        trigger:
          type: event
          event:
            event_type: custom
            custom_type: probe
        actions:
          - type: http_request
            name: first_call
            parameters:
              url: "{runtime.server.url}{first}"
          - type: http_request
            name: second_call
            parameters:
              url: "{runtime.server.url}{second}"
            timeout_seconds: {second_timeout}
        """
    )


def _statuses(result: CliResult) -> dict[str, str]:
    assert result.returncode == 0, result.output
    return {action["name"]: action["status"] for action in result.json()["actions"]}


def _occurrence_args(runtime: Runtime, style: str, occurrence: str) -> list[str]:
    if style == "idempotency key":
        return ["--idempotency-key", occurrence]
    event = {"event_type": "custom", "custom_type": "probe", "id": occurrence, "payload": {"n": 1}}
    return ["--event", str(runtime.write_json(f"event-{occurrence}.json", event))]


@pytest.mark.parametrize("style", ["idempotency key", "event id"])
def test_same_occurrence_sends_nothing_new_and_a_new_occurrence_sends_again(
    runtime: Runtime, tag: str, style: str
) -> None:
    first, second = f"/script/200/{tag}/first", f"/script/200/{tag}/second"
    name = _two_calls(runtime, "once_per_occurrence", first, second)

    def run(occurrence: str) -> dict[str, str]:
        return _statuses(runtime.cli("run", name, *_occurrence_args(runtime, style, occurrence), "--json"))

    original = run(f"{tag}-a")
    counts_after_original = (len(runtime.server.requests(first)), len(runtime.server.requests(second)))
    repeated = run(f"{tag}-a")
    counts_after_repeat = (len(runtime.server.requests(first)), len(runtime.server.requests(second)))
    new = run(f"{tag}-b")

    assert original == {"first_call": "Completed", "second_call": "Completed"}
    assert counts_after_original == (1, 1)
    assert repeated == {"first_call": "Cached", "second_call": "Cached"}
    assert counts_after_repeat == (1, 1)  # zero new requests for the same occurrence
    assert new == {"first_call": "Completed", "second_call": "Completed"}
    assert (len(runtime.server.requests(first)), len(runtime.server.requests(second))) == (2, 2)


def test_killed_run_rerun_executes_only_the_remaining_actions(runtime: Runtime, tag: str) -> None:
    first = f"/script/200/{tag}/first"
    slow = f"/script/s30-200/{tag}/slow"  # the first request hangs; the re-run's answers at once
    name = _two_calls(runtime, "resumable", first, slow, second_timeout=60)
    key = f"kill-{tag}"

    proc = runtime.popen("run", name, "--idempotency-key", key)
    try:
        runtime.server.wait_for(slow, 1, timeout=60)  # action 2 is in flight
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    locks = runtime.state_dir / "results" / "locks"
    left = list(locks.glob("*.lock"))
    held = [json.loads(p.read_text()) for p in left]
    still_locked = [FileLockManager(locks).is_locked(p.stem) for p in left]

    rerun = runtime.cli("run", name, "--idempotency-key", key, "--json")

    assert proc.returncode == -signal.SIGKILL
    assert [owner["pid"] for owner in held] == [proc.pid]  # the killed run left action 2's lock behind
    assert _statuses(rerun) == {"first_call": "Cached", "second_call": "Completed"}
    assert len(runtime.server.requests(first)) == 1  # action 1 was not sent again
    assert len(runtime.server.requests(slow)) == 2  # action 2 ran again
    # The dead holder's lock file is left behind, but the kernel released its lock with the process: the
    # re-run never waits for it.
    assert still_locked == [False]
    assert list(locks.glob("*.lock")) == []


def test_rerun_of_a_completed_occurrence_leaves_no_lock_files(runtime: Runtime, tag: str) -> None:
    name = _two_calls(runtime, "tidy", f"/script/200/{tag}/a", f"/script/200/{tag}/b")
    statuses = _statuses(runtime.cli("run", name, "--idempotency-key", tag, "--json"))
    locks: Path = runtime.state_dir / "results" / "locks"

    assert statuses == {"first_call": "Completed", "second_call": "Completed"}
    assert sorted(p.suffix for p in locks.glob("*")) == []


def test_concurrent_runs_of_one_occurrence_execute_once_and_none_fails(runtime: Runtime, tag: str) -> None:
    """Issue 8 #3: a run that met a half-written lock file used to end Failed instead of Cached."""
    import asyncio

    from flows.engine.flow_factory import build_flow

    slow = f"/script/s1-200/{tag}/slow"
    name = _two_calls(runtime, "crowded", f"/script/200/{tag}/first", slow)
    flow = build_flow(runtime.loaded(name))

    async def crowd() -> list[Any]:
        return list(await asyncio.gather(*(flow(return_state=True, idempotency_key=tag) for _ in range(8))))

    states = asyncio.run(crowd())

    assert [s.type.value for s in states] == ["COMPLETED"] * 8, [s.message for s in states]
    assert len(runtime.server.requests(f"/script/200/{tag}/first")) == 1
    assert len(runtime.server.requests(slow)) == 1


@pytest.mark.parametrize("content", [b"", b"{not json", b"\x00\xff"], ids=["empty", "truncated", "binary"])
def test_a_garbage_lock_file_neither_fails_nor_blocks_the_run(runtime: Runtime, tag: str, content: bytes) -> None:
    from flows.exactly_once.locks import FileLockManager

    name = _two_calls(runtime, "garbage_lock", f"/script/200/{tag}/a", f"/script/200/{tag}/b")
    locks = FileLockManager(runtime.state_dir / "results" / "locks")
    locks.directory.mkdir(parents=True)
    loaded = runtime.loaded(name)
    # Plant garbage under every key this occurrence's actions will use.
    from flows.exactly_once.idempotency import action_key

    for action in loaded.automation.actions:
        key = action_key(name, action.name, action.type, action.parameters.model_dump(mode="json", by_alias=True, exclude_none=True), f"key:{tag}")
        locks.path_for(key).write_bytes(content)

    state = runtime.run(name, idempotency_key=tag)

    assert state.is_completed(), state.message
    assert len(runtime.server.requests(f"/script/200/{tag}/a")) == 1
    assert list(locks.directory.glob("*.lock")) == []  # the planted files were the ones locked, and released
