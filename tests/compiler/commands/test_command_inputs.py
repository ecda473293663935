"""What commands read from their arguments: the named automation with its ``--param`` inputs, or an exit code
and one line saying why."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from compiler.commands.command_inputs import load_named_with_params
from tests.compiler.support import ROOT

CASES = [
    ("known", "daily_security_scan", ["limit=3", "who=ops"], {"limit": 3, "who": "ops"}, ""),
    ("unknown-name", "no_such_automation", [], 1, "no_such_automation"),
    ("param-without-equals", "daily_security_scan", ["limit"], 2, "--param expects KEY=VALUE, got 'limit'"),
    ("param-without-key", "daily_security_scan", ["=3"], 2, "--param expects KEY=VALUE, got '=3'"),
]


@pytest.mark.parametrize(("name", "params", "expected", "said"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_named_automation_and_its_params_or_the_exit_code(
    capsys: pytest.CaptureFixture[str], name: str, params: list[str], expected: Any, said: str
) -> None:
    args = argparse.Namespace(config_dir=ROOT / "configs" / "automations", name=name, param=params)
    found = load_named_with_params(args)
    got = found if isinstance(found, int) else (found[0].automation.name, found[1])
    assert got == (expected if isinstance(expected, int) else (name, expected))
    assert said in capsys.readouterr().err
