"""Runtime that Prefect workers import: compiled automation flows, actions, agents and events."""
