"""``replay``: what the working tree's automations would have done on the events, schedules and condition checks of a past window (read-only)."""
