"""Fixtures for end-to-end tests of the runtime and the commands: one scripted HTTP server per session and a per-test
runtime (state folder, config folder, environment) pointed at the session's real Prefect server (a pytest plugin
loaded by tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.e2e_support import Runtime, ScriptedServer
from tests.prefect_support import using_api


@pytest.fixture(scope="session")
def http_server() -> Iterator[ScriptedServer]:
    """A real HTTP server on 127.0.0.1 (random port) shared by the session; tests use unique paths."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cli_prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PREFECT_HOME for CLI subprocesses, so they never touch the user's ~/.prefect."""
    return tmp_path_factory.mktemp("cli-prefect-home")


@pytest.fixture
def runtime(
    prefect_server: str,
    http_server: ScriptedServer,
    cli_prefect_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """This test's state and config folders, in the environment of this process and of CLI subprocesses.

    Prefect reads its settings when it is imported, so the API URL is set for in-process runs with
    ``using_api`` (Prefect's ``temporary_settings``) as well as in the environment (for subprocesses).
    """
    from compiler.language.settings import get_settings
    from flows.engine import definitions

    rt = Runtime(api_url=prefect_server, root=tmp_path, prefect_home=cli_prefect_home, server=http_server)
    rt.automations_dir.mkdir(parents=True)
    rt.chains_dir.mkdir(parents=True)
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    monkeypatch.setenv("AUTOMATIONS_STATE_DIR", str(rt.state_dir))
    monkeypatch.setenv("AUTOMATIONS_CONFIG_DIR", str(rt.config_dir))
    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    definitions.catalog.cache_clear()
    try:
        with using_api(prefect_server):  # also sends queued logs/events before the server stops
            yield rt
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        definitions.catalog.cache_clear()


@pytest.fixture
def tag() -> str:
    """A path segment unique to this test, so requests to the shared server never mix between tests."""
    return uuid.uuid4().hex[:12]
