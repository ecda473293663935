"""One row per rule of the webhook language: a webhook file and every diagnostic ``validate`` must print for it.

Each expected line is ``line:col: field: message`` exactly as printed (without the path).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compiler.language.webhook_catalog import load_webhooks
from tests.compiler.support import ROOT, make_config_dir


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


VALID = doc("""
    name: gh
    auth: {type: github, secret: "{secret:gh_hook}"}
    event:
      event_type: custom
      custom_type: "github.{headers.x-github-event}"
      id_header: X-GitHub-Delivery
      payload:
        repository: "{body.repository.full_name}"
        delivery: "{delivery_id}"
""")


@dataclass(frozen=True)
class Case:
    id: str
    content: str
    expected: list[str]
    others: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("valid", VALID, []),
    Case("secret-written-inline", doc("""
        name: gh
        auth: {type: github, secret: hunter2}
        event: {event_type: custom, custom_type: x}
    """), ["2:30: auth.secret: expected a secret reference such as '{secret:github_webhook}' (secrets are never "
           "written in YAML: set env AUTOMATIONS_SECRET_<NAME> or a Prefect Secret block)"]),
    Case("auth-is-required", doc("""
        name: gh
        event: {event_type: custom, custom_type: x}
    """), ["1:1: auth: missing required field 'auth'"]),
    Case("unknown-auth-type", doc("""
        name: gh
        auth: {type: none}
        event: {event_type: custom, custom_type: x}
    """), ["2:14: auth.type: unknown type 'none'; allowed: 'github', 'hmac', 'bearer'"]),
    Case("bearer-takes-token", doc("""
        name: gh
        auth: {type: bearer, secret: "{secret:x}"}
        event: {event_type: custom, custom_type: x}
    """), [
        "2:7: auth.token: missing required field 'token'",
        "2:22: auth.secret: unknown field 'secret'; allowed: type, token",
    ]),
    Case("tolerance-bounded", doc("""
        name: gh
        auth: {type: hmac, secret: "{secret:x}", tolerance_seconds: 86400}
        event: {event_type: custom, custom_type: x}
    """), ["2:61: auth.tolerance_seconds: must be <= 3600, got integer 86400"]),
    Case("unknown-event-type", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: push}
    """), ["3:21: event.event_type: string 'push' is not allowed; expected 'agent_complete', 'agent_failed', "
           "'chain_complete', 'chain_failed', 'registry_update', 'artifact_created' or 'custom'"]),
    Case("label-required-for-kind", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: registry_update, entity_type: deploy}
    """), ["3:8: event: registry_update events need entity_id (text or a template over the request)"]),
    Case("label-not-for-kind", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: chain_complete, chain_name: c, agent_name: a}
    """), ["3:64: event.agent_name: agent_name does not apply to chain_complete events (allowed: chain_name, status)"]),
    Case("payload-string-is-one-placeholder", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x, payload: "all of {body}"}
    """), ["3:54: event.payload: payload is a mapping, or exactly one placeholder such as '{body}'; got 'all of {body}'"]),
    Case("template-unknown-variable", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event:
          event_type: custom
          custom_type: x
          payload: {ref: "{bodyy.ref}"}
    """), ["6:18: event.payload.ref: unknown variable 'bodyy'; did you mean 'body'? (a webhook's templates can use: "
           "body, headers, delivery_id, webhook, received_at)"]),
    Case("template-secret-refused", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event:
          event_type: custom
          custom_type: x
          payload: {token: "{secret:x}"}
    """), ["6:20: event.payload.token: '{secret:x}': secrets cannot go into an event (events are stored and shown in "
           "the Prefect UI)"]),
    Case("template-credential-header", doc("""
        name: gh
        auth: {type: hmac, secret: "{secret:x}", signature_header: X-Sig}
        event:
          event_type: custom
          custom_type: x
          payload: {a: "{headers.authorization}", b: "{headers.x-sig}"}
    """), [
        "6:16: event.payload.a: '{headers.authorization}': header 'authorization' carries a credential and cannot go into an event",
        "6:46: event.payload.b: '{headers.x-sig}': header 'x-sig' carries a credential and cannot go into an event",
    ]),
    Case("template-header-upper-case", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: "{headers.X-Kind}"}
    """), ["3:42: event.custom_type: '{headers.X-Kind}': header names are matched lower-case; write {headers.x-kind}"]),
    Case("template-delivery-needs-header", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x, payload: {d: "{delivery_id}"}}
    """), ["3:58: event.payload.d: '{delivery_id}' needs event.id_header (the header carrying the sender's delivery id)"]),
    Case("template-syntax", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x, payload: {d: "{body[0]}"}}
    """), ["3:58: event.payload.d: invalid placeholder '{body[0]}': allowed are {name}, dotted {a.b.c} and "
           "{secret:NAME} (no indexing, conversions, format specs or spaces) (at character 1)"]),
    Case("reserved-path", doc("""
        name: gh
        path: /healthz
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x}
    """), ["2:7: path: path '/healthz' is reserved or malformed; use something like /hooks/NAME"]),
    Case("content-types", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x}
        content_types: [xml]
    """), ["4:17: content_types[0]: string 'xml' is not allowed; expected 'json' or 'form'"]),
    Case("body-limit", doc("""
        name: gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x}
        max_body_bytes: 0
    """), ["4:17: max_body_bytes: must be >= 1, got integer 0"]),
    Case("duplicate-name", VALID.replace("X-GitHub-Delivery", "X-Other"), [
        "1:7: name: webhook name 'gh' is already used by {dir}/a.yaml; names must be unique",
    ], others={"a.yaml": VALID}),
    Case("duplicate-path", doc("""
        name: other
        path: /hooks/gh
        auth: {type: bearer, token: "{secret:x}"}
        event: {event_type: custom, custom_type: x}
    """), ["2:7: path: path '/hooks/gh' is already served by {dir}/a.yaml; paths must be unique"], others={"a.yaml": VALID}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_webhook_file_diagnostics(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "webhooks"
    folder.mkdir()
    for name, text in case.others.items():
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "b.yaml"
    path.write_text(case.content, encoding="utf-8")
    catalog = load_webhooks(folder)
    prefix = f"{path}:"
    lines = [str(d).removeprefix(prefix) for d in catalog.diagnostics if d.path == str(path)]
    assert lines == [line.replace("{dir}", str(folder)) for line in case.expected]


def test_a_bad_webhook_file_never_hides_the_good_one(tmp_path: Path) -> None:
    folder = tmp_path / "webhooks"
    folder.mkdir()
    (folder / "a.yaml").write_text(VALID, encoding="utf-8")
    (folder / "b.yaml").write_text("name: [", encoding="utf-8")
    catalog = load_webhooks(folder)
    assert (sorted(catalog.webhooks), len(catalog.errors)) == (["gh"], 1)


def test_validate_reports_webhooks_with_the_automations(tmp_path: Path) -> None:
    """``validate`` checks configs/webhooks/ in the same pass and counts its errors; exit 1 on any."""
    automations = make_config_dir(tmp_path / "configs")
    (automations / "demo.yaml").write_text(doc("""
        name: demo
        trigger: {type: event, event: {event_type: custom, custom_type: github.push}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), encoding="utf-8")
    hooks = tmp_path / "configs" / "webhooks"
    hooks.mkdir()
    (hooks / "a.yaml").write_text(VALID, encoding="utf-8")
    (hooks / "b.yaml").write_text(CASES[1].content, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "compiler", "--config-dir", str(automations), "validate"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"{hooks / 'b.yaml'}:2:30: auth.secret: expected a secret reference")
    assert result.stdout == "1 automation(s) valid, 1 webhook(s) valid, 1 error(s) in 1 file(s), 0 warning(s)\n"
