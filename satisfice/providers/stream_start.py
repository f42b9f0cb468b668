"""Opening a stream: read up to its first token, so that a failure there can still fail over.

Upstreams often send a preamble before the answer: OpenAI's first chunk is the role with empty
content, Anthropic's translated `message_start` is the same. An upstream that then fails (an
Anthropic `overloaded_error` event, an OpenAI-compatible `{"error": ...}` chunk) has sent nothing a
client needs, so the gateway reads past the preamble before it commits to the stream: an error there
is an attempt's failure (retried, failed over, counted by the circuit breaker), not a broken stream.
Once a token is read, the events go to the client as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.failures import AttemptFailed, FailureKind, classify_status
from satisfice.providers.results import EventStream
from satisfice.usage import Usage

# A stream of nothing but empty deltas is not waited on for ever: after this many the stream is
# relayed as it is (the relay then ends it by its own rules).
MAX_PREAMBLE_EVENTS = 16
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def in_band_error(event: bytes) -> tuple[str, str | None] | None:
    """(message, type or code) of the failure an OpenAI-compatible upstream reports inside its 200
    stream (`data: {"error": {...}}`, relayed as it came; the runner already redacted it), or None
    for any other event."""
    if b'"error"' not in event:
        return None
    try:
        chunk = orjson.loads(event[6:])  # strip "data: "
    except orjson.JSONDecodeError:
        return None
    err = chunk.get("error") if isinstance(chunk, dict) else None
    if not err or chunk.get("choices"):
        return None
    if not isinstance(err, dict):
        return str(err), None
    kind = err.get("type") or err.get("code")
    return str(err.get("message") or "an error event"), None if kind is None else str(kind)


def is_preamble(event: bytes) -> bool:
    """True for an event that carries no part of the answer: role-only or empty deltas, with no
    finish, no usage and no error."""
    try:
        chunk = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return False
    if not isinstance(chunk, dict) or chunk.get("error") or chunk.get("usage"):
        return False
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("finish_reason"):
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False
        if any(k != "role" and v not in _EMPTY for k, v in delta.items()):
            return False
    return True


def failure_of(message: str, kind: str | None) -> AttemptFailed:
    """The attempt failure an error reported at a stream's start amounts to."""
    k = (kind or "").lower()
    status: int | None = int(k) if k.isdigit() else None
    if "rate_limit" in k:
        status = 429
    elif "overloaded" in k:
        status = 529  # as Anthropic answers it outside a stream: /v1/messages clients back off
    elif "invalid_request" in k:
        status = 400  # the same request would fail the same way elsewhere
    failure = classify_status(status, False) if status is not None else FailureKind.SERVER_ERROR
    return AttemptFailed(failure, f"the upstream's stream failed at its start: {message}", status=status)


def read_ahead_failure(event: bytes) -> AttemptFailed | None:
    """The failure an upstream's in-band error event amounts to in a stream read ahead of the
    client (held by a cascade, or raced): nothing of it went out yet, so, as at its start, it is
    the attempt's failure rather than a part of the answer. None for any other event."""
    error = in_band_error(event)
    if error is None:
        return None
    found = failure_of(*error)
    return AttemptFailed(found.kind, f"the upstream's stream failed: {error[0]}", status=found.status)


async def open_first(stream: EventStream) -> tuple[EventStream, bytes]:
    """Read `stream` up to its first event that carries part of the answer. Returns a stream that
    yields the events after the first one, and the first one. Raises AttemptFailed when the stream
    ends or fails before that; the stream is closed then."""
    held: list[bytes] = []
    it = aiter(stream)
    try:
        while True:
            try:
                event = await anext(it)
            except StopAsyncIteration:
                # Nothing of an answer, not even a finish: the client would get an empty 200.
                why = "ended before its first token" if held else "ended before any event"
                raise AttemptFailed(FailureKind.BAD_RESPONSE, f"the upstream stream {why}") from None
            error = in_band_error(event)
            if error is not None:
                raise failure_of(*error)
            held.append(event)
            if len(held) >= MAX_PREAMBLE_EVENTS or not is_preamble(event):
                break
    except UpstreamFailed as e:  # a translator read the provider's own error event (Anthropic, Gemini)
        await stream.aclose()
        raise failure_of(e.message, e.code) from None
    except BaseException:
        await stream.aclose()
        raise
    if len(held) == 1:
        return stream, held[0]
    return HeldStream(stream, held[1:]), held[0]


class HeldStream:
    """Replays events already read (a preamble, or an answer held back for verification), then the
    rest of the upstream stream (starting with a read left running, if any)."""

    def __init__(
        self, inner: EventStream, held: list[bytes], pending: asyncio.Future[bytes] | None = None
    ) -> None:
        self.inner = inner
        self.held = held
        self.pending = pending
        self._replaying = True
        self._held_more = bool(held)  # before the first is taken, the held events are at hand
        self._it = self._events()

    @property
    def more(self) -> bool:
        return self._held_more if self._replaying else self.inner.more

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage

    @property
    def cost_usd(self) -> float | None:
        return self.inner.cost_usd

    @property
    def events(self) -> list[bytes]:
        return self.inner.events

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def _events(self) -> AsyncIterator[bytes]:
        last = len(self.held) - 1
        for i, event in enumerate(self.held):
            # Held events are at hand; after the last, the next live one is when the read that
            # gave it brought more (no read is left running).
            self._held_more = i < last or (self.pending is None and self.inner.more)
            yield event
        self._replaying = False
        if self.pending is not None:
            try:
                yield await self.pending
            except StopAsyncIteration:
                return
        async for event in aiter(self.inner):
            yield event

    async def aclose(self) -> None:
        if self.pending is not None:
            await stop_read(self.pending)
        await self.inner.aclose()


async def stop_read(read: asyncio.Future[bytes]) -> None:
    """Cancel a read of a stream's next event and let it finish unwinding."""
    if not read.done():
        read.cancel()
    with contextlib.suppress(BaseException):
        await read
