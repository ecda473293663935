"""P10: what an idempotency lock costs per action, by backend: this machine's files, Redis, PostgreSQL.

Measures one uncontended acquire + release (what every action with idempotency pays) with the project's
lock managers (``flows.exactly_once.locks``): ``FileLockManager`` and Prefect's ``RedisLockManager`` (through
``AUTOMATIONS_LOCK_URL=redis://…``), and, for the choice of distributed backend, the cheapest PostgreSQL
design: a session advisory lock (``pg_try_advisory_lock`` / ``pg_advisory_unlock``) on an already open
asyncpg connection. Prints the medians and the ratio Redis / PostgreSQL; the goal is a distributed lock
that costs ≤ 5 ms per action (a Prefect task costs ~3.5–5 ms on its own here).

Run from the project root: ``python benchmarks/p10_locks.py`` (as root it starts PostgreSQL and Redis
from the Debian packages, installed by ``.ci/install-services``).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from _common import median, result_line, say

from flows.exactly_once.locks import lock_manager
from tests.cluster.harness import start_postgres, start_redis

ROUNDS = 500
GOAL_MS = 5.0


def _sync_rounds(manager: object) -> list[float]:
    timings = []
    for _ in range(ROUNDS):
        key = f"bench-{uuid.uuid4().hex}"
        started = time.perf_counter()
        manager.acquire_lock(key, "bench")  # type: ignore[attr-defined]
        manager.release_lock(key, "bench")  # type: ignore[attr-defined]
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _postgres_rounds(dsn: str) -> list[float]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    timings = []
    try:
        for n in range(ROUNDS):
            started = time.perf_counter()
            assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", n)
            await connection.fetchval("SELECT pg_advisory_unlock($1)", n)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return timings


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="p10-"))
    postgres = start_postgres(work)
    redis = start_redis(work / "redis")
    try:
        say("file locks…")
        file_ms = median(_sync_rounds(lock_manager(None, work / "locks", 60)))
        say("redis locks…")
        redis_ms = median(_sync_rounds(lock_manager(redis.url, work, 60)))
        say("postgres advisory locks…")
        dsn = postgres.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://")
        postgres_ms = median(asyncio.run(_postgres_rounds(dsn)))
    finally:
        redis.stop()
        postgres.stop()
    print(f"file {file_ms:.3f} ms, redis {redis_ms:.3f} ms, postgres advisory {postgres_ms:.3f} ms per acquire+release (median of {ROUNDS})")
    result_line(
        "P10",
        "distributed idempotency lock per action (Redis, acquire + release)",
        f"{redis_ms:.2f} ms; {redis_ms / postgres_ms:.2f}x a PostgreSQL advisory lock, {redis_ms / file_ms:.1f}x a file lock",
        f"<= {GOAL_MS:g} ms",
        redis_ms <= GOAL_MS,
    )


if __name__ == "__main__":
    main()
