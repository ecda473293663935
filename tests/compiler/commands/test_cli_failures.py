"""Every command fails in one line in our words, whatever raised (compiler.commands.cli_failures): the Prefect API down or
not a Prefect API, our own errors, anything unexpected (its traceback saved); a closed stdout ends quietly."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from compiler.commands.cli_failures import api_failure, describe_failure
from compiler.commands.output import CLOSED_PIPE_EXIT
from flows.engine.admission import CooldownUnavailable
from flows.local_server.server import LocalServerError
from tests.compiler.support import ROOT, make_config_dir

AUTOMATION = (
    "name: nightly\ntrigger: {type: time, time: {cron_expression: '0 2 * * *'}, cooldown_seconds: 600}\n"
    "actions:\n  - {type: log_message, name: say, parameters: {message: hi}}\n"
)
CASES = "automation: nightly\ncases:\n  - name: fires\n    at: '2026-01-01T02:00:00Z'\n    expect: {fires: true}\n"
ADVICE = "check that the server runs and that PREFECT_API_URL points at it"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the with block ends


CLOSED = _closed_port()
CLOSED_API = f"http://127.0.0.1:{CLOSED}/api"
DOWN = f"cannot reach the Prefect API at {CLOSED_API}: connection refused by 127.0.0.1:{CLOSED}; {ADVICE}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root: one automation with a cooldown, its case test, and flows/ (deploy runs `prefect deploy` there)."""
    root = tmp_path_factory.mktemp("cli-failures") / "proj"
    automations = make_config_dir(root / "configs")
    (automations / "nightly.yaml").write_text(AUTOMATION, encoding="utf-8")
    (root / "configs" / "tests").mkdir()
    (root / "configs" / "tests" / "nightly.yaml").write_text(CASES, encoding="utf-8")
    (root / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    return root


def cli(project: Path, *args: str, api_url: str | None = CLOSED_API, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOMATIONS_", "PREFECT_"))}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(project / "prefect-home"), AUTOMATIONS_WARM_RUNS="false")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=project, env=env, text=True, timeout=180,
                          stdout=stdout, stderr=subprocess.PIPE, check=False)


def into_closed_pipe(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m compiler ARGS | head`` once head has left: the reading end is closed before the first line."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return cli(project, *args, api_url=None, stdout=write_end)
    finally:
        os.close(write_end)


# --- every command that talks to Prefect, with the API down ----------------------------------------------

@dataclass(frozen=True)
class Down:
    args: tuple[str, ...]
    said_by: str  # the command named in the line (deploy --plan is the plan)


API_COMMANDS = [
    Down(("run", "nightly"), "run"),
    Down(("runs",), "runs"),
    Down(("plan",), "plan"),
    Down(("deploy",), "deploy"),
    Down(("deploy", "--plan"), "plan"),
    Down(("serve",), "serve"),
]


@pytest.mark.parametrize("case", API_COMMANDS, ids=[" ".join(c.args) for c in API_COMMANDS])
def test_with_the_api_down_a_command_fails_in_one_line(project: Path, case: Down) -> None:
    result = cli(project, *case.args)
    assert (result.returncode, result.stderr) == (1, f"{case.said_by} failed: {DOWN}\n"), result.stdout
    assert "Traceback" not in result.stdout


def test_dry_run_says_the_cooldown_was_not_checked_and_why(project: Path) -> None:
    result = cli(project, "dry-run", "nightly")
    assert (result.returncode, result.stderr) == (0, "")
    assert f"  - cooldown 600s (not checked: {DOWN})\n" in result.stdout


# --- what the line says, for each kind of failure (real exceptions, in this process) ---------------------

class _NotFound(http.server.BaseHTTPRequestHandler):
    """404 for every path but ``/api/invalid``, which answers 422 with a JSON detail as Prefect's API does."""

    def do_GET(self) -> None:  # the standard library's name
        if self.path != "/api/invalid":
            self.send_error(404)
            return
        body = b'{"detail": "name: field required"}'
        self.send_response(422)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    """A local HTTP server that is not a Prefect API: every path answers 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001 - the exception is the test's subject
        return exc
    raise AssertionError("nothing raised")


def _wrapped_by_prefect(exc: BaseException, api: str) -> BaseException:
    """Prefect's version check wraps what it met as ``RuntimeError("Failed to reach API at …")``."""
    def check() -> None:
        raise RuntimeError(f"Failed to reach API at {api}/") from exc

    return _raised(check)


def test_an_unreachable_api_is_said_by_its_cause() -> None:
    refused = _raised(lambda: httpx.get(f"{CLOSED_API}/health"))
    assert api_failure(refused, CLOSED_API) == DOWN
    assert api_failure(_wrapped_by_prefect(refused, CLOSED_API), CLOSED_API) == DOWN


def test_a_server_that_is_not_a_prefect_api_is_said_so(web_server: str) -> None:
    answered = _raised(lambda: httpx.get(f"{web_server}/admin/version").raise_for_status())
    assert api_failure(_wrapped_by_prefect(answered, web_server), web_server) == (
        f"the Prefect API at {web_server} answered 404 Not Found to GET /api/admin/version "
        f"(is {web_server} a Prefect API? {ADVICE})"
    )


def test_an_error_status_carries_the_apis_detail(web_server: str) -> None:
    answered = _raised(lambda: httpx.get(f"{web_server}/invalid").raise_for_status())
    assert api_failure(answered, web_server) == (
        f"the Prefect API at {web_server} answered 422 Unprocessable Entity to GET /api/invalid: name: field required"
    )


def test_another_url_is_named_as_itself() -> None:
    other = _closed_port()
    refused = _raised(lambda: httpx.get(f"http://127.0.0.1:{other}/metrics"))
    assert api_failure(refused, CLOSED_API) == (
        f"cannot reach http://127.0.0.1:{other}/metrics: connection refused by 127.0.0.1:{other}; {ADVICE}"
    )


@pytest.mark.parametrize("exc", [ValueError("bad"), KeyError("x"), OSError(28, "No space left on device")])
def test_other_failures_are_not_api_failures(exc: Exception) -> None:
    assert api_failure(exc, CLOSED_API) is None


OWN_ERRORS = [
    CooldownUnavailable("cooldown limit not reachable"),
    LocalServerError("local Prefect server exited with code 3; see var/prefect/server.log"),
]


@pytest.mark.parametrize("exc", OWN_ERRORS, ids=[type(e).__name__ for e in OWN_ERRORS])
def test_our_own_error_is_its_message(exc: Exception) -> None:
    assert describe_failure(exc, "run") == f"run failed: {exc}"


def test_an_unexpected_error_keeps_its_traceback_in_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    line = describe_failure(_raised(lambda: {}["missing"]), "list")
    [saved] = tmp_path.glob("automations-list-*.log")
    assert line == f"list failed: KeyError: 'missing' (unexpected: please report it with the traceback saved in {saved})"
    assert "Traceback (most recent call last)" in saved.read_text() and "KeyError: 'missing'" in saved.read_text()


# --- output into a closed pipe (`… | head` after head has left) ------------------------------------------

CLOSED_PIPE_COMMANDS = [
    ("validate",), ("list",), ("show", "nightly"), ("export",), ("schema",), ("build", "--check"), ("test",),
    ("dry-run", "nightly"), ("validate", "--json"),
]


@pytest.mark.parametrize("args", CLOSED_PIPE_COMMANDS, ids=[" ".join(a) for a in CLOSED_PIPE_COMMANDS])
def test_output_into_a_closed_pipe_ends_quietly(project: Path, args: tuple[str, ...]) -> None:
    result = into_closed_pipe(project, *args)
    assert (result.returncode, result.stderr) == (CLOSED_PIPE_EXIT, "")


def test_help_into_a_closed_pipe_ends_quietly(project: Path) -> None:
    result = into_closed_pipe(project, "--help")
    assert result.returncode in (0, CLOSED_PIPE_EXIT) and result.stderr == ""
