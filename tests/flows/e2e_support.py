"""Real parts for the runtime's end-to-end tests: a scripted local HTTP server, automation files on disk,
in-process flow runs against the session's Prefect server, and the ``python -m compiler`` CLI as a subprocess.

Nothing here replaces Prefect or project code: the server is a real socket on 127.0.0.1 and every run is a
real Prefect flow run recorded by the session's ``prefect server start``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["CliResult", "Recorded", "Runtime", "ScriptedServer"]

CLI_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (header names lower-cased); ``at``: server wall clock on arrival."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, list[str]]
    at: float

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class ScriptedServer:
    """A threaded HTTP server whose answers are scripted by the request path.

    ``/script/<step>-<step>-…/<tag>``: the n-th request to that exact path performs step n (the last step
    repeats). A step is a status code (``503``) or ``s<seconds>`` (sleep, then 200). ``/echo/<tag>`` answers
    200 with the request (method, headers, body, query) as JSON. ``/headers/<tag>?Name=value`` answers 200 with
    each query parameter as a response header. Anything else answers 200 ``{"ok": true}``.
    Every request is recorded before it is answered; tests use a unique ``<tag>`` per test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Recorded] = []
        self._counts: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = Recorded(split.path, self.command, headers, body, parse_qs(split.query), time.time())
                with outer._lock:
                    index = outer._counts.get(split.path, 0)
                    outer._counts[split.path] = index + 1
                    outer._records.append(record)
                status, payload = outer._answer(split.path, index, record)
                data = json.dumps(payload).encode()
                extra = record.query if split.path.startswith("/headers/") else {}
                try:
                    self.send_response(status)
                    for name, values in extra.items():
                        for value in values:
                            self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout, killed process)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True  # a sleeping handler never holds up the end of the session
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-http", daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @staticmethod
    def _answer(path: str, index: int, record: Recorded) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] == "script" and len(parts) >= 2:
            steps = parts[1].split("-")
            step = steps[min(index, len(steps) - 1)]
            if step.startswith("s"):
                time.sleep(float(step[1:]))
                return 200, {"slept": float(step[1:]), "n": index}
            return int(step), {"n": index}
        if parts[0] == "echo":
            return 200, {"method": record.method, "headers": record.headers, "body": record.text(), "query": record.query}
        return 200, {"ok": True, "n": index}

    def requests(self, path: str) -> list[Recorded]:
        """Requests whose path is ``path`` or starts with ``path/``, in arrival order."""
        with self._lock:
            return [r for r in self._records if r.path == path or r.path.startswith(path.rstrip("/") + "/")]

    def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.requests(path)
            if len(seen) >= count:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"server saw {len(self.requests(path))} request(s) to {path} within {timeout}s, wanted {count}")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Runtime:
    """One test's state folder, config folder and Prefect API; runs automations in-process or via the CLI."""

    api_url: str
    root: Path
    prefect_home: Path
    server: ScriptedServer
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_dir(self) -> Path:
        return self.root / "configs"

    @property
    def automations_dir(self) -> Path:
        return self.config_dir / "automations"

    @property
    def chains_dir(self) -> Path:
        return self.config_dir / "chains"

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / "artifacts"

    def write_automation(self, text: str) -> str:
        """Write one automation YAML (dedented) named after its ``name:``; returns the name."""
        body = textwrap.dedent(text).strip() + "\n"
        name = next(line.split(":", 1)[1].strip() for line in body.splitlines() if line.startswith("name:"))
        (self.automations_dir / f"{name}.yaml").write_text(body, encoding="utf-8")
        return name

    def write_call_then_note(self, name: str, tag: str, extra: str = "") -> str:
        """An event automation: ``call`` (an http_request to ``/script/200/<tag>/call`` on the test server,
        ``extra`` added to its fields), then ``note`` (a log_message of the call's status); returns the name."""
        return self.write_automation(
            f"""
            name: {name}
            trigger:
              type: event
              event: {{event_type: custom, custom_type: probe}}
            actions:
              - type: http_request
                name: call
                parameters: {{url: "{self.server.url}/script/200/{tag}/call"}}
                {extra}
              - type: log_message
                name: note
                parameters: {{message: "called: {{outputs.call.status_code}}"}}
            """
        )

    def write_json(self, name: str, data: Any) -> Path:
        path = self.root / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ in-process runs

    def loaded(self, name: str) -> Any:
        from compiler.language.catalog import load_catalog

        catalog = load_catalog(self.automations_dir)
        assert not catalog.errors, "\n".join(str(d) for d in catalog.errors)
        return catalog.get(name)

    def run(self, name: str, **parameters: Any) -> Any:
        """Run the automation's flow in this process; returns the final flow-run State."""
        from flows.engine.flow_factory import build_flow

        flow = build_flow(self.loaded(name))
        return asyncio.run(flow(return_state=True, **parameters))

    def history(self, state: Any) -> Any:
        from flows.prefect_api.history import read_run

        return asyncio.run(read_run(state.state_details.flow_run_id))

    def actions(self, state: Any) -> dict[str, Any]:
        """Per-action task runs (name → ActionHistory) read back from the Prefect API."""
        return {a.name: a for a in self.history(state).actions}

    # ------------------------------------------------------------------ subprocess runs

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_API_URL": self.api_url,
                "PREFECT_HOME": str(self.prefect_home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "AUTOMATIONS_STATE_DIR": str(self.state_dir),
                "AUTOMATIONS_CONFIG_DIR": str(self.config_dir),
                "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",
                "NO_COLOR": "1",
                "COLUMNS": "200",
            }
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def cli_command(self, *args: str, config_dir: Path | None = None) -> list[str]:
        folder = config_dir or self.automations_dir
        return [sys.executable, "-m", "compiler", "--config-dir", str(folder), *args]

    def cli(self, *args: str, env: Mapping[str, str] | None = None, config_dir: Path | None = None,
            timeout: float = CLI_TIMEOUT_SECONDS) -> CliResult:
        """``python -m compiler --config-dir <automations> ARGS`` in a subprocess (cwd: the test folder)."""
        completed = subprocess.run(
            self.cli_command(*args, config_dir=config_dir),
            cwd=self.root,
            env=dict(env) if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.cli_command(*args),
            cwd=self.root,
            env=dict(env) if env is not None else self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
