"""The webhook receiver: an ASGI app (Starlette, served by uvicorn) that turns authenticated requests into Prefect events.

Modules: ``auth`` (signatures and tokens), ``intake`` (one request → accepted event or refusal), ``ratelimit``,
``keys`` (secrets, cached), ``emitter`` (batched, acknowledged posts to Prefect), ``app`` (routes, logging),
``server`` (uvicorn in the foreground or in a thread), ``settings`` (the listening address).
"""

__all__: list[str] = []
