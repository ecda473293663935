"""The embedded default: a local Prefect server on SQLite started on demand, its seeded database and process records."""
