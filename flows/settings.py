"""The project settings as the runtime reads them (defined in the language: ``compiler.settings``)."""

from __future__ import annotations

from compiler.settings import RuntimeSettings, get_settings

__all__ = ["RuntimeSettings", "get_settings"]
