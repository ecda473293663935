"""Idempotency end to end: the same occurrence never repeats a completed action, also after ``kill -9``.

Runs go through ``python -m compiler run`` in subprocesses (as an operator or a trigger would start them)
against the session's Prefect server; the HTTP server on 127.0.0.1 counts what really got sent.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

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
    held = [json.loads(p.read_text()) for p in locks.glob("*.owner")]

    started = time.monotonic()
    rerun = runtime.cli("run", name, "--idempotency-key", key, "--json")
    elapsed = time.monotonic() - started

    assert proc.returncode == -signal.SIGKILL
    assert [owner["pid"] for owner in held] == [proc.pid]  # the killed run left action 2's lock behind
    assert _statuses(rerun) == {"first_call": "Cached", "second_call": "Completed"}
    assert len(runtime.server.requests(first)) == 1  # action 1 was not sent again
    assert len(runtime.server.requests(slow)) == 2  # action 2 ran again
    # Not blocked by the dead holder's lock (it would otherwise be held for timeout + 60 s = 120 s).
    assert elapsed < 45, f"re-run took {elapsed:.1f}s"
    assert list(locks.glob("*.lock")) == []


def test_rerun_of_a_completed_occurrence_leaves_no_lock_files(runtime: Runtime, tag: str) -> None:
    name = _two_calls(runtime, "tidy", f"/script/200/{tag}/a", f"/script/200/{tag}/b")
    statuses = _statuses(runtime.cli("run", name, "--idempotency-key", tag, "--json"))
    locks: Path = runtime.state_dir / "results" / "locks"

    assert statuses == {"first_call": "Completed", "second_call": "Completed"}
    assert sorted(p.suffix for p in locks.glob("*")) == []
