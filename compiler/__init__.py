"""Compiler: loads, validates and explains YAML automations, and emits Prefect deployments.

The public API is ``__all__`` below (imported on first use, so ``import compiler`` stays cheap); every
other module is internal and may change. Layers: the language (models, loading, templates, names) at the
bottom, the commands (build, deploy, serve, cli ...) on top; see README "Layout".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.language.lazy_exports import lazy_exports

# name → module that defines it
_EXPORTS: dict[str, str] = {
    # the language
    "ACTION_SPECS": "compiler.language.model.actions",
    "ActionParameters": "compiler.language.model.actions",
    "ActionSpec": "compiler.language.model.actions",
    "Automation": "compiler.language.model.automation",
    "automation_model": "compiler.language.model.automation",
    "ChainDefinition": "compiler.language.model.chains",
    "Catalog": "compiler.language.catalog",
    "LoadedAutomation": "compiler.language.catalog",
    "load_automation_data": "compiler.language.catalog",
    "load_catalog": "compiler.language.catalog",
    "Diagnostic": "compiler.language.diagnostics",
    "normalized": "compiler.language.normalize",
    "register_custom_action": "compiler.language.plugins",
    "registered_custom_actions": "compiler.language.plugins",
    "RuntimeSettings": "compiler.language.settings",
    "get_settings": "compiler.language.settings",
    "BuildOptions": "compiler.language.deploy_config",
    # commands (build, deploy, serve ... are run through main or `python -m compiler`; their modules
    # are internal, and `compiler.commands.build` is the module, not a function)
    "main": "compiler.commands.cli",
}

__all__ = [
    "ACTION_SPECS",
    "ActionParameters",
    "ActionSpec",
    "Automation",
    "BuildOptions",
    "Catalog",
    "ChainDefinition",
    "Diagnostic",
    "LoadedAutomation",
    "RuntimeSettings",
    "automation_model",
    "get_settings",
    "load_automation_data",
    "load_catalog",
    "main",
    "normalized",
    "register_custom_action",
    "registered_custom_actions",
]

if TYPE_CHECKING:  # what the lazy exports resolve to, for type checkers and editors (tests/test_public_api.py keeps both in step)
    from compiler.commands.cli import main
    from compiler.language.catalog import Catalog, LoadedAutomation, load_automation_data, load_catalog
    from compiler.language.deploy_config import BuildOptions
    from compiler.language.diagnostics import Diagnostic
    from compiler.language.model.actions import ACTION_SPECS, ActionParameters, ActionSpec
    from compiler.language.model.automation import Automation, automation_model
    from compiler.language.model.chains import ChainDefinition
    from compiler.language.normalize import normalized
    from compiler.language.plugins import register_custom_action, registered_custom_actions
    from compiler.language.settings import RuntimeSettings, get_settings


__getattr__, __dir__ = lazy_exports("compiler", _EXPORTS, globals())
