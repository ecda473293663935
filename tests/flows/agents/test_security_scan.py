"""PG_SECURITY_SCAN on real files: which snippets are secrets, redaction, locations, skipping, counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.agents import AgentRequest, AgentResult, SecurityScanAgent
from flows.agents.security_scan import MAX_REPORTED_FINDINGS, is_dotenv_file, scan_text

from .repo_builders import fake_secrets, git_commit_all, snapshot, write_tree

S = fake_secrets()
# Assembled so this file holds no literal key header either (see repo_builders.fake_secrets).
BEGIN, END = "-----BEGIN ", "-----END "
PRIVATE_KEY = f"{BEGIN}RSA PRIVATE KEY-----\n{S['private_key_body']}\n{END}RSA PRIVATE KEY-----\n"

# (case id, file content, expected rule id, severity, the secret that must never be echoed back)
SECRET_CASES = [
    ("aws_python", f'AWS_ACCESS_KEY_ID = "{S["aws"]}"\n', "aws_access_key_id", "high", S["aws"]),
    ("aws_ini", f"aws_access_key_id={S['aws']}\n", "aws_access_key_id", "high", S["aws"]),
    ("github_plain", f"GITHUB = '{S['github']}'\n", "github_token", "high", S["github"]),
    ("github_as_token_assignment", f'token = "{S["github"]}"\n', "github_token", "high", S["github"]),
    ("slack_yaml", f"webhook: {S['slack']}\n", "slack_token", "high", S["slack"]),
    ("rsa_private_key", PRIVATE_KEY, "private_key", "high", S["private_key_body"]),
    ("openssh_private_key", f"{BEGIN}OPENSSH PRIVATE KEY-----\n{S['private_key_body']}\n", "private_key", "high",
     S["private_key_body"]),
    ("pkcs8_private_key", f"{BEGIN}PRIVATE KEY-----\n{S['private_key_body']}\n", "private_key", "high",
     S["private_key_body"]),
    ("password_python", f'password = "{S["password"]}"\n', "generic_secret_assignment", "medium", S["password"]),
    ("api_key_json", f'{{"api_key": "{S["password"]}"}}\n', "generic_secret_assignment", "medium", S["password"]),
    ("db_password_yaml", f"db_password: '{S['password']}'\n", "generic_secret_assignment", "medium", S["password"]),
    ("django_secret_key", f"SECRET_KEY = '{S['password']}'\n", "generic_secret_assignment", "medium", S["password"]),
    ("js_api_key", f'const apiKey = "{S["password"]}";\n', "generic_secret_assignment", "medium", S["password"]),
]
CASE_IDS = [case[0] for case in SECRET_CASES]

NON_SECRETS = [
    'password = ""',
    'password = "short"',
    'password = os.environ["DB_PASSWORD"]',
    "api_key = get_api_key()",
    'token: "${GITHUB_TOKEN}"',
    'password: "{{vault_db_password}}"',
    'body = f\'{"token": "{github_token}"}\'',
    'password = "********"',
    'secret = "<your-secret-here>"',
    'label = "Enter your password here"',
    'password_hint = "at-least-8-characters"',
    'if password == "comparison-value":',
    'token = "has spaces in the value"',
    "AKIA1234",
    "akia" + "qx7t2mbn4rlk6pzw",
    "X" + S["aws"],
    S["aws"] + "Q",
    "gh" + "p_tooShort123",
    f"{BEGIN}PUBLIC KEY-----",
    f"{BEGIN}CERTIFICATE-----",
    "xo" + "xb-short",
    'tokens = ["a", "b"]',
]

DOTENV_NAMES = [
    (".env", True),
    (".env.local", True),
    (".env.production", True),
    (".env.example", False),
    (".env.sample", False),
    (".envrc", False),
    ("env.py", False),
    (".environment", False),
]


def scan(root: Path) -> AgentResult:
    return SecurityScanAgent().run(AgentRequest(root))


def scan_snippet(tmp_path: Path, content: str) -> AgentResult:
    write_tree(tmp_path, {"app/config.txt": content})
    return scan(tmp_path)


@pytest.mark.parametrize(("case", "content", "rule_id", "severity", "secret"), SECRET_CASES, ids=CASE_IDS)
def test_secret_snippet_is_found_by_its_rule(
    tmp_path: Path, case: str, content: str, rule_id: str, severity: str, secret: str
) -> None:
    assert [f["rule_id"] for f in scan_snippet(tmp_path, content).findings] == [rule_id]


@pytest.mark.parametrize(("case", "content", "rule_id", "severity", "secret"), SECRET_CASES, ids=CASE_IDS)
def test_secret_snippet_has_the_rule_severity(
    tmp_path: Path, case: str, content: str, rule_id: str, severity: str, secret: str
) -> None:
    assert [f["severity"] for f in scan_snippet(tmp_path, content).findings] == [severity]


@pytest.mark.parametrize(("case", "content", "rule_id", "severity", "secret"), SECRET_CASES, ids=CASE_IDS)
def test_secret_value_never_appears_in_the_result_json(
    tmp_path: Path, case: str, content: str, rule_id: str, severity: str, secret: str
) -> None:
    dumped = json.dumps(scan_snippet(tmp_path, content).to_dict())
    assert secret not in dumped and secret[-8:] not in dumped


@pytest.mark.parametrize("snippet", NON_SECRETS)
def test_non_secret_does_not_match(snippet: str) -> None:
    assert scan_text(snippet + "\n", "x.txt") == []


@pytest.mark.parametrize(("filename", "flagged"), DOTENV_NAMES)
def test_dotenv_file_names(filename: str, flagged: bool) -> None:
    assert is_dotenv_file(filename) is flagged


def test_committed_dotenv_file_is_a_file_level_finding(tmp_path: Path) -> None:
    write_tree(tmp_path, {"deploy/.env.production": "MODE=prod\n"})
    finding = scan(tmp_path).findings[0]
    assert (finding["rule_id"], finding["path"], finding["line"]) == ("dotenv_file", "deploy/.env.production", None)


def test_excerpt_keeps_the_first_four_characters_then_stars() -> None:
    finding = scan_text(f'db_password = "{S["password"]}"\n', "x.py")[0]
    assert finding["excerpt"] == f'db_password = "{S["password"][:4]}***"'


def test_excerpt_of_a_token_is_redacted() -> None:
    assert scan_text(f"key: {S['aws']}\n", "x.yaml")[0]["excerpt"] == "AKIA***"


def test_excerpt_of_a_private_key_is_only_its_header() -> None:
    assert scan_text(PRIVATE_KEY, "id_rsa")[0]["excerpt"] == f"{BEGIN}RSA PRIVATE KEY-----"


def test_finding_has_relative_path_line_and_column(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/settings.py": f"import os\n\nKEY = '{S['aws']}'\n"})
    finding = scan(tmp_path).findings[0]
    assert (finding["path"], finding["line"], finding["column"]) == ("app/settings.py", 3, 8)


def test_two_secrets_on_one_line_are_both_reported() -> None:
    findings = scan_text(f"{S['aws']} {S['slack']}\n", "x.txt")
    assert [f["rule_id"] for f in findings] == ["aws_access_key_id", "slack_token"]


def test_scan_with_findings_still_completes(tmp_path: Path) -> None:
    result = scan_snippet(tmp_path, PRIVATE_KEY)
    assert (result.status, result.data["clean"]) == ("completed", False)


def test_clean_repository_is_reported_clean(tmp_path: Path) -> None:
    write_tree(tmp_path, {"README.md": "# hi\n", "src/a.py": "x = 1\n"})
    result = scan(tmp_path)
    assert (result.data["clean"], result.findings) == (True, [])


def test_counts_by_severity(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.txt": PRIVATE_KEY, "b.py": f'password = "{S["password"]}"\n', ".env": "A=1\n"})
    assert scan(tmp_path).data["findings_by_severity"] == {"high": 1, "medium": 2}


def test_files_scanned_excludes_binary_files(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "x = 1\n", "logo.png": b"\x89PNG\0\0\0data"})
    data = scan(tmp_path).data
    assert (data["files_total"], data["files_scanned"]) == (2, 1)


def test_secret_inside_a_binary_file_is_not_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, {"blob.bin": b"\0" + S["aws"].encode()})
    assert scan(tmp_path).findings == []


def test_secret_inside_an_excluded_folder_is_not_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, {"node_modules/pkg/index.js": f"const k = '{S['aws']}';\n"})
    assert scan(tmp_path).findings == []


def test_secret_inside_a_file_over_5_mb_is_not_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, {"dump.sql": f"-- {S['aws']}\n" + "x" * (5 * 1024 * 1024)})
    result = scan(tmp_path)
    assert (result.findings, result.data["skipped"]["counts"]) == ([], {"too_large": 1})


def test_reported_findings_are_capped_but_counted_exactly(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.txt": f"{S['aws']}\n" * (MAX_REPORTED_FINDINGS + 1)})
    result = scan(tmp_path)
    assert (len(result.findings), result.data["findings_total"], result.data["findings_truncated"]) == (
        MAX_REPORTED_FINDINGS,
        MAX_REPORTED_FINDINGS + 1,
        True,
    )


def test_scan_leaves_the_repository_byte_for_byte_unchanged(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.txt": PRIVATE_KEY, ".env": "A=1\n"})
    git_commit_all(tmp_path)
    before = snapshot(tmp_path)
    SecurityScanAgent().run(AgentRequest(tmp_path, "apply"))
    assert snapshot(tmp_path) == before


def test_result_is_json_serialisable(tmp_path: Path) -> None:
    result = scan_snippet(tmp_path, PRIVATE_KEY + f'password = "{S["password"]}"\n')
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()
