"""``plan``: what ``deploy`` would add, change and remove on the Prefect server, field by field (read-only)."""
