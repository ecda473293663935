"""Names the compiled objects share with the runtime: the tag on every deployment and run of ours."""

from __future__ import annotations

__all__ = ["PLATFORM_TAG"]

# On every deployment, every flow run (deployment runs inherit it; manual runs get it from the runtime)
# and so on their events: the zombie-run automation and `deploy --prune` select our objects by it.
PLATFORM_TAG = "platform-god"
