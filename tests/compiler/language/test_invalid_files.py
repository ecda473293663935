"""One row per rule of the automation language: an invalid file and every diagnostic it must produce.

Each expected line is ``line:col: field: message`` exactly as ``validate`` prints it (without the path).
``{dir}`` in an expectation stands for the config folder the file was written to.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compiler.language.catalog import load_catalog
from tests.compiler.support import lines_for, make_config_dir


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# 9 anchors, each a list of 9 aliases to the previous one: ~430 million nodes if it were expanded.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)

# A valid automation the "other file" rows are checked against.
VALID = doc("""
    name: demo
    trigger: {type: event, event: {event_type: chain_complete}}
    actions:
      - {type: log_message, name: say, parameters: {message: hi}}
""")


@dataclass(frozen=True)
class Case:
    id: str
    content: str | bytes
    expected: list[str]
    name: str = "b.yaml"  # sorts after a.yaml, the name of any other file
    others: dict[str, str] = field(default_factory=dict)


CASES = [
    # --- strict types: what the file says is what it means -------------------------------------
    Case("string-for-integer", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters: {message: hi}
            retry_count: "3"
    """), ["7:18: actions[0].retry_count: expected an integer, got string '3'"]),
    Case("boolean-for-integer", doc("""
        name: demo
        trigger:
          type: event
          event: {event_type: chain_complete}
          cooldown_seconds: true
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["5:21: trigger.cooldown_seconds: expected an integer, got boolean true"]),
    Case("number-for-string", doc("""
        name: demo
        version: 1.0
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["2:10: version: expected a string (quote it), got number 1.0"]),
    Case("yes-is-a-boolean", doc("""
        name: demo
        status: yes
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "2:9: status: boolean true is not allowed; expected 'enabled' or 'disabled'"
        " (YAML reads yes/no/on/off as booleans: quote the value)"
    ]),
    Case("json-string-for-integer", doc("""
        {
          "name": "demo",
          "trigger": {"type": "event", "event": {"event_type": "chain_complete"}},
          "actions": [
            {"type": "log_message", "name": "say", "parameters": {"message": "hi"}, "timeout_seconds": "30"}
          ]
        }
    """), ["5:96: actions[0].timeout_seconds: expected a number, got string '30'"], name="b.json"),
    # --- unknown keys -----------------------------------------------------------------------------
    Case("unknown-top-level-key", doc("""
        name: demo
        colour: red
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "2:1: colour: unknown field 'colour'; allowed: name, description, version, status, tags, context,"
        " overlap, trigger, actions"
    ]),
    Case("unknown-action-key", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            retries: 2
            parameters: {message: hi}
    """), [
        "6:5: actions[0].retries: unknown field 'retries'; allowed: name, continue_on_failure, retry_count,"
        " retry_delay_seconds, retry_backoff, retry_jitter, timeout_seconds, idempotency, type, parameters"
    ]),
    Case("unknown-parameter", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: hi
              colour: red
    """), ["8:7: actions[0].parameters.colour: unknown field 'colour'; allowed: message, level"]),
    Case("missing-parameter", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              level: info
    """), ["7:7: actions[0].parameters.message: missing required field 'message'"]),
    # --- names -----------------------------------------------------------------------------------
    Case("automation-name-pattern", doc("""
        name: Daily Scan
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["1:7: name: string 'Daily Scan' is not allowed: must match ^[a-z][a-z0-9_-]{0,62}$"]),
    Case("automation-name-used-by-another-file", VALID, [
        "1:7: name: automation name 'demo' is already used by {dir}/a.yaml; names must be unique"
    ], others={"a.yaml": VALID}),
    Case("action-name-pattern", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: Say-Hi, parameters: {message: hi}}
    """), ["4:31: actions[0].name: string 'Say-Hi' is not allowed: must match ^[a-z][a-z0-9_]{0,62}$"]),
    Case("action-name-used-twice", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
          - {type: log_message, name: say, parameters: {message: again}}
    """), ["5:31: actions[1].name: action name 'say' is already used by actions[0]; names must be unique"]),
    # --- triggers --------------------------------------------------------------------------------
    Case("trigger-type-unknown", doc("""
        name: demo
        trigger:
          type: webhook
          event: {event_type: chain_complete}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["3:9: trigger.type: unknown type 'webhook'; allowed: 'event', 'time', 'condition'"]),
    Case("trigger-type-missing", doc("""
        name: demo
        trigger:
          event: {event_type: chain_complete}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["3:3: trigger: missing required field 'type'; allowed: 'event', 'time', 'condition'"]),
    Case("action-type-missing", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {name: say, parameters: {message: hi}}
    """), [
        "4:5: actions[0]: missing required field 'type'; allowed: 'execute_agent', 'execute_chain',"
        " 'send_notification', 'create_artifact', 'update_registry', 'http_request', 'log_message', 'custom'"
    ]),
    Case("action-type-unknown", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: shell, name: say, parameters: {command: ls}}
    """), [
        "4:12: actions[0].type: unknown type 'shell'; allowed: 'execute_agent', 'execute_chain',"
        " 'send_notification', 'create_artifact', 'update_registry', 'http_request', 'log_message', 'custom'"
    ]),
    Case("event-type-unknown", doc("""
        name: demo
        trigger:
          type: event
          event:
            event_type: chain_done
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "5:17: trigger.event.event_type: string 'chain_done' is not allowed; expected 'agent_complete',"
        " 'agent_failed', 'chain_complete', 'chain_failed', 'registry_update', 'artifact_created' or 'custom'"
    ]),
    Case("custom-event-without-custom-type", doc("""
        name: demo
        trigger:
          type: event
          event:
            event_type: custom
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["5:5: trigger.event: custom events need custom_type: the name given to publish_custom()"]),
    Case("filter-not-for-this-event-type", doc("""
        name: demo
        trigger:
          type: event
          event:
            event_type: chain_complete
            agent_name: PG_DISCOVERY
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["6:17: trigger.event.agent_name: agent_name does not apply to chain_complete events (allowed: chain_name)"]),
    Case("operator-unknown", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.metrics.health_score
            operator: below
            threshold: 50
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "6:15: trigger.condition.operator: string 'below' is not allowed; expected 'gt', 'lt', 'gte', 'lte',"
        " 'eq', 'ne', 'contains' or 'exists'"
    ]),
    Case("numeric-operator-string-threshold", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.metrics.health_score
            operator: lt
            threshold: "50"
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["7:16: trigger.condition.threshold: operator lt needs a numeric threshold, got string '50'"]),
    Case("numeric-operator-without-threshold", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.metrics.health_score
            operator: gte
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["5:5: trigger.condition: operator gte needs a numeric threshold"]),
    Case("jsonpath-does-not-parse", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.metrics[
            operator: exists
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["5:18: trigger.condition.metric_path: invalid JSONPath '$.metrics[': Parse error near the end of string!"]),
    # --- cron and timezone -------------------------------------------------------------------------
    Case("cron-value-out-of-range", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "61 * * * *"}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "4:27: trigger.time.cron_expression: invalid cron expression '61 * * * *':"
        " [61 * * * *] is not acceptable, out of range"
    ]),
    Case("cron-six-fields", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "0 0 * * * *"}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "4:27: trigger.time.cron_expression: cron needs five fields (minute hour day-of-month month"
        " day-of-week), got 6: '0 0 * * * *'"
    ]),
    Case("cron-never-fires", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "0 0 31 2 *"}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["4:27: trigger.time.cron_expression: cron expression '0 0 31 2 *' can never fire (no such date)"]),
    Case("timezone-unknown", doc("""
        name: demo
        trigger:
          type: time
          time:
            cron_expression: "0 2 * * *"
            timezone_str: Mars/Olympus
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "6:19: trigger.time.timezone_str: unknown timezone 'Mars/Olympus': use an IANA name such as UTC"
        " or Europe/Berlin"
    ]),
    # A region folder of the tz database raised IsADirectoryError (a traceback that hid every other file).
    Case("timezone-is-a-region-folder", doc("""
        name: demo
        trigger:
          type: time
          time:
            cron_expression: "0 2 * * *"
            timezone_str: Europe
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "6:19: trigger.time.timezone_str: 'Europe' is a region, not a timezone; use a name such as"
        " Europe/Amsterdam, Europe/Andorra"
    ]),
    Case("timezone-is-a-tz-data-file", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "0 2 * * *", timezone_str: zone.tab}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "4:54: trigger.time.timezone_str: unknown timezone 'zone.tab': use an IANA name such as UTC or Europe/Berlin"
    ]),
    Case("timezone-misspelled", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "0 2 * * *", timezone_str: Europe/Berln}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "4:54: trigger.time.timezone_str: unknown timezone 'Europe/Berln': use an IANA name such as UTC or"
        " Europe/Berlin; did you mean 'Europe/Berlin'?"
    ]),
    Case("condition-match-mode-unknown", doc("""
        name: demo
        trigger:
          type: condition
          condition: {metric_path: $.a, operator: lt, threshold: 5, match: some}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["4:68: trigger.condition.match: string 'some' is not allowed; expected 'any' or 'all'"]),
    Case("condition-threshold-nan", doc("""
        name: demo
        trigger:
          type: condition
          condition: {metric_path: $.a, operator: eq, threshold: .nan}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["4:58: trigger.condition.threshold: NaN and infinity are not allowed; give a finite number"]),
    # --- what an action will certainly refuse at run time ------------------------------------------
    Case("url-file-scheme", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "file:///etc/passwd"}}
    """), [
        "4:56: actions[0].parameters.url: scheme 'file' is not allowed; only http and https URLs can be requested"
    ]),
    Case("url-gopher-scheme-after-a-template", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "gopher://{event.payload.host}/x"}}
    """), [
        "4:56: actions[0].parameters.url: scheme 'gopher' is not allowed; only http and https URLs can be requested"
    ]),
    Case("url-without-scheme", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "api.example.com/v1/items"}}
    """), [
        "4:56: actions[0].parameters.url: 'api.example.com/v1/items' has no scheme; write http:// or https:// in front"
    ]),
    Case("header-value-with-crlf", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: http_request
            name: call
            parameters:
              url: https://example.com/hook
              headers: {X-Trace: "a\\r\\nSet-Cookie: admin=1"}
    """), [
        "8:26: actions[0].parameters.headers.X-Trace: a header value cannot hold a line break or control"
        " character; it is sent as one line"
    ]),
    Case("header-name-with-a-space", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: http_request
            name: call
            parameters:
              url: https://example.com/hook
              headers: {"X Trace": "a"}
    """), [
        "8:28: actions[0].parameters.headers.X Trace: header name 'X Trace' is not allowed: letters, digits and"
        " !#$%&'*+-.^_`|~ only"
    ]),
    Case("status-out-of-range", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: http_request
            name: call
            parameters: {url: "https://example.com", expected_status: [200, 999]}
    """), ["6:69: actions[0].parameters.expected_status[1]: HTTP status 999 does not exist; statuses are 100 to 599"]),
    Case("webhook-channel-scheme", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: send_notification
            name: tell
            parameters: {message: hi, channels: [log, {webhook: "ftp://hooks.example.com/x"}]}
    """), [
        "6:57: actions[0].parameters.channels[1].webhook: scheme 'ftp' is not allowed; only http and https URLs"
        " can be requested"
    ]),
    Case("metrics-source-url-scheme", doc("""
        name: demo
        trigger:
          type: condition
          condition:
            metric_path: $.a
            operator: exists
            source: {type: http, url: "file:///var/metrics.json"}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), [
        "7:31: trigger.condition.source.url: scheme 'file' is not allowed; only http and https URLs can be requested"
    ]),
    Case("cloud-metadata-address", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: http_request, name: call, parameters: {url: "http://169.254.169.254/latest/meta-data/"}}
    """), [
        "4:56: actions[0].parameters.url: 169.254.169.254 is a cloud metadata address: always refused at run time"
    ]),
    # --- bounds ----------------------------------------------------------------------------------
    Case("negative-retries", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters: {message: hi}
            retry_count: -1
    """), ["7:18: actions[0].retry_count: must be >= 0, got integer -1"]),
    Case("zero-timeout", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters: {message: hi}
            timeout_seconds: 0
    """), ["7:22: actions[0].timeout_seconds: must be > 0, got integer 0"]),
    Case("nan", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters: {message: hi}
            retry_delay_seconds: .nan
    """), ["7:26: actions[0].retry_delay_seconds: NaN and infinity are not allowed; give a finite number"]),
    Case("nan-inside-free-form-data", doc("""
        name: demo
        context:
          limits: {max: .inf}
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["3:17: context.limits.max: NaN and infinity are not allowed; give a finite number"]),
    Case("empty-action-list", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions: []
    """), ["3:10: actions: must not be empty (at least 1)"]),
    # --- union values: the member the mapping was meant for speaks ---------------------------------
    Case("channel-mapping-fits-no-form", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: send_notification
            name: notify
            parameters:
              message: hi
              channels: [log, {slack: alerts}]
    """), [
        "8:23: actions[0].parameters.channels[1]: a mapping with key 'slack' fits none of the allowed forms;"
        " expected 'log' or 'registry' or {block: ...} or {webhook: ...}"
    ]),
    Case("channel-mapping-with-wrong-value", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: send_notification
            name: notify
            parameters:
              message: hi
              channels: [{block: 5}]
    """), ["8:26: actions[0].parameters.channels[0].block: expected a string (quote it), got integer 5"]),
    Case("inline-chain-mistake-inside", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: execute_chain
            name: analyse
            parameters:
              repository_root: .
              chain:
                name: inline
                steps:
                  - {name: scan, agnet_name: PG_SECURITY_SCAN}
    """), [
        "11:13: actions[0].parameters.chain.steps[0].agent_name: missing required field 'agent_name'",
        "11:26: actions[0].parameters.chain.steps[0].agnet_name: unknown field 'agnet_name'; allowed: name,"
        " agent_name, mode, options, continue_on_failure",
    ]),
    Case("chain-neither-name-nor-mapping", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: execute_chain
            name: analyse
            parameters: {repository_root: ., chain: [full_analysis]}
    """), [
        "6:45: actions[0].parameters.chain: a list is not allowed; expected a string or {name: ..., steps: ...}"
    ]),
    # --- templates -------------------------------------------------------------------------------
    Case("template-indexing", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "first: {a[0]}"
    """), [
        "7:16: actions[0].parameters.message: invalid placeholder '{a[0]}': allowed are {name}, dotted {a.b.c}"
        " and {secret:NAME} (no indexing, conversions, format specs or spaces) (at character 8)"
    ]),
    Case("template-conversion", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "{a!r}"
    """), [
        "7:16: actions[0].parameters.message: invalid placeholder '{a!r}': allowed are {name}, dotted {a.b.c}"
        " and {secret:NAME} (no indexing, conversions, format specs or spaces) (at character 1)"
    ]),
    Case("template-format-spec", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "{a:>3}"
    """), [
        "7:16: actions[0].parameters.message: invalid placeholder '{a:>3}': allowed are {name}, dotted {a.b.c}"
        " and {secret:NAME} (no indexing, conversions, format specs or spaces) (at character 1)"
    ]),
    Case("template-single-closing-brace", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "done }"
    """), ["7:16: actions[0].parameters.message: single '}': write '}}' for a literal brace (at character 6)"]),
    Case("template-unclosed-brace", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "at {timestamp"
    """), ["7:16: actions[0].parameters.message: unclosed '{': write '{{' for a literal brace (at character 4)"]),
    Case("template-unknown-action-output", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: first, parameters: {message: hi}}
          - type: log_message
            name: second
            parameters:
              message: "{outputs.unknown.x}"
    """), ["8:16: actions[1].parameters.message: '{outputs.unknown.x}' refers to unknown action 'unknown'"]),
    Case("template-misspelt-action-output", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: first, parameters: {message: hi}}
          - type: log_message
            name: second
            parameters:
              message: "{outputs.frist.message}"
    """), [
        "8:16: actions[1].parameters.message: '{outputs.frist.message}' refers to unknown action 'frist';"
        " did you mean 'first'?"
    ]),
    Case("template-later-action-output", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: first, parameters: {message: hi}}
          - type: log_message
            name: second
            parameters:
              message: "{outputs.third.message}"
          - {type: log_message, name: third, parameters: {message: bye}}
    """), [
        "8:16: actions[1].parameters.message: '{outputs.third.message}' refers to action 'third', which runs"
        " at or after this one; only earlier actions have outputs (first)"
    ]),
    Case("template-event-data-in-time-trigger", doc("""
        name: demo
        trigger:
          type: time
          time: {cron_expression: "0 2 * * *"}
        actions:
          - type: log_message
            name: say
            parameters:
              message: "{event.payload.status}"
    """), [
        "9:16: actions[0].parameters.message: '{event.payload.status}' is only defined for event triggers;"
        " this automation has a time trigger"
    ]),
    Case("template-misspelt-builtin", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: create_artifact
            name: save
            parameters:
              artifact_type: report
              filename: "report_{timestmp}.json"
    """), [
        "8:17: actions[0].parameters.filename: unknown variable 'timestmp'; did you mean 'timestamp'?"
        " (or add 'timestmp' under context:)"
    ]),
    Case("context-shadows-builtin", doc("""
        name: demo
        context:
          run_id: mine
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["3:11: context.run_id: context key 'run_id' shadows a built-in variable; choose another name"]),
    # --- references to other files ------------------------------------------------------------------
    Case("unknown-chain-name", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: execute_chain
            name: analyse
            parameters:
              chain_name: full_analyis
              repository_root: .
    """), [
        "7:19: actions[0].parameters.chain_name: unknown chain 'full_analyis'; did you mean 'full_analysis'?"
        " (chains in configs/chains/: full_analysis)"
    ]),
    # --- the loader: safe YAML only, one document, UTF-8 -------------------------------------------
    Case("alias-bomb", ALIAS_BOMB, [
        "6:12: <file>: document expands to more than 200000 nodes through aliases (alias bomb?); use fewer aliases"
    ]),
    Case("python-object-tag", doc("""
        name: demo
        trigger: !!python/object:os.system {type: event}
        actions: []
    """), [
        "2:10: <file>: tag '!!python/object:os.system' is not allowed; only plain YAML values (mappings,"
        " lists, strings, numbers, booleans, null)"
    ]),
    Case("duplicate-key", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        name: other
        actions:
          - {type: log_message, name: say, parameters: {message: hi}}
    """), ["3:1: <file>: duplicate key 'name' (first defined at line 1)"]),
    Case("tab-indentation", doc("""
        name: demo
        trigger: {type: event, event: {event_type: chain_complete}}
        actions:
          - type: log_message
        \tname: say
    """), ["5:1: <file>: tab character in indentation; indent with spaces"]),
    Case("empty-file", "", ["1:1: <file>: file is empty: expected a mapping with name, trigger and actions"]),
    Case("two-documents", VALID + "---\n" + VALID, [
        "5:1: <file>: file holds more than one YAML document; put one automation per file"
    ]),
    Case("not-utf8", VALID.encode().replace(b"message: hi", b"message: h\xe9"), [
        "4:59: <file>: file is not valid UTF-8 (byte 0xe9 at offset 138); save it as UTF-8"
    ]),
    Case("root-is-a-list", "- name: demo\n", [
        "1:1: <root>: expected a mapping with name, trigger and actions, got list"
    ]),
]


def _validate(tmp_path: Path, case: Case) -> tuple[object, Path, Path]:
    automations = make_config_dir(tmp_path)
    for name, text in case.others.items():
        (automations / name).write_text(text, encoding="utf-8")
    path = automations / case.name
    path.write_bytes(case.content.encode("utf-8") if isinstance(case.content, str) else case.content)
    return load_catalog(automations), path, automations


def test_the_table_covers_at_least_thirty_files() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_file_reports_exact_diagnostics(tmp_path: Path, case: Case) -> None:
    catalog, path, automations = _validate(tmp_path, case)
    expected = [line.replace("{dir}", str(automations)) for line in case.expected]
    assert lines_for(catalog, path) == expected


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_file_is_left_out_of_the_catalog(tmp_path: Path, case: Case) -> None:
    catalog, path, _ = _validate(tmp_path, case)
    assert str(path) not in {loaded.path for loaded in catalog.automations.values()}
