"""``dry-run --metrics`` transcripts for condition triggers: the reason names the matched values, and a document
the operator cannot compare is a reason, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compiler.support import ROOT, make_config_dir

AUTOMATION = """\
name: fleet_health
trigger:
  type: condition
  condition: {{metric_path: "{path}", operator: {operator}, threshold: {threshold}{match}}}
actions:
  - {{type: log_message, name: say, parameters: {{message: "value {{condition.value}}"}}}}
"""

ROWS = [
    ("$.services[*].health", "lt", "50", "", {"services": [{"health": 90}, {"health": 20}]},
     ["fleet_health: would FIRE",
      "  - $.services[*].health matched 2 values; any: lt 50 holds for $.services[1].health = 20"]),
    ("$.services[*].health", "lt", "50", ", match: all", {"services": [{"health": 90}, {"health": 20}]},
     ["fleet_health: would NOT fire",
      "  - $.services[*].health matched 2 values; all: lt 50 does not hold for $.services[0].health = 90"]),
    ("$.status", "contains", "5", "", {"status": "degraded"},
     ["fleet_health: would NOT fire",
      '  - $.status = "degraded": contains 5 does not hold: 5 is not a string (a string value contains only text)']),
    ("$.up", "eq", "1", "", {"up": True},
     ["fleet_health: would NOT fire", "  - $.up = true: eq 1 does not hold"]),
]


@pytest.mark.parametrize(("path", "operator", "threshold", "match", "document", "expected"), ROWS,
                         ids=["any-fires", "all-does-not", "contains-type", "strict-eq"])
def test_dry_run_reason(tmp_path: Path, path: str, operator: str, threshold: str, match: str,
                        document: object, expected: list[str]) -> None:
    automations = make_config_dir(tmp_path)
    (automations / "fleet_health.yaml").write_text(
        AUTOMATION.format(path=path, operator=operator, threshold=threshold, match=match), encoding="utf-8"
    )
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(document), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_PROFILES_PATH"] = str(tmp_path / "no-profiles.toml")  # no API: cooldown not checked
    result = subprocess.run(
        [sys.executable, "-m", "compiler", "--config-dir", str(automations), "dry-run", "fleet_health",
         "--metrics", str(metrics)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[:2] == expected
