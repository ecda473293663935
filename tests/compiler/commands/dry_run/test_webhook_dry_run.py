"""``dry-run NAME --request FILE`` for webhooks, and the README's GitHub example exactly as the README prints it (and the
checkout ships it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.commands.cli import main
from flows.events.webhooks.auth import sign_github
from tests.compiler.support import ROOT, make_config_dir

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_block(caption: str, skip: int = 0) -> str:
    """The fenced block that follows the first README line containing ``caption`` (``skip``: blocks passed over)."""
    blocks = re.compile(r"```[a-z]*\n(.*?)```", re.S).finditer(README, README.index(caption))
    for _ in range(skip):
        next(blocks)
    return next(blocks).group(1)


README_SECRET = re.search(r"export AUTOMATIONS_SECRET_GITHUB_WEBHOOK='([^']+)'", README).group(1)  # type: ignore[union-attr]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's webhook and automation in a fresh config folder; no Prefect API configured."""
    automations = make_config_dir(tmp_path / "configs")
    hooks = tmp_path / "configs" / "webhooks"
    hooks.mkdir()
    (hooks / "github_push.yaml").write_text(readme_block("`configs/webhooks/github_push.yaml`"), encoding="utf-8")
    (automations / "record_push.yaml").write_text(readme_block("`configs/automations/record_push.yaml`"), encoding="utf-8")
    (tmp_path / "push.json").write_text(readme_block("`push.json`"), encoding="utf-8")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.setenv("AUTOMATIONS_SECRET_GITHUB_WEBHOOK", README_SECRET)
    return automations


