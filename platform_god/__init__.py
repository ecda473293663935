"""Platform God's import path for the automations layer of this project (``platform_god.automations``)."""

__all__: list[str] = []
