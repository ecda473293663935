"""P14: 1,000 condition automations checked every 60 s under `python -m compiler serve`: cost and reaction time.

A temporary project holds 1,000 condition automations (`check_interval_seconds: 60`, `gt 50` on a value of
their own) over seven metrics sources: 500 read the registry, 400 four JSON files (100 each), 100 two HTTP
URLs served here (50 each); each automation's action is an http_request to a recording HTTP server. Every
value is 1, so nothing fires. `python -m compiler serve` runs with no PREFECT_API_URL (its embedded SQLite
server). Measured:

- steady state: CPU seconds of the serve process AND of the embedded Prefect server over a window of
  WINDOW seconds (a whole number of intervals), after a settle time, as a share of one core; the flow runs
  the server holds before and after the window (nothing fires, so none may be added);
- condition true -> first action: one automation per source kind (file, registry, http) gets a value of 99
  at a random moment; the time until its action's request arrives, against one interval + 1 s.

    python benchmarks/p14_conditions.py
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _common import PROJECT_ROOT, PYTHON, RecordingServer, result_line, say, temp_dir

INTERVAL = 60
REGISTRY, FILES, PER_FILE, URLS, PER_URL = 500, 4, 100, 2, 50
COUNT = REGISTRY + FILES * PER_FILE + URLS * PER_URL
WINDOW = int(os.environ.get("P14_WINDOW", str(3 * INTERVAL)))
SETTLE = int(os.environ.get("P14_SETTLE", "45"))
GOAL_CORE_SHARE = 0.2
GOAL_REACTION = INTERVAL + 1.0
READY_TIMEOUT = 1200.0


class MetricsServer:
    """Answers GET /metrics/<j> with that document (JSON); documents can change at any time."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                data = json.dumps(outer.documents.get(self.path, {})).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def automation(name: str, key: str, source: str, hit_url: str) -> str:
    return f"""name: {name}
trigger:
  type: condition
  condition:
    metric_path: "$.metrics.{key}"
    operator: gt
    threshold: 50
    check_interval_seconds: {INTERVAL}
    source: {source}
  cooldown_seconds: 600
actions:
  - type: http_request
    name: alert
    parameters:
      url: "{hit_url}/hit/{name}"
      method: POST
"""


def document(keys: list[str], hot: str | None = None) -> dict[str, Any]:
    return {"metrics": {k: (99 if k == hot else 1) for k in keys}}


