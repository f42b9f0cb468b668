"""The aiohttp application: endpoints, start-up and shutdown. No per-request middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from satisfice.keys import KeyBook
from satisfice.server import gc_tuning
from satisfice.server.chat import ChatEndpoints
from satisfice.server.http import BODY_TIMEOUT
from satisfice.server.misc import MiscEndpoints
from satisfice.wiring import Parts

log = logging.getLogger("satisfice.server")


async def run_gate_forever(parts: Parts) -> None:
    """The promotion gate, off the event loop: at start-up, then every gate interval."""
    learner = parts.planner.learner
    assert learner is not None
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(None, learner.run_gate)
        except Exception:
            log.exception("promotion gate failed")
        await asyncio.sleep(parts.settings.learn_gate_interval_s)


def make_app(parts: Parts, *, other_workers: bool = False) -> web.Application:
    """`other_workers`: this is one of several processes sharing the port and the state files."""
    settings = parts.settings
    # client_max_size: aiohttp refuses bigger bodies itself; we render its refusal OpenAI-style.
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args={"max_field_size": 65536})
    app[BODY_TIMEOUT] = settings.body_timeout_s
    chat = ChatEndpoints(parts.gateway, settings.max_body_bytes, KeyBook(settings.keys))
    misc = MiscEndpoints(parts.gateway, parts.directory, settings.max_body_bytes, settings.simulated)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat.chat_completions)
        app.router.add_get(f"{prefix}/models", misc.models)
        app.router.add_get(f"{prefix}/models/{{model:.+}}", misc.model)  # ids may hold slashes
        app.router.add_post(f"{prefix}/embeddings", misc.embeddings)
    app.router.add_post("/v1/messages", chat.messages)
    app.router.add_post("/v1/messages/count_tokens", chat.count_tokens)
    app.router.add_route("*", "/v1/messages{tail:.*}", chat.messages_fallback)  # Anthropic-style 404/405
    app.router.add_get("/health", misc.health)
    learner, cache = parts.planner.learner, parts.gateway.cache
    if learner is not None or cache is not None:
        from satisfice.server.feedback import FeedbackEndpoint

        feedback = FeedbackEndpoint(learner, cache, settings.max_body_bytes, other_workers=other_workers)
        app.router.add_post("/v1/feedback", feedback.handle)
    app.router.add_route("*", "/{tail:.*}", misc.fallback)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await parts.gateway.runner.start()
        if parts.gateway.cache is not None:
            await parts.gateway.cache.start()
        # Load the routes' quality predictors off the event loop, so serving starts at once and the
        # first auto-routed request rarely waits. The tokenizer (~75 MB) stays lazy: exact counts
        # are needed only near a context window or when an upstream reports no usage.
        loop = asyncio.get_running_loop()
        gc_tuning.tune()

        async def warm() -> None:
            try:
                await loop.run_in_executor(None, parts.planner.warm)
            except Exception:  # the first routed request will load it again, and say why it fails
                log.exception("loading the router failed")
            gc_tuning.freeze_startup_objects()  # what start-up built stays out of later collections

        warm_router = asyncio.ensure_future(warm())
        gate = asyncio.ensure_future(run_gate_forever(parts)) if parts.planner.learner is not None else None
        yield
        warm_router.cancel()
        if gate is not None:
            gate.cancel()
        if parts.planner.learner is not None:
            parts.planner.learner.store.close()
        await parts.gateway.runner.close()
        if parts.gateway.cache is not None:
            await parts.gateway.cache.close()
        if parts.gateway.limiter is not None:
            await parts.gateway.limiter.close()
        parts.ledger.close()

    app.cleanup_ctx.append(lifecycle)
    return app
