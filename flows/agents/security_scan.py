"""PG_SECURITY_SCAN: find committed secrets (tokens, keys, credentials, .env files) with redacted excerpts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._walk import RepoFile, RepoWalk, read_scannable_text, walk_repository
from .base import AgentOutcome, AgentRequest, RepositoryAgent

__all__ = [
    "MAX_REPORTED_FINDINGS",
    "SECRET_RULES",
    "SecretRule",
    "SecurityReport",
    "SecurityScanAgent",
    "is_dotenv_file",
    "redact",
    "scan_repository",
    "scan_text",
]

Severity = Literal["high", "medium"]

MAX_REPORTED_FINDINGS = 500  # findings listed in the result; the counts stay exact beyond this
DOTENV_RULE_ID = "dotenv_file"
_DOTENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template"})  # meant to be committed


@dataclass(frozen=True)
class SecretRule:
    """One content rule; its ``secret`` named group is what excerpts redact (unless ``redacted`` is False)."""

    rule_id: str
    severity: Severity
    description: str
    pattern: re.Pattern[str]
    generic: bool = False  # generic rules yield to a specific rule that matched the same text
    redacted: bool = True  # False only where the matched text is a marker, not the secret itself


SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "aws_access_key_id",
        "high",
        "AWS access key id",
        # Look-arounds instead of \b so the id is not found inside a longer upper-case token.
        re.compile(r"(?<![A-Z0-9])(?P<secret>AKIA[0-9A-Z]{16})(?![A-Z0-9])"),
    ),
    SecretRule(
        "github_token",
        "high",
        "GitHub token",
        # ghp_ personal tokens plus the OAuth/user/server/refresh variants that share the format.
        re.compile(r"(?<![A-Za-z0-9_])(?P<secret>gh[pousr]_[A-Za-z0-9]{36})(?![A-Za-z0-9])"),
    ),
    SecretRule(
        "slack_token",
        "high",
        "Slack token",
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>xox[baprs]-[A-Za-z0-9-]{10,})"),
    ),
    SecretRule(
        "private_key",
        "high",
        "Private key block",
        # The header is not secret itself, but it proves key material follows in the file.
        re.compile(r"(?P<secret>-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----)"),
        redacted=False,
    ),
    SecretRule(
        "generic_secret_assignment",
        "medium",
        "Hard-coded credential assignment",
        # key (also SECRET_KEY/secret_access_key/passwd, and quoted as in JSON) then : or = then a quoted
        # value of 8+ non-blank characters; blanks are excluded because prose ("enter your password") is no secret.
        re.compile(
            r"(?i)(?:api[_-]?key|secret(?:[_-]?(?:access[_-]?)?key)?|passw(?:or)?d|token)['\"]?\s*[:=]\s*"
            r"(?P<quote>['\"])(?P<secret>[^'\"\s]{8,})(?P=quote)"
        ),
        generic=True,
    ),
)

# Placeholders that look like assignments but hold no secret: ${VAR}, {{var}}, {var} (format strings),
# <value>, %(x)s, xxxxxxxx.
_PLACEHOLDER_RE = re.compile(r"^(?:\$\{.*\}|\{\{.*\}\}|\{[^{}]*\}|<.*>|%\(.*\)s|(.)\1*)$")


def redact(secret: str) -> str:
    """First four characters then ``***``: enough to recognise a credential, never enough to use it."""
    return secret[:4] + "***"


def is_dotenv_file(filename: str) -> bool:
    """``.env`` or ``.env.<anything>`` except the committed templates (.env.example/.sample/.template)."""
    return (filename == ".env" or filename.startswith(".env.")) and filename not in _DOTENV_TEMPLATES


def _excerpt(line: str, rule: SecretRule, match: re.Match[str]) -> str:
    if not rule.redacted:
        return match.group(0)
    secret_start, secret_end = match.span("secret")
    # Start at the beginning of the identifier (e.g. DB_PASSWORD, not PASSWORD) for context; bounded walk back.
    start = match.start()
    while start > 0 and match.start() - start < 64 and (line[start - 1].isalnum() or line[start - 1] in "_-."):
        start -= 1
    return (line[start:secret_start] + redact(match.group("secret")) + line[secret_end : match.end()]).strip()


def scan_text(text: str, relpath: str) -> list[dict[str, Any]]:
    """Findings for one file's text; each has rule_id, severity, path, line, column, excerpt (redacted)."""
    findings: list[dict[str, Any]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        taken: list[tuple[int, int]] = []
        for rule in SECRET_RULES:
            for match in rule.pattern.finditer(line):
                start, end = match.span("secret")
                if rule.generic:
                    if any(start < t_end and t_start < end for t_start, t_end in taken):
                        continue  # already reported by a specific rule (e.g. token = "ghp_...")
                    if _PLACEHOLDER_RE.match(match.group("secret")):
                        continue
                taken.append((start, end))
                findings.append(
                    {
                        "rule_id": rule.rule_id,
                        "severity": rule.severity,
                        "description": rule.description,
                        "path": relpath,
                        "line": line_number,
                        "column": start + 1,
                        "excerpt": _excerpt(line, rule, match),
                    }
                )
    return findings


@dataclass
class SecurityReport:
    """Everything one scan found; ``findings`` is complete (the agent truncates only its output)."""

    findings: list[dict[str, Any]]
    files_total: int
    files_scanned: int
    walk: RepoWalk

    def by_severity(self) -> dict[str, int]:
        counts = {"high": 0, "medium": 0}
        for finding in self.findings:
            counts[finding["severity"]] += 1
        return counts

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding["rule_id"]] = counts.get(finding["rule_id"], 0) + 1
        return dict(sorted(counts.items()))


