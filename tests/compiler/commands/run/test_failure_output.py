"""``run`` / ``runs`` transcripts for ordinary action failures: one line per failed action in our words, no
Prefect prefix, no traceback (unless --verbose), control characters escaped, the same text in the table,
``--json``, ``runs`` and the Prefect state message; durations cover every try and delay."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from tests.flows.e2e_support import CliResult, Runtime

PREFECT_PREFIX = "Task run encountered an exception"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the with block ends


@dataclass(frozen=True)
class Failure:
    id: str
    action: str  # YAML of the single action (named "act"); {url} is the scripted server, {tag} unique
    params: tuple[str, ...]
    expected: str  # the failed action's message; {url} and {port} are filled in


CLOSED = _closed_port()
FAILURES = [
    Failure("http-400", 'type: http_request\nname: act\nparameters: {{url: "{url}/script/400/{tag}"}}', (),
            "HTTP GET {url}/script/400/{tag} answered 400"),
    Failure("connection-refused",
            f'type: http_request\nname: act\nparameters: {{{{url: "http://127.0.0.1:{CLOSED}/x"}}}}', (),
            f"HTTP GET http://127.0.0.1:{CLOSED}/x failed: connection refused by 127.0.0.1:{CLOSED}"),
    Failure("invalid-after-rendering", 'type: http_request\nname: act\nparameters: {{url: "{{target}}"}}',
            ("--param", "target=file:///etc/passwd"),
            "parameters invalid after rendering templates: url: scheme 'file' is not allowed; only http and https"
            " URLs can be requested"),
    Failure("nul-in-artifact-name",
            'type: create_artifact\nname: act\nparameters: {{artifact_type: report, filename: "{{fname}}", content: x}}',
            ("--param", 'fname="a\\u0000b\\u001b[31m.txt"'),
            "parameters invalid after rendering templates: filename: artifact filename 'a\\x00b\\x1b[31m.txt'"),
]


def _write(runtime: Runtime, name: str, action: str) -> str:
    indented = "\n".join(("  - " if i == 0 else "    ") + line for i, line in enumerate(action.splitlines()))
    return runtime.write_automation(
        f"name: {name}\ntrigger: {{type: time, time: {{cron_expression: '0 2 * * *'}}}}\nactions:\n{indented}\n"
    )


def _failed_line(result: CliResult) -> str:
    [line] = [line for line in result.stdout.splitlines() if line.startswith("  act ")]
    return line


@pytest.mark.parametrize("case", FAILURES, ids=[f.id for f in FAILURES])
def test_a_failed_action_is_one_line_in_our_words(runtime: Runtime, tag: str, case: Failure) -> None:
    name = _write(runtime, f"fail_{case.id.replace('-', '_')}", case.action.format(url=runtime.server.url, tag=tag))
    result = runtime.cli("run", name, *case.params)
    expected = case.expected.format(url=runtime.server.url, tag=tag)
    line = _failed_line(result)

    assert result.returncode == 1, result.output
    assert line.split()[1] == "Failed" and expected in line, line
    assert PREFECT_PREFIX not in result.output
    assert "Traceback" not in result.output and "NoneType: None" not in result.output
    assert "\x00" not in result.output and "\x1b" not in result.output
    assert [line for line in result.stderr.splitlines() if "ERROR" in line] == [
        line for line in result.stderr.splitlines() if "action act ended Failed: " in line
    ]


def test_the_same_text_in_run_json_runs_and_the_prefect_state(runtime: Runtime, tag: str) -> None:
    name = _write(runtime, "same_text", f'type: http_request\nname: act\nparameters: {{url: "{runtime.server.url}/script/400/{tag}"}}')
    run = runtime.cli("run", name, "--json").json()
    [listed] = [h for h in runtime.cli("runs", name, "--json").json() if h["id"] == run["id"]]
    table = runtime.cli("runs", name).stdout
    expected = f"HTTP GET {runtime.server.url}/script/400/{tag} answered 400"

    [action] = run["actions"]
    assert (action["message"], action["summary"]) == (expected, expected)
    assert listed["actions"] == run["actions"]
    assert run["message"] == listed["message"] == f"action 'act' failed: {expected}"
    assert f"Failed — action 'act' failed: {expected}" in table and "Failed              1" in table


def test_verbose_shows_the_traceback(runtime: Runtime, tag: str) -> None:
    name = _write(runtime, "verbose_fail", f'type: http_request\nname: act\nparameters: {{url: "{runtime.server.url}/script/400/{tag}"}}')
    result = runtime.cli("run", name, "--verbose")
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.output


def test_duration_covers_every_try_and_delay(runtime: Runtime, tag: str) -> None:
    name = _write(
        runtime, "slow_retries",
        f'type: http_request\nname: act\nretry_count: 2\nretry_delay_seconds: 1\n'
        f'parameters: {{url: "{runtime.server.url}/script/503/{tag}"}}',
    )
    [action] = runtime.cli("run", name, "--json").json()["actions"]
    assert action["attempts"] == 3
    assert action["duration_s"] >= 2.0  # two 1 s delays between the three tries (a lower bound, not a timing)
