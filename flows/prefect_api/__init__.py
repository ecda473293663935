"""Prefect's API as the runtime uses it: the one seam with Prefect internals, shared clients, quick retries and run history."""