def scan_repository(
    root: Path,
    *,
    walk: RepoWalk | None = None,
    text_visitor: Callable[[RepoFile, str], None] | None = None,
) -> SecurityReport:
    """Scan every walked file; ``text_visitor`` lets callers (PG_HEALTH) reuse this single read of each file."""
    if walk is None:
        walk = walk_repository(root)
    findings: list[dict[str, Any]] = []
    scanned = 0
    for file in walk.files:
        name = file.relpath.rsplit("/", 1)[-1]
        if is_dotenv_file(name):
            findings.append(
                {
                    "rule_id": DOTENV_RULE_ID,
                    "severity": "medium",
                    "description": "Environment file committed to the repository",
                    "path": file.relpath,
                    "line": None,  # file-level finding
                    "column": None,
                    "excerpt": name,
                }
            )
        text = read_scannable_text(file, walk.skipped)
        if text is None:
            continue
        scanned += 1
        findings.extend(scan_text(text, file.relpath))
        if text_visitor is not None:
            text_visitor(file, text)
    return SecurityReport(findings=findings, files_total=len(walk.files), files_scanned=scanned, walk=walk)


class SecurityScanAgent(RepositoryAgent):
    """Reports committed secrets; findings are data, so the run completes even when it finds some."""

    name = "PG_SECURITY_SCAN"
    description = "Scan a repository for committed secrets, private keys and .env files (read-only)."
    accepted_options = frozenset({"max_files"})

    def inspect(self, root: Path, request: AgentRequest) -> AgentOutcome:
        max_files = self.int_option(request, "max_files", 50_000, minimum=1, maximum=50_000)
        report = scan_repository(root, walk=walk_repository(root, max_files=max_files))
        severity = report.by_severity()
        data: dict[str, Any] = {
            "clean": not report.findings,
            "files_total": report.files_total,
            "files_scanned": report.files_scanned,
            "findings_total": len(report.findings),
            "findings_by_severity": severity,
            "findings_by_rule": report.by_rule(),
            "findings_truncated": len(report.findings) > MAX_REPORTED_FINDINGS,
            "truncated": report.walk.truncated,
            "skipped": report.walk.skipped.as_data(),
        }
        if report.findings:
            summary = (
                f"{len(report.findings)} potential secret(s) in {report.files_scanned} scanned files "
                f"({severity['high']} high, {severity['medium']} medium)"
            )
        else:
            summary = f"no secrets found in {report.files_scanned} scanned files"
        if report.walk.truncated:
            summary += f" (stopped after {report.walk.max_files} files)"
        return AgentOutcome(summary=summary, data=data, findings=report.findings[:MAX_REPORTED_FINDINGS])
