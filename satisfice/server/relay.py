"""Relaying a stream to the client, shared by every wire format through a small encoder."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import re
import sys
import termios
import time
from typing import Any, Protocol

import orjson
from aiohttp import web

from satisfice.api.anthropic_messages_stream import INCOMPLETE
from satisfice.cache.assemble import choice_indices, finished_choices
from satisfice.errors import GatewayError, InternalError, ServiceUnavailable, UpstreamFailed, UpstreamTimeout
from satisfice.gateway import Call, Gateway
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.stream_start import in_band_error
from satisfice.server.http import sse_error_event
from satisfice.usage import Usage

log = logging.getLogger("satisfice.server")
_USAGE_KEY = re.compile(rb'"usage"\s*:')  # the key, not a delta whose text is "usage"
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}


class StreamEncoder(Protocol):
    """Turns the internal OpenAI SSE events into the client's wire format."""

    def start(self) -> bytes: ...

    def feed(self, event: bytes) -> bytes: ...

    def ensure_complete(self) -> None:
        """Raise when the stream cannot end well (e.g. no finish reason arrived)."""
        ...

    def finish(self, counted: Usage | None) -> bytes:
        """The stream's tail. `counted`: the gateway's own count of the tokens, when the upstream
        reported no usage (the ledger row's), which the client is owed as if it had."""
        ...

    def error(self, err: GatewayError) -> bytes: ...


def is_usage_only(event: bytes) -> bool:
    return b'"usage"' in event and (b'"choices":[]' in event or b'"choices": []' in event)


class OpenAIEncoder:
    """A stream ends with [DONE] only when a finish reason arrived; the upstream's own [DONE] is not
    known here (the runner drops it), and some OpenAI-compatible servers never send one. So a stream
    that ended cleanly without a finish reason was cut short: `finish` raises, as on /v1/messages."""

    def __init__(self, include_usage: bool, choices: int = 1) -> None:
        self.include_usage = include_usage
        self.finished = False  # a finish reason arrived (any choice's)
        self._head: bytes | None = None  # the first event, for a usage chunk the gateway adds
        # With n > 1, every choice that started must finish: one cut short after another finished
        # was complete. A choice that never started is the upstream ignoring n, not a cut. (Reading
        # every event's choices costs a parse, so only then.)
        self._started: set[int] | None = set() if choices > 1 else None
        self._ended: set[int] = set()

    def start(self) -> bytes:
        return b""

    def feed(self, event: bytes) -> bytes:
        if self._started is not None:
            self._started.update(choice_indices(event))
            self._ended.update(finished_choices(event))
            self.finished = bool(self._ended) and self._started <= self._ended
        elif not self.finished and finished_choices(event):  # parses only an event naming a finish
            self.finished = True
        # We always ask upstreams for usage (for the ledger); drop it when the client did not ask.
        if not self.include_usage:
            return b"" if is_usage_only(event) else event
        if self._head is None:
            self._head = event
        if b"}" in event and _USAGE_KEY.search(event) is None:
            # OpenAI's spec: with include_usage every chunk but the last has "usage": null. OpenAI
            # upstreams send it; translated dialects (Anthropic, Gemini) and cached replays do not.
            end = event.rindex(b"}")
            empty = event[:end].rstrip().endswith(b"{")  # `data: {}`: no comma before the key
            event = event[:end] + (b'"usage":null' if empty else b',"usage":null') + event[end:]
        return event

    def ensure_complete(self) -> None:
        if not self.finished:
            raise UpstreamFailed(INCOMPLETE)

    def finish(self, counted: Usage | None) -> bytes:
        done = b"data: [DONE]\n\n"
        if counted is None or not self.include_usage:
            return done
        return self._usage_chunk(counted) + done

    def _usage_chunk(self, counted: Usage) -> bytes:
        """The usage chunk a client that asked for one is owed (the spec: one before [DONE])."""
        head: Any = {}
        with contextlib.suppress(orjson.JSONDecodeError, ValueError):
            head = orjson.loads(self._head.partition(b"data:")[2]) if self._head else {}
        head = head if isinstance(head, dict) else {}
        chunk = {
            "id": head.get("id", ""),
            "object": "chat.completion.chunk",
            "created": head.get("created", int(time.time())),
            "model": head.get("model", ""),
            "choices": [],
            "usage": counted.to_openai(),
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def error(self, err: GatewayError) -> bytes:
        return sse_error_event(err)


# A write that leaves this many bytes waiting in the client's socket buffer may block (asyncio
# pauses writing above its 64 KiB high-water mark and aiohttp then drains): only such a write is
# timed. A client that reads keeps the buffer near empty.
_CLIENT_BACKLOG = 64 * 1024


class ClientStalled(ConnectionResetError):
    """A stream's client read nothing for the idle timeout: handled as one that left."""


def unread(transport: asyncio.Transport) -> int:
    """Bytes written to a client that it has not read yet: asyncio's buffer and, on Linux, the
    socket's send queue, where most of a slow client's backlog waits (megabytes of it)."""
    size = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sys.platform == "linux" and sock is not None:
        with contextlib.suppress(OSError):  # a socket that cannot tell: asyncio's buffer only
            size += int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4)), sys.byteorder)
    return size


