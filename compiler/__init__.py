"""Compiler: loads, validates and explains YAML automations, and emits Prefect deployments.

The public API is ``__all__`` below (imported on first use, so ``import compiler`` stays cheap); every
other module is internal and may change. Layers: the language (models, loading, templates, names) at the
bottom, the commands (build, deploy, serve, cli ...) on top; see README "Layout".
"""

from __future__ import annotations

from compiler.lazy_exports import lazy_exports

# name → module that defines it
_EXPORTS: dict[str, str] = {
    # the language
    "ACTION_SPECS": "compiler.model.actions",
    "ActionParameters": "compiler.model.actions",
    "ActionSpec": "compiler.model.actions",
    "Automation": "compiler.model.automation",
    "automation_model": "compiler.model.automation",
    "ChainDefinition": "compiler.model.chains",
    "Catalog": "compiler.catalog",
    "LoadedAutomation": "compiler.catalog",
    "load_automation_data": "compiler.catalog",
    "load_catalog": "compiler.catalog",
    "Diagnostic": "compiler.diagnostics",
    "normalized": "compiler.normalize",
    "register_custom_action": "compiler.plugins",
    "registered_custom_actions": "compiler.plugins",
    "RuntimeSettings": "compiler.settings",
    "get_settings": "compiler.settings",
    "BuildOptions": "compiler.deploy_config",
    # commands (build, deploy, serve ... are run through main or `python -m compiler`; their modules
    # are internal, and `compiler.build` is the module, not a function)
    "main": "compiler.cli",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("compiler", _EXPORTS, globals())
