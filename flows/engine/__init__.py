"""The run engine: an automation's Prefect flow (built per automation), its admission gates, its actions as tasks, its summary."""
