"""Events: publishing Platform God events to Prefect, matching them as deployment triggers do, and the webhook receiver."""
