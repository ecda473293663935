"""Warm runs: a long-lived process with Prefect imported forks one child per `run` (benchmark P4)."""
