"""Relaying a stream to the client, shared by every wire format through a small encoder."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from aiohttp import web

from satisfice.errors import GatewayError, InternalError, UpstreamFailed, UpstreamTimeout
from satisfice.gateway import Call, Gateway
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.server.http import sse_error_event

log = logging.getLogger("satisfice.server")
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}


class StreamEncoder(Protocol):
    """Turns the internal OpenAI SSE events into the client's wire format."""

    def start(self) -> bytes: ...

    def feed(self, event: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def error(self, err: GatewayError) -> bytes: ...


def is_usage_only(event: bytes) -> bool:
    return b'"usage"' in event and (b'"choices":[]' in event or b'"choices": []' in event)


class OpenAIEncoder:
    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def start(self) -> bytes:
        return b""

    def feed(self, event: bytes) -> bytes:
        # We always ask upstreams for usage (for the ledger); drop it when the client did not ask.
        if not self.include_usage and is_usage_only(event):
            return b""
        return event

    def finish(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, err: GatewayError) -> bytes:
        return sse_error_event(err)


def mid_stream_error(e: Exception) -> GatewayError:
    if isinstance(e, GatewayError):
        return e
    if isinstance(e, AttemptFailed) and e.kind is FailureKind.TIMEOUT:
        return UpstreamTimeout(f"The upstream stream failed after it started: {e.message}.")
    if isinstance(e, AttemptFailed):
        return UpstreamFailed(f"The upstream stream failed after it started: {e.message}")
    return InternalError(f"Internal error in the gateway while streaming ({type(e).__name__}).")


async def relay(
    request: web.Request,
    gateway: Gateway,
    call: Call,
    body: dict[str, Any],
    encoder: StreamEncoder,
    opened: tuple[Any, bytes],
) -> web.StreamResponse:
    """Send an opened stream to the client. Once the first byte is out there is no failover: an
    upstream failure ends the stream with an error event. A client that leaves aborts the upstream."""
    stream, first = opened
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **call.headers(estimate=True)})
    ttft: float | None = None
    outcome, status, error = "ok", 200, ""
    try:
        await resp.prepare(request)
        await resp.write(encoder.start() + encoder.feed(first))
        ttft = time.perf_counter() - call.started
        it = aiter(stream)
        pending: list[bytes] = []  # events that arrived together go out in one write
        while True:
            try:
                event = await anext(it)
            except StopAsyncIteration:
                break
            out = encoder.feed(event)
            if out:
                pending.append(out)
            if pending and not stream.more:
                await resp.write(b"".join(pending))
                pending.clear()
        gateway.finish_stream(call, stream, body)
        pending.append(encoder.finish())
        await resp.write(b"".join(pending))
        await resp.write_eof()
        await gateway.stream_done(call, stream)
    except (ConnectionResetError, asyncio.CancelledError) as e:
        await stream.aclose()
        gateway.finish_stream(call, stream, body)
        gateway.submit(
            call, status=499, outcome="client_closed", error="client disconnected mid-stream", ttft_s=ttft
        )
        if isinstance(e, asyncio.CancelledError):
            raise
        return resp
    except Exception as e:
        if not isinstance(e, AttemptFailed | GatewayError):
            log.exception("stream relay of %s failed", call.row.id)
        err = mid_stream_error(e)
        if isinstance(e, AttemptFailed) and call.target is not None:
            gateway.executor.breakers.record_failure(call.target.dep.key)
        outcome, status, error = "stream_error", err.status, err.message
        await stream.aclose()
        gateway.finish_stream(call, stream, body)
        try:
            await resp.write(encoder.error(err))
            await resp.write_eof()
        except ConnectionResetError:
            pass
    gateway.submit(call, status=status, outcome=outcome, error=error or None, ttft_s=ttft)
    return resp
