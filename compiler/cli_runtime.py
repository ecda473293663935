"""Command line: run, runs, dry-run, build, deploy and serve (added as the runtime lands)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register the runtime and deployment commands on the main parser."""
    del sub
