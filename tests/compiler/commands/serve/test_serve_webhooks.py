"""Webhooks under ``python -m compiler serve``: a real serve process with configs/webhooks/, real signed HTTP requests,
the session's real Prefect server, and a real HTTP server as the automation's first action.

A request's event id comes from its X-GitHub-Delivery header, and the action calls ``/hit/<name>/<event id>``, so
the HTTP server counts how often each delivery ran. "Runs once" is checked after a later sentinel delivery has run.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from flows.events.webhooks.auth import sign_github
from tests.compiler.support import make_config_dir
from tests.conftest import prefect_env
from tests.flows.e2e_support import ScriptedServer

START_TIMEOUT_SECONDS = 180.0
RUN_TIMEOUT_SECONDS = 90.0
SETTLE_SECONDS = 3.0  # after the sentinel ran: time a duplicate run would have had to show up
SECRET = "serve-webhook-secret-Qm4t"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    name: str
    http: ScriptedServer
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.lines)):
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n" + "\n".join(self.lines)
            assert time.monotonic() < deadline, f"serve did not print {text!r}:\n" + "\n".join(self.lines)
            time.sleep(0.1)

    def deliver(self, delivery: str, ref: str = "refs/heads/main") -> httpx.Response:
        body = json.dumps({"ref": ref, "repository": {"full_name": "acme/api"}}).encode()
        headers = {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": delivery,
                   "x-hub-signature-256": sign_github(SECRET, body)}
        return httpx.post(f"{self.url}/hooks/{self.name}", content=body, headers=headers, timeout=30)

    def hits(self, delivery: str) -> list[object]:
        return self.http.requests(f"/hit/{self.name}/{delivery}")


@pytest.fixture(scope="module")
def served(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """serve of a project with one webhook and the automation its event triggers; SIGTERM by PID at the end."""
    name = f"hook_{uuid.uuid4().hex[:10]}"
    root = tmp_path_factory.mktemp("serve-webhooks")
    automations = make_config_dir(root / "configs")
    http = ScriptedServer().start()
    (automations / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        trigger:
          type: event
          event: {{event_type: custom, custom_type: {name}.push}}
        actions:
          - type: http_request
            name: call
            parameters:
              url: "{http.url}/hit/{name}/{{event.id}}"
              method: POST
              json: {{ref: "{{event.payload.ref}}", repository: "{{event.payload.repository}}"}}
        """), encoding="utf-8")
    (root / "configs" / "webhooks").mkdir()
    (root / "configs" / "webhooks" / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        auth: {{type: github, secret: "{{secret:serve_webhook}}"}}
        event:
          event_type: custom
          custom_type: "{name}.{{headers.x-github-event}}"
          id_header: X-GitHub-Delivery
          payload: {{ref: "{{body.ref}}", repository: "{{body.repository.full_name}}"}}
        """), encoding="utf-8")
    port = free_port()
    env = prefect_env(prefect_server, root / "prefect-home")
    env.update({"AUTOMATIONS_CONFIG_DIR": str(root / "configs"), "AUTOMATIONS_STATE_DIR": str(root / "var" / "automations"),
                "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true", "AUTOMATIONS_SECRET_SERVE_WEBHOOK": SECRET, "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "--config-dir", str(automations), "serve", "--grace", "10", "--webhooks-port", str(port)],
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, restore_signals=True,
    )
    served = Served(proc, f"http://127.0.0.1:{port}", name, http)
    reader = threading.Thread(target=served.read, daemon=True)
    reader.start()
    stopped_by_sigterm = False
    try:
        served.wait_for_line("serving ", START_TIMEOUT_SECONDS)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
                stopped_by_sigterm = True
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        reader.join(timeout=5)
        http.stop()
    # A graceful stop with the receiver running in serve's thread exits 0 (uvicorn does not re-raise the signal there).
    assert not stopped_by_sigterm or proc.returncode == 0, f"serve exited {proc.returncode} after SIGTERM:\n" + "\n".join(served.lines)


def run_sentinel(served: Served) -> None:
    """A later delivery that must run: once it has, a duplicate of an earlier one would have run too."""
    sentinel = str(uuid.uuid4())
    assert served.deliver(sentinel).status_code == 202
    served.http.wait_for(f"/hit/{served.name}/{sentinel}", 1, timeout=RUN_TIMEOUT_SECONDS)
    time.sleep(SETTLE_SECONDS)


def test_serve_prints_where_the_receiver_listens(served: Served) -> None:
    assert any(f"webhooks: listening on {served.url}: {served.name} (POST /hooks/{served.name}, github)"
               in line for line in served.lines), "\n".join(served.lines)


def test_signed_request_runs_the_automation_once(served: Served) -> None:
    delivery = str(uuid.uuid4())
    response = served.deliver(delivery, ref="refs/heads/release")
    assert (response.status_code, response.json()["event_id"]) == (202, delivery)
    first = served.http.wait_for(f"/hit/{served.name}/{delivery}", 1, timeout=RUN_TIMEOUT_SECONDS)
    assert json.loads(first[0].body) == {"ref": "refs/heads/release", "repository": "acme/api"}
    run_sentinel(served)
    assert len(served.hits(delivery)) == 1


def test_the_same_delivery_twice_runs_once(served: Served) -> None:
    delivery = str(uuid.uuid4())
    answers = [served.deliver(delivery), served.deliver(delivery)]
    assert [(r.status_code, r.json()["event_id"]) for r in answers] == [(202, delivery), (202, delivery)]
    served.http.wait_for(f"/hit/{served.name}/{delivery}", 1, timeout=RUN_TIMEOUT_SECONDS)
    run_sentinel(served)
    assert len(served.hits(delivery)) == 1


def test_wrongly_signed_request_runs_nothing(served: Served) -> None:
    delivery = str(uuid.uuid4())
    body = b'{"ref": "refs/heads/main", "repository": {"full_name": "acme/api"}}'
    response = httpx.post(f"{served.url}/hooks/{served.name}", content=body, timeout=30, headers={
        "content-type": "application/json", "x-github-event": "push", "x-github-delivery": delivery,
        "x-hub-signature-256": sign_github("not-the-secret", body)})
    assert response.status_code == 401
    run_sentinel(served)
    assert served.hits(delivery) == []
