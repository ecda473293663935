"""P12: `python -m compiler deploy` and `plan` of 1,000 automations (P1's mix) against a real SQLite `prefect server start`.

Each step is the whole command as CI runs it (a new process: imports, build, server reads and writes):

1. first deploy into an empty server (every deployment, cooldown limit and the zombie-run automation created);
2. deploy again with nothing changed;
3. deploy after one automation's file changed (its cron expression): exactly one deployment updated;
4. `plan` (exit 0: nothing left to change).

Also printed for each step: the CPU seconds the command and the server used (the machine is shared, so
wall times move with its load; the load average is printed too). ``--count 10000`` measures the first
deploy of 10,000 automations instead (goal 10 minutes); ``--count N`` any other size, with the 1,000 goals.
On a default server the scheduler starts pre-creating up to 100 runs per scheduled deployment while the
deploy is still writing (tens of thousands of runs for this mix: the server's CPU and SQLite's write lock go
mostly there); ``--without-scheduler`` turns that service and the late-run one off to measure deploy's own cost.

    python benchmarks/p12_deploy.py [--count 10000] [--without-scheduler]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROJECT_ROOT, PYTHON, PrefectServer, prefect_server, result_line, say, temp_dir
from p1_build import generate

GOAL_FIRST = 60.0
GOAL_FIRST_10K = 600.0
GOAL_UNCHANGED = 5.0
GOAL_ONE_CHANGED = 5.0
GOAL_PLAN = 5.0
COMMAND_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Step:
    seconds: float
    cpu: float  # the command's own CPU seconds (user + system, children included)
    server_cpu: float
    load: float  # 1-minute load average when the step ended
    code: int
    output: str


def _server_cpu(server: PrefectServer) -> float:
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(project: Path, server: PrefectServer, *args: str) -> Step:
    env = server.client_env()
    env["AUTOMATIONS_STATE_DIR"] = str(project / ".state")
    before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = _server_cpu(server)
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "compiler", *args], cwd=project, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
        stdin=subprocess.DEVNULL, check=False,
    )
    seconds = time.perf_counter() - started
    after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after_cpu.ru_utime - before_cpu.ru_utime) + (after_cpu.ru_stime - before_cpu.ru_stime)
    step = Step(seconds, cpu, _server_cpu(server) - before_server, os.getloadavg()[0], done.returncode, done.stdout + done.stderr)
    say(f"$ python -m compiler {' '.join(args)}: exit {step.code} in {step.seconds:.1f}s (CPU {step.cpu:.1f}s, server CPU "
        f"{step.server_cpu:.1f}s, load {step.load:.1f})")
    say("  " + "\n  ".join(line for line in step.output.splitlines() if not line.startswith(("+ ", "~ ", "- ")))[-1500:])
    return step


def _summary(step: Step, kind: str = "deployments") -> tuple[int, int, int, int]:
    """(created, updated, deleted, unchanged) from deploy's summary line of ``kind``."""
    match = re.search(rf"^{kind}: (\d+) created, (\d+) updated, (\d+) deleted, (\d+) unchanged", step.output, re.M)
    if match is None:
        raise SystemExit(f"no '{kind}:' summary in the output:\n{step.output[-3000:]}")
    created, updated, deleted, unchanged = (int(g) for g in match.groups())
    return created, updated, deleted, unchanged


def _figure(step: Step) -> str:
    return f"{step.seconds:.1f}s (CPU {step.cpu:.1f}s, server CPU {step.server_cpu:.1f}s, load {step.load:.1f})"


def _project(work: Path, count: int) -> Path:
    project = work / "project"
    generate(project / "configs" / "automations", count)
    shutil.copytree(PROJECT_ROOT / "configs" / "chains", project / "configs" / "chains")
    (project / "flows").symlink_to(PROJECT_ROOT / "flows", target_is_directory=True)
    return project


def _change_one(project: Path) -> str:
    """Change the cron expression of the first time-triggered automation; its name."""
    for path in sorted((project / "configs" / "automations").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "type: time" in text and "status: enabled" in text:
            path.write_text(re.sub(r'cron_expression: "[^"]*"', 'cron_expression: "7 7 * * *"', text), encoding="utf-8")
            return path.stem
    raise SystemExit("no enabled time automation to change")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="automations to generate (default 1000; 10000 measures the first deploy only)")
    parser.add_argument(
        "--without-scheduler", action="store_true",
        help="the server's scheduler and late-run services off: deploy's own cost, without the server pre-creating runs for what it was given",
    )
    args = parser.parse_args()
    if args.without_scheduler:
        # Read by the `prefect server start` the benchmark starts (it inherits this environment).
        os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"
        os.environ["PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED"] = "false"
    work = temp_dir("p12")
    try:
        project = _project(work, args.count)
        say(f"{args.count} automations generated in {project}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            + ("; server without scheduler and late-run services" if args.without_scheduler else ""))
        with prefect_server("p12") as server:
            first = _run(project, server, "deploy")
            created = _summary(first)[0]
            if args.count >= 10000:
                ok = first.code == 0 and first.seconds <= GOAL_FIRST_10K
                result_line("P12", f"first deploy of {args.count:,} automations ({created} deployments)", _figure(first),
                            f"<= {GOAL_FIRST_10K:g}s", ok)
                return 0 if ok else 1
            unchanged = _run(project, server, "deploy")
            name = _change_one(project)
            changed = _run(project, server, "deploy")
            plan = _run(project, server, "plan")
        first_note = f"{created} deployments created" + (f", exit {first.code}" if first.code else "")
        unchanged_writes = _summary(unchanged)[:3]
        unchanged_note = "nothing written" if unchanged_writes == (0, 0, 0) else f"wrote {unchanged_writes}"
        checks = {
            "first deploy": (first.code == 0 and first.seconds <= GOAL_FIRST, first, f"<= {GOAL_FIRST:g}s", first_note),
            "unchanged": (unchanged.code == 0 and unchanged_writes == (0, 0, 0) and unchanged.seconds <= GOAL_UNCHANGED,
                          unchanged, f"<= {GOAL_UNCHANGED:g}s, nothing written", unchanged_note),
            "one changed": (changed.code == 0 and _summary(changed)[:3] == (0, 1, 0) and changed.seconds <= GOAL_ONE_CHANGED,
                            changed, f"<= {GOAL_ONE_CHANGED:g}s, 1 update", f"{name}: {_summary(changed)[1]} deployment updated"),
            "plan": (plan.code == 0 and plan.seconds <= GOAL_PLAN, plan, f"<= {GOAL_PLAN:g}s, exit 0", f"exit {plan.code}"),
        }
        for measure, (ok, step, goal, note) in checks.items():
            result_line("P12", f"{measure} ({args.count:,} automations)", f"{_figure(step)}; {note}", goal, ok)
        all_ok = all(ok for ok, *_ in checks.values())
        figure = ", ".join(f"{m} {s.seconds:.1f}s" for m, (_, s, _, _) in checks.items())
        result_line("P12", f"deploy and plan of {args.count:,} automations", figure, "all four goals", all_ok)
        return 0 if all_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
