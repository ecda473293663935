"""The README's "Python API" snippets run as shown: each is its own script, in a copy of the project,
against the session's real Prefect server, in the README's order (the audit trail reads the run the
basic-usage snippet made). Each must exit 0 by itself."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.conftest import prefect_env
from tests.platform_god.automations.support import section_python_blocks
from tests.prefect_support import ROOT, example_names, make_project, runs_of_deployment, using_api, without_server_state_of

SNIPPET_TIMEOUT_SECONDS = 600.0
TITLES = ["Basic Usage", "Event Publishing", "Audit Trail", "Graceful Shutdown"]


@dataclass(frozen=True)
class Ran:
    returncode: int
    output: str
    started_at: datetime


@pytest.fixture(scope="module")
def ran(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ran]]:
    # Other modules of the session serve or deploy the same examples on this server: a run their triggers
    # left waiting would be executed by these snippets' engine first and take the cooldown (issue 21, item 7).
    with without_server_state_of(prefect_server, example_names()):
        yield _run_snippets(prefect_server, tmp_path_factory)


def _run_snippets(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    base = tmp_path_factory.mktemp("readme-python")
    project = make_project(base)
    env = prefect_env(prefect_server, base / "prefect-home")
    env.update({"AUTOMATIONS_STATE_DIR": str(project / "var" / "automations"), "PYTHONUNBUFFERED": "1"})
    results: dict[str, Ran] = {}
    for title, code in section_python_blocks((ROOT / "README.md").read_text(encoding="utf-8"), "## Python API").items():
        script = project / f"{title.lower().replace(' ', '_')}.py"
        script.write_text(code, encoding="utf-8")
        started_at = datetime.now(UTC)
        done = subprocess.run(
            [sys.executable, script.name], cwd=project, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_SECONDS, check=False,
        )
        results[title] = Ran(done.returncode, done.stdout + done.stderr, started_at)
    return results


def test_the_readme_has_the_spec_snippets(ran: dict[str, Ran]) -> None:
    assert list(ran) == TITLES


@pytest.mark.parametrize("title", TITLES)
def test_snippet_runs_and_exits_by_itself(ran: dict[str, Ran], title: str) -> None:
    assert ran[title].returncode == 0, ran[title].output


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Basic Usage", "Loaded 4 automations"),
        ("Basic Usage", "Execution status: completed"),
        ("Audit Trail", "  - security_scan: completed"),
        ("Audit Trail", "  - notify_team: completed"),
    ],
)
def test_snippet_prints(ran: dict[str, Ran], title: str, expected: str) -> None:
    assert expected in ran[title].output.splitlines(), ran[title].output


def test_the_published_chain_event_ran_its_automation(ran: dict[str, Ran], prefect_server: str) -> None:
    published = ran["Event Publishing"]
    with using_api(prefect_server):
        runs = asyncio.run(runs_of_deployment("chain_completion_notification/chain_completion_notification"))
    ours = [r for r in runs if r.created >= published.started_at and r.created <= ran["Audit Trail"].started_at]
    assert [(r.state.type.value, r.state.name) for r in ours if r.state] == [("COMPLETED", "Completed")], published.output