class Layout:
    """Which automation reads which key of which source."""

    def __init__(self, project: Path, metrics_url: str) -> None:
        self.project = project
        self.registry_keys = [f"r{i}" for i in range(REGISTRY)]
        self.files = {project / f"metrics-{j}.json": [f"f{j}_{i}" for i in range(PER_FILE)] for j in range(FILES)}
        self.urls = {f"/metrics/{j}": [f"h{j}_{i}" for i in range(PER_URL)] for j in range(URLS)}
        self.metrics_url = metrics_url

    def write(self, folder: Path, hit_url: str) -> None:
        folder.mkdir(parents=True)
        for key in self.registry_keys:
            (folder / f"c_{key}.yaml").write_text(automation(f"c_{key}", key, "{type: registry}", hit_url), encoding="utf-8")
        for path, keys in self.files.items():
            path.write_text(json.dumps(document(keys)), encoding="utf-8")
            for key in keys:
                (folder / f"c_{key}.yaml").write_text(automation(f"c_{key}", key, f'{{type: file, path: "{path}"}}', hit_url), encoding="utf-8")
        for route, keys in self.urls.items():
            for key in keys:
                source = f'{{type: http, url: "{self.metrics_url}{route}"}}'
                (folder / f"c_{key}.yaml").write_text(automation(f"c_{key}", key, source, hit_url), encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flow_runs(api_url: str) -> int:
    return int(httpx.post(f"{api_url}/flow_runs/count", json={}, timeout=60).json())


def put_registry_metrics(doc: dict[str, Any]) -> None:
    from flows.registry import RegistryStore

    RegistryStore.from_settings().put_metrics(doc, "p14")


def main() -> int:
    work = temp_dir("p14")
    project = work / "project"
    state = project / "var" / "automations"
    os.environ["AUTOMATIONS_STATE_DIR"] = str(state)  # this process writes the registry's metrics serve reads
    metrics = MetricsServer()
    serve: subprocess.Popen[bytes] | None = None
    try:
        with RecordingServer() as hits:
            layout = Layout(project, metrics.url)
            for route, keys in layout.urls.items():
                metrics.documents[route] = document(keys)
            layout.write(project / "configs" / "automations", hits.url)
            shutil.copytree(PROJECT_ROOT / "configs" / "chains", project / "configs" / "chains")
            put_registry_metrics(document(layout.registry_keys))

            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update({
                "PREFECT_HOME": str(project / "prefect-client-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING", "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",
                "AUTOMATIONS_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
                "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            })
            log = work / "serve.log"
            say(f"starting serve of {COUNT} condition automations (embedded server); log {log}")
            started = time.monotonic()
            with open(log, "wb") as out:
                serve = subprocess.Popen([PYTHON, "-m", "compiler", "serve"], cwd=project, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            # serve prints the "checking" line just after "serving": reading the log at "serving" could miss it.
            while not all(line in log.read_text(errors="replace") for line in ("\nserving ", "\nchecking ")):
                if serve.poll() is not None or time.monotonic() - started > READY_TIMEOUT:
                    raise SystemExit(f"serve did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)
            text = log.read_text(errors="replace")
            api_url = next(line for line in text.splitlines() if line.startswith("Prefect UI: ")).split()[2] + "/api"
            server_pid = int(json.loads((project / "var" / "prefect" / "server.json").read_text())["pid"])
            say(f"ready after {time.monotonic() - started:.1f}s; {next(line for line in text.splitlines() if line.startswith('checking '))}")
            time.sleep(SETTLE)  # the first checks, the server's start-up work

            load_before = os.getloadavg()[0]
            runs_before = flow_runs(api_url)
            serve_cpu, server_cpu, t0 = cpu_seconds(serve.pid), cpu_seconds(server_pid), time.monotonic()
            time.sleep(WINDOW)
            elapsed = time.monotonic() - t0
            serve_cpu, server_cpu = cpu_seconds(serve.pid) - serve_cpu, cpu_seconds(server_pid) - server_cpu
            runs_after = flow_runs(api_url)
            share = (serve_cpu + server_cpu) / elapsed
            say(f"steady state over {elapsed:.0f}s (load {load_before:.1f}-{os.getloadavg()[0]:.1f}): serve {serve_cpu:.1f} CPU-s, "
                f"server {server_cpu:.1f} CPU-s = {share:.3f} of a core; flow runs {runs_before} -> {runs_after}")

            reactions: dict[str, float] = {}
            rng = random.Random(14)
            (file_path, file_keys), (route, url_keys) = next(iter(layout.files.items())), next(iter(layout.urls.items()))
            fires = [
                ("file", file_keys[7], lambda: file_path.write_text(json.dumps(document(file_keys, file_keys[7])), encoding="utf-8")),
                ("registry", layout.registry_keys[11], lambda: put_registry_metrics(document(layout.registry_keys, layout.registry_keys[11]))),
                ("http", url_keys[3], lambda: metrics.documents.__setitem__(route, document(url_keys, url_keys[3]))),
            ]
            for kind, key, make_true in fires:
                time.sleep(rng.uniform(0, INTERVAL))  # a random moment of the interval
                became_true = time.time()
                make_true()
                hit = hits.wait_for(f"/hit/c_{key}", INTERVAL * 3)
                if hit is None:
                    raise SystemExit(f"{kind}: c_{key} started no action within {INTERVAL * 3}s; see {log}")
                reactions[kind] = hit.at - became_true
                say(f"{kind}: condition true -> first action {reactions[kind]:.2f}s")
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(timeout=120)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait(timeout=30)
        metrics.close()
        shutil.rmtree(work, ignore_errors=True)
    slowest = max(reactions.values())
    passed = share <= GOAL_CORE_SHARE and runs_after == runs_before and slowest <= GOAL_REACTION
    figure = (
        f"{share:.3f} of a core over {elapsed:.0f}s (serve {serve_cpu:.1f} + server {server_cpu:.1f} CPU-s; load {load_before:.1f}), "
        f"{runs_after - runs_before} flow runs added while nothing fired; condition true -> first action "
        + ", ".join(f"{kind} {seconds:.1f}s" for kind, seconds in reactions.items())
    )
    result_line(
        "P14",
        f"{COUNT:,} condition automations every {INTERVAL}s under serve",
        figure,
        f"<= {GOAL_CORE_SHARE:g} of a core, 0 flow runs while quiet, <= {GOAL_REACTION:g}s to the first action",
        passed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
