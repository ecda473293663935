"""Cluster test fixtures: PostgreSQL, Redis and HAProxy installed on demand (CI), a scripted HTTP server per module.

The cluster itself (``tests.cluster.harness.Cluster``) is started once per test module by that module's own
``cluster`` fixture, because the automations it deploys name the module's HTTP server.

On a machine without the Debian packages the tests install them with the project's install step
(``.ci/install-services``, apt-get as root) when ``CI`` is true or ``AUTOMATIONS_TEST_INSTALL=1``; otherwise
they are skipped with the command to run. In CI a failed install fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.harness import INSTALL_SCRIPT, ClusterError, install_services, missing_services
from tests.flows.e2e_support import ScriptedServer

__all__ = ["cluster_http", "cluster_services"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts PostgreSQL, Redis, Prefect servers (and HAProxy) and workers (deselect with -m 'not cluster')"
    )


@pytest.fixture(scope="session")
def cluster_services() -> None:
    """PostgreSQL, redis-server and haproxy are installed (installed here in CI), or the test is skipped."""
    in_ci = _flag("CI")
    missing = missing_services()
    if missing and (in_ci or _flag("AUTOMATIONS_TEST_INSTALL")):
        try:
            install_services()
        except ClusterError as exc:
            pytest.fail(str(exc))
        missing = missing_services()
    if missing:
        message = f"{', '.join(missing)} not installed: run `sudo {INSTALL_SCRIPT}` (or set AUTOMATIONS_TEST_INSTALL=1 as root)"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def cluster_http() -> Iterator[ScriptedServer]:
    """A real HTTP server on 127.0.0.1 whose request log is the side effect the tests count."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()