def dry_run(project: Path, capsys: pytest.CaptureFixture[str], *args: str, request: Path | None = None) -> tuple[int, str, str]:
    code = main(["--config-dir", str(project), "dry-run", *args, "--request", str(request or project.parent.parent / "push.json")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def save(path: Path, body: str, secret: str = README_SECRET, **headers: str) -> Path:
    sent = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": sign_github(secret, body.encode())}
    sent.update(headers)
    path.write_text(json.dumps({"headers": sent, "body": body}), encoding="utf-8")
    return path


def test_readme_example_validates(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "compiler", "--config-dir", str(project), "validate"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("1 automation(s) valid, 1 webhook(s) valid, 0 error(s)")


def test_readme_dry_run_prints_what_the_readme_shows(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    transcript = readme_block("`dry-run` takes a saved request", skip=1).splitlines()
    assert transcript[0] == "$ python -m compiler dry-run github_push --request push.json"
    assert dry_run(project, capsys, "github_push") == (0, "\n".join(transcript[1:]) + "\n", "")


def test_readme_curl_signature_is_what_github_sends() -> None:
    """The README's shell recipe (openssl) signs exactly as the receiver verifies."""
    recipe = readme_block("Without GitHub, sign a request")
    body = re.search(r"body='([^']+)'", recipe).group(1)  # type: ignore[union-attr]
    command = recipe.split("\n")[1].split("sig=", 1)[1].strip('"').removeprefix("sha256=$(").removesuffix(")")
    shown = subprocess.run(["bash", "-c", f"body='{body}'; {command}"], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "AUTOMATIONS_SECRET_GITHUB_WEBHOOK": README_SECRET}, check=True)
    assert "sha256=" + shown.stdout.strip() == sign_github(README_SECRET, body.encode())


def test_wrong_secret_would_be_refused(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATIONS_SECRET_GITHUB_WEBHOOK", "another-secret")
    code, out, _ = dry_run(project, capsys, "github_push")
    assert (code, out.splitlines()[0]) == (
        0, "github_push (POST /hooks/github_push): would REFUSE (401): signature does not match (wrong secret, or the body was changed on the way)")


def test_unavailable_secret_is_reported_as_not_checked(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOMATIONS_SECRET_GITHUB_WEBHOOK")
    _, out, _ = dry_run(project, capsys, "github_push")
    assert out.splitlines()[0] == "github_push (POST /hooks/github_push): would ACCEPT if the signature is right (it was not checked)"
    assert out.splitlines()[-1] == ("  note: authentication NOT checked: secret 'github_webhook' is not in env "
                                    "AUTOMATIONS_SECRET_GITHUB_WEBHOOK and no Prefect API is configured")


def test_event_no_automation_listens_for(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = '{"ref":"r","after":"a","repository":{"full_name":"x/y"},"pusher":{"name":"n"}}'
    request = save(tmp_path / "tag.json", body, **{"X-GitHub-Event": "create"})
    _, out, _ = dry_run(project, capsys, "github_push", request=request)
    assert "  would trigger no automation (no event trigger matches)" in out.splitlines()


def test_body_the_mapping_cannot_use_would_be_refused(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out, _ = dry_run(project, capsys, "github_push", request=save(tmp_path / "r.json", '{"zen": "hi"}'))
    assert out.splitlines()[0] == ("github_push (POST /hooks/github_push): would REFUSE (422): cannot build the event: "
                                   "template variable '{body.repository.full_name}' is not defined ('body.repository' is missing)")


def test_json_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config-dir", str(project), "dry-run", "github_push", "--request", str(project.parent.parent / "push.json"), "--json"])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (code, report["status"], report["accepted"], report["authenticated"]) == (0, 202, True, True)
    assert [(row["automation"], row["matches"]) for row in report["automations"]] == [("record_push", True)]


def test_unknown_webhook_name(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = dry_run(project, capsys, "github_pash")
    assert (code, err) == (1, "no webhook named 'github_pash'; did you mean 'github_push'? (known: github_push)\n")


def test_malformed_request_file_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"headers": {}}', encoding="utf-8")
    code, _, err = dry_run(project, capsys, "github_push", request=tmp_path / "bad.json")
    assert (code, err) == (2, f"{tmp_path / 'bad.json'}: no 'body' (raw text) or 'body_base64'\n")


SHIPPED = [
    ("configs/webhooks/github_push.yaml", "`configs/webhooks/github_push.yaml`:"),
    ("configs/automations/record_push.yaml", "`configs/automations/record_push.yaml`"),
    ("push.json", "`push.json`"),
]


@pytest.mark.parametrize(("path", "caption"), SHIPPED, ids=[path for path, _ in SHIPPED])
def test_the_checkout_ships_the_readme_example_as_printed(path: str, caption: str) -> None:
    assert (ROOT / path).read_text(encoding="utf-8") == readme_block(caption)


def test_the_tour_lists_the_dry_run_of_the_shipped_example() -> None:
    assert ".venv/bin/python -m compiler dry-run github_push --request push.json" in readme_block("## A short tour")


@pytest.mark.parametrize("secret", [README_SECRET, None], ids=["secret-exported", "fresh-clone"])
def test_the_readme_dry_run_works_in_the_checkout(tmp_path: Path, secret: str | None) -> None:
    """As the tour runs it, from the checkout's root: with the secret the README exports, exactly the README's
    transcript; without it, the same verdict with the signature not checked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    if secret is not None:
        env["AUTOMATIONS_SECRET_GITHUB_WEBHOOK"] = secret
    result = subprocess.run([sys.executable, "-m", "compiler", "dry-run", "github_push", "--request", "push.json"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    transcript = readme_block("`dry-run` takes a saved request", skip=1).splitlines()[1:]
    if secret is None:
        transcript[0] = "github_push (POST /hooks/github_push): would ACCEPT if the signature is right (it was not checked)"
        transcript.append("  note: authentication NOT checked: secret 'github_webhook' is not in env "
                          "AUTOMATIONS_SECRET_GITHUB_WEBHOOK and no Prefect API is configured")
    assert (result.returncode, result.stdout.splitlines(), result.stderr) == (0, transcript, "")
