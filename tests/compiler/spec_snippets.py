"""The YAML snippets of the feature spec (docs: "Defining Automations (YAML)" and later sections), verbatim.

Copied character for character so a test failing here means the language no longer accepts what the
spec promises. Where a snippet is a fragment, its completion is built around it, never inside it.
"""

from __future__ import annotations

__all__ = ["CHAINED_ACTIONS", "CONDITION_TRIGGER", "CRON_EXAMPLES", "MAIN_EXAMPLE", "RETRY_LOGIC", "with_trigger"]

MAIN_EXAMPLE = '''\
name: my_automation
description: Automation description
version: "1.0"
status: enabled

# Event-based trigger
trigger:
  type: event
  event:
    event_type: chain_complete
    chain_name: full_analysis
  cooldown_seconds: 3600

# Time-based trigger (cron)
# trigger:
#   type: time
#   time:
#     cron_expression: "0 2 * * *"  # 2 AM daily
#     timezone_str: "UTC"
#   cooldown_seconds: 82800

# Condition-based trigger
# trigger:
#   type: condition
#   condition:
#     metric_path: $.metrics.health_score
#     operator: lt
#     threshold: 50
#     check_interval_seconds: 300
#   cooldown_seconds: 3600

actions:
  - type: execute_agent
    name: run_discovery
    parameters:
      agent_name: PG_DISCOVERY
      repository_root: "{repository_root}"
      mode: dry_run
    continue_on_failure: false
    retry_count: 1
    timeout_seconds: 300

  - type: send_notification
    name: notify_team
    parameters:
      message: "Discovery completed for {repository_root}"
      level: info
      channels: [log, registry]
    continue_on_failure: true

  - type: create_artifact
    name: save_report
    parameters:
      artifact_type: discovery_report
      filename: "discovery_{timestamp}.json"
      register_in_registry: true
    continue_on_failure: true
'''

CONDITION_TRIGGER = '''\
trigger:
  type: condition
  condition:
    metric_path: $.metrics.health_score
    operator: lt  # gt, lt, gte, lte, eq, ne, contains, exists
    threshold: 50
    check_interval_seconds: 300
'''

CHAINED_ACTIONS = '''\
actions:
  - type: execute_chain
    continue_on_failure: false  # Stop automation if this fails
    # ...

  - type: send_notification
    continue_on_failure: true  # Continue even if this fails
    # ...
'''

RETRY_LOGIC = '''\
actions:
  - type: http_request
    retry_count: 3
    retry_delay_seconds: 10
    timeout_seconds: 30
'''

CRON_EXAMPLES = ["0 2 * * *", "0 */6 * * *", "0 0 * * 1", "*/30 9-17 * * *"]

_BLOCK_TITLES = {
    "event": "# Event-based trigger",
    "time": "# Time-based trigger (cron)",
    "condition": "# Condition-based trigger",
}


def with_trigger(kind: str) -> str:
    """The main example as a user would edit it: the ``kind`` block uncommented, the others commented out."""
    blocks = MAIN_EXAMPLE.split("\n\n")
    out = []
    for block in blocks:
        lines = block.split("\n")
        title = next((k for k, t in _BLOCK_TITLES.items() if lines[0] == t), None)
        if title is None:
            out.append(block)
        elif title == kind:
            out.append("\n".join([lines[0], *(line.removeprefix("# ") for line in lines[1:])]))
        else:
            out.append("\n".join([lines[0], *(line if line.startswith("# ") else f"# {line}" for line in lines[1:])]))
    return "\n\n".join(out)

# Lists the spec gives in prose and tables.
EVENT_TYPES = [
    "agent_complete",
    "agent_failed",
    "chain_complete",
    "chain_failed",
    "registry_update",
    "artifact_created",
    "custom",
]
OPERATORS = ["gt", "lt", "gte", "lte", "eq", "ne", "contains", "exists"]
ACTION_TYPES = [
    "execute_agent",
    "execute_chain",
    "send_notification",
    "create_artifact",
    "update_registry",
    "http_request",
    "log_message",
    "custom",
]

_HEADER = "trigger: {type: event, event: {event_type: chain_complete}}\n"

# Fragments completed minimally: a name and a trigger around them, and each '# ...' filled in.
CONDITION_AUTOMATION = (
    "name: condition_snippet\n"
    + CONDITION_TRIGGER
    + "actions:\n  - {type: log_message, name: report, parameters: {message: \"score {condition.value}\"}}\n"
)
CHAINED_AUTOMATION = "name: chained_snippet\n" + _HEADER + CHAINED_ACTIONS.replace(
    "    # ...\n",
    "    name: run_chain\n    parameters: {chain_name: full_analysis, repository_root: \".\"}\n",
    1,
).replace("    # ...\n", "    name: notify\n    parameters: {message: \"chain finished\"}\n", 1)
RETRY_AUTOMATION = (
    "name: retry_snippet\n"
    + _HEADER
    + RETRY_LOGIC
    + "    name: call\n    parameters: {url: \"https://example.com/health\"}\n"
)
