"""The one shared HTTP runner: sends what a dialect built over the process's aiohttp session.

Every way a call can go wrong ends up as an `AttemptFailed` with a kind the executor acts on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from satisfice.providers.base import Deployment, Dialect, StreamTranslator, UpstreamRequest
from satisfice.providers.failures import AttemptFailed, FailureKind, classify_status, parse_retry_after
from satisfice.providers.results import Completion
from satisfice.providers.sse import SSEParser
from satisfice.usage import Usage, usage_from_openai

# Connecting is bounded on its own; the whole call is bounded by the executor's attempt timeout.
CONNECT_TIMEOUT_S = 10.0


def new_session(limit: int = 1000) -> aiohttp.ClientSession:
    # auto_decompress off: we relay bytes; no total timeout here, each call sets its own.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


class HTTPRunner:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """The session needs a running loop, so it is made at start-up, once per process."""
        self._session = new_session()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HTTPRunner.start() was not awaited")
        return self._session

    async def _send(
        self, req: UpstreamRequest, idle_timeout_s: float | None = None
    ) -> aiohttp.ClientResponse:
        # sock_read bounds every gap between two reads: a stalled stream fails without a timer per event.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=idle_timeout_s)
        try:
            return await self.session.request(
                req.method, req.url, data=req.body, headers=req.headers, timeout=timeout
            )
        except aiohttp.ClientConnectorError as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"cannot connect to upstream: {e.os_error}") from None
        except (aiohttp.ClientError, OSError) as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream connection failed: {e!r}") from None

    async def _fail(self, dialect: Dialect, resp: aiohttp.ClientResponse) -> AttemptFailed:
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, OSError):
            raw = b""
        finally:
            resp.release()
        info = dialect.error_info(resp.status, raw)
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        ms = resp.headers.get("retry-after-ms")
        if ms:
            with contextlib.suppress(ValueError):
                retry_after = float(ms) / 1000.0
        kind = classify_status(resp.status, info.context_window_exceeded)
        return AttemptFailed(
            kind, info.message, status=resp.status, retry_after=retry_after, param=info.param, code=info.code
        )

    async def complete(self, dialect: Dialect, dep: Deployment, body: dict[str, Any]) -> Completion:
        """One non-streaming call. The caller bounds it with a timeout (cancellation closes the socket)."""
        req = dialect.build_chat(dep, body, stream=False)
        resp = await self._send(req)
        if resp.status >= 400:
            raise await self._fail(dialect, resp)
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, OSError) as e:
            resp.close()
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream body cut short: {e!r}") from None
        finally:
            resp.release()
        try:
            parsed = dialect.parse_chat(dep, raw)
        except (ValueError, TypeError, KeyError) as e:
            raise AttemptFailed(FailureKind.BAD_RESPONSE, f"unreadable upstream answer: {e}") from None
        usage = usage_from_openai(parsed.get("usage"))
        if dialect.name != "openai" and dialect.name != "azure":
            raw = orjson.dumps(parsed)  # translated: serialise the OpenAI shape we built
        return Completion(raw=raw, body=parsed, usage=usage)

    async def stream(
        self, dialect: Dialect, dep: Deployment, body: dict[str, Any], idle_timeout_s: float
    ) -> HTTPEventStream:
        req = dialect.build_chat(dep, body, stream=True)
        resp = await self._send(req, idle_timeout_s)
        if resp.status >= 400:
            raise await self._fail(dialect, resp)
        return HTTPEventStream(resp, dialect.stream_translator(dep))

    async def post_json(self, req: UpstreamRequest, dialect: Dialect) -> bytes:
        """A plain JSON call (embeddings): the body on success, AttemptFailed otherwise."""
        resp = await self._send(req)
        if resp.status >= 400:
            raise await self._fail(dialect, resp)
        try:
            return await resp.read()
        except (aiohttp.ClientError, OSError) as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream body cut short: {e!r}") from None
        finally:
            resp.release()


class HTTPEventStream:
    """OpenAI SSE events from an upstream response, translated when the upstream speaks another dialect."""

    def __init__(self, resp: aiohttp.ClientResponse, translator: StreamTranslator | None) -> None:
        self._resp = resp
        self._translator = translator
        self.usage: Usage | None = None
        self.cost_usd: float | None = None  # HTTP providers never say: the catalog prices the usage
        self.events: list[bytes] = []  # kept to count tokens when the upstream reports no usage
        self.more = False  # another event from the same upstream read is ready (see EventStream)
        self.finished = False
        self._it = self._events()  # one generator: the first event is read before the rest

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def _events(self) -> AsyncIterator[bytes]:
        parser = SSEParser()
        translator = self._translator
        try:
            async for block in self._resp.content.iter_any():
                batch = self._batch(parser.feed(block))
                last = len(batch) - 1
                for i, event in enumerate(batch):
                    self.more = i < last
                    yield event
                self.more = False
            if translator is not None:
                for chunk in translator.finish():
                    event = b"data: " + orjson.dumps(chunk) + b"\n\n"
                    self.events.append(event)
                    yield event
                self.usage = translator.usage
        except aiohttp.ServerTimeoutError:
            raise AttemptFailed(FailureKind.TIMEOUT, "the upstream stream stalled") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream stream cut short: {e!r}") from None
        self.finished = True

    def _batch(self, parsed: list[tuple[str | None, bytes]]) -> list[bytes]:
        """The OpenAI events one upstream read amounts to (recorded in self.events)."""
        out: list[bytes] = []
        translator = self._translator
        for name, data in parsed:
            if translator is None:
                if data == b"[DONE]":
                    continue
                if b'"usage"' in data:
                    self._read_usage(data)
                out.append(b"data: " + data + b"\n\n")
            else:
                out.extend(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in translator.feed(name, data))
        self.events.extend(out)
        return out

    def _read_usage(self, data: bytes) -> None:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(chunk, dict):
            usage = usage_from_openai(chunk.get("usage"))
            if usage is not None:
                self.usage = usage

    async def aclose(self) -> None:
        if self.finished:
            self._resp.release()
        else:
            self._resp.close()  # abort: the upstream sees the connection close and stops generating
