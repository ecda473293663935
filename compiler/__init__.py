"""Compiler: loads, validates and explains YAML automations, and emits Prefect deployments."""
