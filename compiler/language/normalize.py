"""The normalized form of an automation: defaults filled, keys in a stable reading order, plain JSON data."""

from __future__ import annotations

import json
from typing import Any

import yaml

from compiler.language.model.automation import Automation

__all__ = ["normalized", "to_json", "to_yaml"]

_TOP_ORDER = ("name", "description", "version", "status", "tags", "context", "overlap", "trigger", "actions")
_ACTION_ORDER = ("type", "name", "parameters")


def _ordered(data: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    head = {k: data[k] for k in first if k in data}
    return head | {k: v for k, v in data.items() if k not in head}


def normalized(automation: Automation) -> dict[str, Any]:
    """What the compiler understood: every default filled in; unset optional fields left out."""
    data = automation.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["actions"] = [_ordered(a, _ACTION_ORDER) for a in data["actions"]]
    data["trigger"] = _ordered(data["trigger"], ("type",))
    return _ordered(data, _TOP_ORDER)


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases: exported files read like hand-written ones."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
