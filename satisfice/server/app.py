"""The aiohttp application: endpoints, start-up and shutdown. No per-request middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from satisfice.keys import KeyBook
from satisfice.server import gc_tuning
from satisfice.server.chat import ChatEndpoints
from satisfice.server.http import BODY_TIMEOUT, expect_within
from satisfice.server.misc import MiscEndpoints
from satisfice.server.relay import LIVE_STREAMS, LiveStreams
from satisfice.wiring import Parts

log = logging.getLogger("satisfice.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# How long a stopping server lets requests in flight finish; streams still running then are ended
# with an error event (relay.LiveStreams), the rest are cut by aiohttp after as long again.
SHUTDOWN_GRACE_S = 5.0
GATE_SYNC_S = 5.0  # how often a worker checks whether another one promoted new statistics


async def run_gate_forever(parts: Parts) -> None:
    """The promotion gate, off the event loop: every gate interval, run by one of the workers that
    share the learning store; every worker picks up a promotion within GATE_SYNC_S."""
    learner = parts.planner.learner
    assert learner is not None
    loop = asyncio.get_running_loop()
    every = parts.settings.learn_gate_interval_s
    while True:
        try:
            await loop.run_in_executor(None, learner.tick, every)
        except Exception:
            log.exception("promotion gate failed")
        await asyncio.sleep(min(every, GATE_SYNC_S))


def make_app(parts: Parts, *, other_workers: bool = False, gate_loop: bool = True) -> web.Application:
    """`other_workers`: this is one of several processes sharing the port and the state files.
    `gate_loop`: run the promotion gate periodically (off for `eval --live --learn`, which runs it
    itself once the teaching feedback is in: a periodic check could promote it first)."""
    settings = parts.settings
    # client_max_size: aiohttp refuses bigger bodies itself; we render its refusal OpenAI-style.
    # auto_decompress off: read_json decodes bodies, so every refusal is the endpoint's (server/http.py).
    handler_args = {"max_field_size": 65536, "auto_decompress": False}
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args=handler_args)
    app[BODY_TIMEOUT] = settings.body_timeout_s
    streams = app[LIVE_STREAMS] = LiveStreams()
    chat = ChatEndpoints(parts.gateway, settings.max_body_bytes, KeyBook(settings.keys))
    misc = MiscEndpoints(parts.gateway, parts.directory, settings.max_body_bytes, settings.simulated)
    # Every route: a body declared over the limit gets its 413 before the client sends it.
    expect = expect_within(settings.max_body_bytes)

    def route(method: str, path: str, handler: Handler) -> None:
        if method == "GET":  # and HEAD, which HTTP requires wherever GET is (aiohttp drops the body)
            app.router.add_get(path, handler, expect_handler=expect)
        else:
            app.router.add_route(method, path, handler, expect_handler=expect)

    for prefix in ("/v1", ""):
        route("POST", f"{prefix}/chat/completions", chat.chat_completions)
        route("GET", f"{prefix}/models", misc.models)
        route("GET", f"{prefix}/models/{{model:.+}}", misc.model)  # ids may hold slashes
        route("POST", f"{prefix}/embeddings", misc.embeddings)
    route("POST", "/v1/messages", chat.messages)
    route("POST", "/v1/messages/count_tokens", chat.count_tokens)
    route("*", "/v1/messages{tail:.*}", chat.messages_fallback)  # Anthropic-style 404/405
    route("GET", "/health", misc.health)
    learner, cache = parts.planner.learner, parts.gateway.cache
    if learner is not None or cache is not None:
        from satisfice.server.feedback import FeedbackEndpoint

        feedback = FeedbackEndpoint(learner, cache, settings.max_body_bytes, other_workers=other_workers)
        route("POST", "/v1/feedback", feedback.handle)
    route("*", "/{tail:.*}", misc.fallback)

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
        learning = gate_loop and parts.planner.learner is not None
        gate = asyncio.ensure_future(run_gate_forever(parts)) if learning else None
        yield
        streams.close()
        warm_router.cancel()
        if gate is not None:
            gate.cancel()
        if parts.planner.learner is not None:
            parts.planner.learner.store.close()
        parts.planner.affinity.store.close()
        await parts.gateway.runner.close()
        if parts.gateway.cache is not None:
            await parts.gateway.cache_writes_done()
            await parts.gateway.cache.close()
        if parts.gateway.limiter is not None:
            await parts.gateway.limiter.close()
        parts.ledger.close()

    async def stopping(app: web.Application) -> None:
        # on_shutdown: the server takes no more requests and now waits for those in flight.
        streams.stop_in(SHUTDOWN_GRACE_S)

    app.on_shutdown.append(stopping)
    app.cleanup_ctx.append(lifecycle)
    return app
