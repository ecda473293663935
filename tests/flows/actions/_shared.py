"""Small helpers shared by the per-action end-to-end tests."""

from __future__ import annotations

import textwrap

__all__ = ["EVENT_TRIGGER", "TIME_TRIGGER", "automation"]

TIME_TRIGGER = """
trigger:
  type: time
  time:
    cron_expression: "0 2 * * *"
"""

EVENT_TRIGGER = """
trigger:
  type: event
  event:
    event_type: custom
    custom_type: probe
"""


def automation(name: str, actions: str, trigger: str = TIME_TRIGGER) -> str:
    """An automation document: ``actions`` is the YAML list body (any indentation)."""
    return f"name: {name}\n{trigger}actions:\n{textwrap.indent(textwrap.dedent(actions).strip(), '  ')}\n"
