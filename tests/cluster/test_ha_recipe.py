"""README "Several API servers": the recipe a user copies is the topology the HA cluster test starts.

The test (tests/cluster/test_ha_cluster.py) starts its servers with ``ha_server_environment`` and its load
balancer with ``haproxy_config``; these read the README's heredocs and compare, so neither can drift alone.
"""

from __future__ import annotations

import re

import pytest

from tests.cluster.harness import ha_server_environment, haproxy_config
from tests.prefect_support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("### Several API servers: high availability") :]
RECIPE = SECTION[SECTION.index("```bash\n") : SECTION.index("\n```\n", SECTION.index("```bash\n"))]


def _heredoc(name: str) -> str:
    found = re.search(rf"cat > {re.escape(name)} <<'EOF'\n(.*?)\nEOF\n", RECIPE, re.S)
    assert found, f"README's HA recipe writes no {name}"
    return found.group(1) + "\n"


def test_the_server_environment_file_holds_what_the_cluster_servers_get_besides_the_database() -> None:
    lines = dict(line.split("=", 1) for line in _heredoc("prefect-server.env").splitlines())
    database = lines.pop("PREFECT_API_DATABASE_CONNECTION_URL")

    assert database.startswith("postgresql+asyncpg://")
    assert lines == ha_server_environment("redis://127.0.0.1:6379/0")


def test_the_haproxy_file_is_the_cluster_balancers_with_the_readmes_ports() -> None:
    assert _heredoc("prefect-lb.cfg") == haproxy_config(4200, [4201, 4202])


# What the cluster harness does in this order (Cluster._start_ha_servers); the README must say the same.
STEPS = [
    "prefect server database upgrade -y",
    "prefect server start --no-services --host 127.0.0.1 --port 4201",
    "until curl -fs http://127.0.0.1:4201/api/health",
    "prefect server start --no-services --host 127.0.0.1 --port 4202",
    "prefect server services start",
    "haproxy -f prefect-lb.cfg",
    "export PREFECT_API_URL=http://127.0.0.1:4200/api",
]


@pytest.mark.parametrize("step", STEPS)
def test_the_recipe_starts_the_parts_in_the_clusters_order(step: str) -> None:
    position = RECIPE.find(step)
    earlier = STEPS[: STEPS.index(step)]

    assert position >= 0, f"README's HA recipe lacks: {step}"
    assert all(RECIPE.find(before) < position for before in earlier), f"README's HA recipe runs {step!r} too early"