class LiveStreams:
    """The streams being relayed, so that a stopping server ends those still running after its
    grace period itself: with an error event the client can read, recorded as the server's doing.
    Left to aiohttp they were cut mid-body, with no error event, and recorded as clients that left."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()
        self._ended: set[asyncio.Task[Any]] = set()  # cancelled by end_all: no client left
        self._over = False  # the grace period is over: a stream that starts now ends at once
        self._timer: asyncio.TimerHandle | None = None

    def add(self, task: asyncio.Task[Any]) -> None:
        self._running.add(task)
        if self._over:
            self._end(task)

    def discard(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        self._ended.discard(task)

    def ended(self, task: asyncio.Task[Any]) -> bool:
        """Whether the task's cancellation was end_all's (the server stopping), not a client leaving."""
        return task in self._ended

    def _end(self, task: asyncio.Task[Any]) -> None:
        self._ended.add(task)
        task.cancel()

    def end_all(self) -> None:
        self._over = True
        for task in self._running:
            self._end(task)

    def stop_in(self, grace_s: float) -> None:
        """The server stops taking requests: end the streams still running after `grace_s`."""
        self._timer = asyncio.get_running_loop().call_later(grace_s, self.end_all)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


LIVE_STREAMS = web.AppKey("live_streams", LiveStreams)
# How long the error event that ends a stream at shutdown may wait for a client that does not read.
_SHUTDOWN_WRITE_S = 1.0


def stream_failure(event: bytes) -> GatewayError | None:
    """The failure an upstream's error event inside its 200 stream amounts to once the stream has
    started (before, it failed over: `open_first`), or None for any other event."""
    error = in_band_error(event)
    if error is None:
        return None
    return UpstreamFailed(f"The upstream stream failed after it started: {error[0]}")


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
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send an opened stream to the client. Once the first byte is out there is no failover: an
    upstream failure (an error event in the stream included) ends the stream with an error event in
    the client's format, and the request is recorded as failed. A client that leaves aborts the
    upstream. `headers`: extra response headers."""
    stream, first = opened
    resp = web.StreamResponse(
        status=200, headers={**SSE_HEADERS, **call.headers(estimate=True), **(headers or {})}
    )
    ttft: float | None = None
    outcome, status, error = "ok", 200, ""
    pending: list[bytes] = []  # events that arrived together go out in one write
    idle = call.plan.reliability.stream_idle_timeout_s if call.plan is not None else 120.0

    async def send(data: bytes) -> None:
        """Write to the client; one that stops reading for the stream's idle timeout is treated as
        gone (it held its upstream connection for as long as it liked). Only a write that will wait
        (the socket's buffer is full) pays for the timer."""
        transport = request.transport
        if transport is None or transport.get_write_buffer_size() + len(data) < _CLIENT_BACKLOG:
            await resp.write(data)
            return
        # Timed by what the client reads, not by the whole write: a slow client that keeps reading
        # may take longer than `idle` to bring its backlog down to where aiohttp writes again.
        write = asyncio.ensure_future(resp.write(data))
        try:
            await asyncio.sleep(0)  # the write queues its bytes, then waits for the client
            backlog = unread(transport)
            while not (await asyncio.wait((write,), timeout=idle))[0]:
                if unread(transport) >= backlog:
                    raise ClientStalled(f"client stopped reading: nothing read for {idle:g} s")
                backlog = unread(transport)
            write.result()
        finally:
            if not write.done():
                write.cancel()

    streams, task = request.app[LIVE_STREAMS], asyncio.current_task()
    assert task is not None
    try:
        await resp.prepare(request)
        streams.add(task)
        # `first` is never an error event: an upstream's was an attempt failure (open_first).
        head = encoder.start() + encoder.feed(first)
        if stream.more:  # more events are at hand (the rest of the first read): one write for all
            pending.append(head)
        else:
            await send(head)
        ttft = time.perf_counter() - call.started
        it = aiter(stream)
        while True:
            try:
                event = await anext(it)
            except StopAsyncIteration:
                break
            failed = stream_failure(event)
            if failed is not None:
                raise failed
            out = encoder.feed(event)
            if out:
                pending.append(out)
            if pending and not stream.more:
                await send(b"".join(pending))
                pending.clear()
        encoder.ensure_complete()
        gateway.finish_stream(call, stream, body)
        gateway.stream_answered(call, stream, body)  # before the last bytes: the next turn may follow at once
        counted = None
        if stream.usage is None and call.hit is None:  # the gateway counted: owed to the client
            counted = Usage(call.row.prompt_tokens, call.row.completion_tokens)
        pending.append(encoder.finish(counted))
        await send(b"".join(pending))
        pending.clear()
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError) as e:
        await stream.aclose()
        gateway.finish_stream(call, stream, body)
        if isinstance(e, asyncio.CancelledError) and streams.ended(task):
            task.uncancel()  # the server is stopping, not the client leaving: end the stream properly
            stopping = ServiceUnavailable(
                "The gateway is shutting down and ended the stream before it finished; please retry.",
                code="server_shutting_down",
            )
            # Recorded before the write: aiohttp cuts the connection if the client does not read.
            gateway.submit(call, status=stopping.status, outcome="stream_error", error=stopping, ttft_s=ttft)
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                async with asyncio.timeout(_SHUTDOWN_WRITE_S):
                    await resp.write(b"".join(pending) + encoder.error(stopping))
                    await resp.write_eof()
            return resp
        gateway.submit(
            call,
            status=499,
            outcome="client_closed",
            error=str(e) if isinstance(e, ClientStalled) else "client disconnected mid-stream",
            ttft_s=ttft,
        )
        if isinstance(e, asyncio.CancelledError):
            raise
        return resp
    except Exception as e:
        streams.discard(task)  # its error event is on its way: not ended again at shutdown
        if not isinstance(e, AttemptFailed | GatewayError):
            log.exception("stream relay of %s failed", call.row.id)
        err = mid_stream_error(e)
        if isinstance(e, AttemptFailed) and call.target is not None:
            gateway.executor.breakers.record_failure(call.target.dep.key)
        outcome, status, error = "stream_error", err.status, err.message
        await stream.aclose()
        gateway.finish_stream(call, stream, body)
        try:
            await send(b"".join(pending) + encoder.error(err))  # what came before the failure first
            await resp.write_eof()
        except ConnectionResetError:
            pass
    finally:
        streams.discard(task)
    gateway.submit(call, status=status, outcome=outcome, error=error or None, ttft_s=ttft)
    if outcome == "ok":  # recorded first: whatever the cache does now, the stream ended well
        await gateway.stream_done(call, stream, body)
    return resp
