"""Starting the embedded local server is race-free: two first runs at the same moment share one server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flows.local_server.process_records import pid_alive
from flows.local_server.server import LocalServer, StartingServer, begin_local_server, stop_local_server
from tests import ROOT

# What `run` does on first use (begin, then wait), with a patient timeout: a fresh database migrates first and
# this machine may be busy.
SCRIPT = (
    "import json, sys; from pathlib import Path; from flows.local_server.server import StartingServer, begin_local_server; "
    "s = begin_local_server(Path(sys.argv[1])); s = s.wait(280) if isinstance(s, StartingServer) else s; "
    "print(json.dumps({'pid': s.pid, 'port': s.port}))"
)


def test_two_first_starts_at_once_share_one_server(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PREFECT_API_URL", None)
    starters = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=tmp_path)
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300) for p in starters]
        servers = [json.loads(out) for out, _ in outputs]
        assert [p.returncode for p in starters] == [0, 0], [err[-2000:] for _, err in outputs]
        assert servers[0] == servers[1]
        assert json.loads((home / "server.json").read_text())["pid"] == servers[0]["pid"]
    finally:
        for p in starters:
            if p.poll() is None:
                p.kill()
        stopped = stop_local_server(home)
    assert stopped is not None and not pid_alive(stopped.pid)


def test_a_recorded_server_that_is_still_starting_is_waited_for_not_started_again(tmp_path: Path) -> None:
    # A live process recorded as the server (this test process: alive, but not answering HTTP yet).
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "server.json").write_text(json.dumps({"pid": os.getpid(), "port": 9, "home": str(home)}))
    starting = begin_local_server(home)
    assert isinstance(starting, StartingServer) and starting.proc is None
    assert starting.server == LocalServer(os.getpid(), 9, str(home.resolve()))

