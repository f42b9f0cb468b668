"""The one shared HTTP runner: sends what a dialect built over the process's aiohttp session.

Every way a call can go wrong ends up as an `AttemptFailed` with a kind the executor acts on.

What the runner sends carries the provider's credentials, so: redirects are never followed (a 3xx is
a failure of that deployment; every other user of the session passes allow_redirects=False too); a failure
is described by its kind, never by an exception's repr or text (aiohttp puts the request's URL and
headers there); and upstream words that reach a client or the ledger (error bodies, error events in
streams) pass through `redact` first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from yarl import URL

from satisfice.config import Reliability
from satisfice.errors import GatewayError, InvalidRequest, UpstreamFailed
from satisfice.providers.base import Deployment, Dialect, StreamTranslator, UpstreamRequest
from satisfice.providers.failures import AttemptFailed, FailureKind, classify_status, parse_retry_after
from satisfice.providers.pool import Permit, UpstreamPool
from satisfice.providers.redact import redact, redact_bytes, redact_opt
from satisfice.providers.refused import MAX_REFITS, RefusedParams
from satisfice.providers.results import Completion
from satisfice.providers.sse import SSEParser
from satisfice.usage import Usage, usage_from_openai

# Connecting is bounded on its own; the whole call is bounded by the executor's attempt timeout.
CONNECT_TIMEOUT_S = 10.0
# Of an error answer only its message is read: a body this long holds it (an HTML error page too).
ERROR_BODY_BYTES = 64 * 1024
_DEFAULTS = Reliability()


def new_session() -> aiohttp.ClientSession:
    # auto_decompress on: an upstream may compress its answers (aiohttp asks for gzip, deflate and
    # more), and aiohttp inflates them a little at a time, as they are read: what one call holds is
    # bounded where it is read (max_response_bytes for a body, max_event_bytes for a stream's event).
    # No total timeout here, each call sets its own. Every use of the session passes
    # allow_redirects=False (a redirect would carry the key headers away). Not
    # a trace hook: with any trace config aiohttp awaits its signals for every request and stream
    # chunk, which cost streams ~20 % more gateway CPU. No connector limit (0): the runner's
    # UpstreamPool bounds the calls in flight, so a call never waits where it cannot be seen.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


def _why(e: BaseException) -> str:
    """What went wrong, without the exception's text: aiohttp's exceptions carry the request's URL
    and headers (credentials included), and parse errors quote the upstream's bytes."""
    if isinstance(e, aiohttp.ServerTimeoutError):
        return "the upstream did not answer in time"
    if isinstance(e, aiohttp.ClientSSLError):
        return "the TLS handshake with the upstream failed"
    if isinstance(e, aiohttp.ClientConnectorError):
        return e.os_error.strerror or type(e.os_error).__name__  # e.g. "Connection refused"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "the upstream closed the connection"
    if isinstance(e, aiohttp.ClientPayloadError):
        return "the upstream sent a malformed or truncated body"
    if isinstance(e, aiohttp.ClientResponseError):  # the status, if any, is the parser's, not the upstream's
        return "the upstream sent a malformed HTTP response"
    if isinstance(e, aiohttp.InvalidURL):
        return "the upstream URL is invalid"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror  # e.g. "Connection reset by peer"
    return type(e).__name__


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the body (decompressed), and whether that is all of it: reading stops
    there, so a huge body (or a small one that inflates to gigabytes) costs no more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


class HTTPRunner:
    def __init__(
        self,
        connections: int = 1000,
        *,
        max_response_bytes: int = _DEFAULTS.max_response_bytes,
        max_event_bytes: int = _DEFAULTS.max_event_bytes,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.pool = UpstreamPool(connections)  # server.upstream_connections, per process
        self.max_response_bytes = max_response_bytes  # reliability.max_response_bytes
        self.max_event_bytes = max_event_bytes  # reliability.max_event_bytes
        self.refused = RefusedParams()  # best-effort fields upstreams refused (refused.py)

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
    ) -> tuple[aiohttp.ClientResponse, Permit]:
        """The response, and the call's place in the pool: the caller releases it when it is done
        with the response (whatever way that ends)."""
        permit = self.pool.take() or await self.pool.wait()
        try:
            return await self._request(req, idle_timeout_s), permit
        except BaseException:
            permit.release()
            raise

    async def _request(self, req: UpstreamRequest, idle_timeout_s: float | None) -> aiohttp.ClientResponse:
        # sock_read bounds every gap between two reads: a silent stream fails without a timer per
        # read (HTTPEventStream bounds the time to finish an event once bytes of it came).
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=idle_timeout_s)
        try:
            # encoded: the dialect built a percent-encoded URL (no requoting, no dot segments resolved)
            return await self.session.request(
                req.method,
                URL(req.url, encoded=True),
                data=req.body,
                headers=req.headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"cannot connect to upstream: {_why(e)}") from None
        except (aiohttp.ClientError, OSError) as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream connection failed: {_why(e)}") from None

    async def _fail(
        self, dialect: Dialect, dep: Deployment | None, resp: aiohttp.ClientResponse
    ) -> AttemptFailed:
        """The failure a non-2xx answer amounts to (the response is released)."""
        if resp.status < 400:
            # A redirect (or another 3xx): never followed, since the redirected request would carry
            # the key headers (aiohttp drops only Authorization across origins) and the prompt to
            # wherever Location points. Location is not quoted: it may hold credentials. It fails
            # over; a deployment that keeps redirecting opens its circuit.
            resp.release()
            why = f"upstream answered with a redirect (HTTP {resp.status}), which is not followed"
            return AttemptFailed(FailureKind.BAD_RESPONSE, why, status=resp.status)
        try:
            raw, whole = await read_body(resp, ERROR_BODY_BYTES)
            if not whole:
                resp.close()  # the rest is not read: the connection cannot be reused
        except (aiohttp.ClientError, OSError):
            raw = b""
        finally:
            resp.release()
        # Redacted before the dialect reads it (it may cut the text short, halfway through a secret)
        # and after (what it decoded from JSON escapes).
        info = dialect.error_info(resp.status, redact_bytes(raw, dep))
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        ms = resp.headers.get("retry-after-ms")
        if ms:
            with contextlib.suppress(ValueError):
                retry_after = float(ms) / 1000.0
        kind = classify_status(resp.status, info.context_window_exceeded)
        if info.refused:
            kind = FailureKind.REFUSED  # the deployment, not the request (e.g. Gemini's 400 for a bad key)
        return AttemptFailed(
            kind,
            redact(info.message, dep),
            status=resp.status,
            retry_after=retry_after,
            param=redact_opt(info.param, dep),
            code=redact_opt(info.code, dep),
        )

    async def _chat(
        self,
        dialect: Dialect,
        dep: Deployment,
        body: dict[str, Any],
        *,
        stream: bool,
        idle_timeout_s: float | None,
    ) -> tuple[aiohttp.ClientResponse, Permit]:
        """A chat call's 2xx response and its place in the pool (AttemptFailed otherwise). A
        best-effort field the upstream refuses is left out and the call sent again (refused.py)."""
        body = self.refused.fit(dialect.name, dep, body)
        refits = 0
        while True:
            resp, permit = await self._send(_build(dialect, dep, body, stream=stream), idle_timeout_s)
            if resp.status < 300:
                return resp, permit
            try:
                failure = await self._fail(dialect, dep, resp)
            finally:
                permit.release()
            fitted = self.refused.refit(dialect.name, dep, body, failure) if refits < MAX_REFITS else None
            if fitted is None:
                raise failure
            body, refits = fitted, refits + 1

    async def complete(self, dialect: Dialect, dep: Deployment, body: dict[str, Any]) -> Completion:
        """One non-streaming call. The caller bounds it with a timeout (cancellation closes the socket)."""
        raw = await self._whole(*await self._chat(dialect, dep, body, stream=False, idle_timeout_s=None))
        try:
            parsed = dialect.parse_chat(dep, raw)
        except (ValueError, TypeError, KeyError, UpstreamFailed) as e:
            # A translated dialect's parser says why in an UpstreamFailed; either way the body is
            # this attempt's failure (failed over), not the request's.
            message = redact(f"unreadable upstream answer: {e}", dep)
            raise AttemptFailed(FailureKind.BAD_RESPONSE, message) from None
        usage = usage_from_openai(parsed.get("usage"))
        if dialect.name != "openai" and dialect.name != "azure":
            raw = orjson.dumps(parsed)  # translated: serialise the OpenAI shape we built
        return Completion(raw=raw, body=parsed, usage=usage)

    async def stream(
        self, dialect: Dialect, dep: Deployment, body: dict[str, Any], idle_timeout_s: float
    ) -> HTTPEventStream:
        resp, permit = await self._chat(dialect, dep, body, stream=True, idle_timeout_s=idle_timeout_s)
        try:
            return HTTPEventStream(
                resp, dialect.stream_translator(dep), dep, permit, idle_timeout_s, self.max_event_bytes
            )
        except BaseException:
            permit.release()
            raise

    async def post_json(self, req: UpstreamRequest, dialect: Dialect) -> bytes:
        """A plain JSON call (embeddings): the body on success, AttemptFailed otherwise."""
        return await self._read(dialect, req.deployment, req)

    async def _read(self, dialect: Dialect, dep: Deployment | None, req: UpstreamRequest) -> bytes:
        """Send `req` and read its whole 2xx body (AttemptFailed otherwise); the call keeps its place
        in the pool until then."""
        resp, permit = await self._send(req)
        if resp.status >= 300:
            try:
                raise await self._fail(dialect, dep, resp)
            finally:
                permit.release()
        return await self._whole(resp, permit)

    async def _whole(self, resp: aiohttp.ClientResponse, permit: Permit) -> bytes:
        """The whole body of a 2xx response; the call's place in the pool is released after."""
        try:
            try:
                raw, whole = await read_body(resp, self.max_response_bytes)
                if not whole:
                    resp.close()  # the rest is not read: the connection cannot be reused
            except (aiohttp.ClientError, OSError) as e:
                resp.close()
                raise AttemptFailed(FailureKind.CONNECTION, f"upstream body cut short: {_why(e)}") from None
            finally:
                resp.release()
            if not whole:
                limit = self.max_response_bytes
                why = f"the upstream's answer is larger than {limit} bytes (reliability.max_response_bytes)"
                raise AttemptFailed(FailureKind.BAD_RESPONSE, why)
            return raw
        finally:
            permit.release()


class HTTPEventStream:
    """OpenAI SSE events from an upstream response, translated when the upstream speaks another dialect.

    A stream fails (AttemptFailed, so before its first token the next candidate answers) when no
    complete event comes for `idle_timeout_s` (time spent waiting for the client to take the events
    before is not counted), when one event passes `max_event_bytes`, and when an event is not valid
    UTF-8 (nor, relayed as it came, a JSON object): a client's SDK would choke on it."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        translator: StreamTranslator | None,
        dep: Deployment | None = None,
        permit: Permit | None = None,
        idle_timeout_s: float | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self._resp = resp
        self._permit = permit  # the call's place in the pool: free once the body ends or the stream closes
        self._translator = translator
        self._dep = dep  # whose secrets to keep out of error events and failures
        self._idle_timeout_s = idle_timeout_s
        self._max_event_bytes = max_event_bytes
        self.usage: Usage | None = None
        self.cost_usd: float | None = None  # HTTP providers never say: the catalog prices the usage
        self.events: list[bytes] = []  # kept to count tokens when the upstream reports no usage
        self.more = False  # another event from the same upstream read is ready (see EventStream)
        self.finished = False
        self._it = self._events()  # one generator: the first event is read before the rest

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def _events(self) -> AsyncIterator[bytes]:
        parser = SSEParser(self._max_event_bytes)
        translator = self._translator
        content = self._resp.content
        idle = self._idle_timeout_s
        loop = asyncio.get_running_loop()
        since = loop.time()  # of the last complete event, or of the client taking the events before
        try:
            while True:
                if parser.pending and idle is not None:
                    # Each byte restarts sock_read: an upstream that trickles an event without ever
                    # finishing it is stopped by this deadline instead.
                    async with asyncio.timeout_at(since + idle):
                        block = await content.readany()
                else:
                    block = await content.readany()  # a silent upstream: sock_read stops it
                if not block:
                    break
                blocks = parser.blocks
                batch, failed = self._batch(parser.feed(block))
                if failed is None and parser.too_large:
                    why = f"the upstream sent a stream event larger than {self._max_event_bytes} bytes"
                    failed = AttemptFailed(FailureKind.BAD_RESPONSE, why + " (reliability.max_event_bytes)")
                last = len(batch) - 1
                for i, event in enumerate(batch):
                    self.more = i < last
                    yield event
                self.more = False
                if failed is not None:  # after the events that came before it in the same read
                    raise failed
                if parser.blocks == blocks:
                    # Part of an event: let the loop serve others before the next read, however
                    # fast the bytes come.
                    await asyncio.sleep(0)
                else:
                    since = loop.time()
            if translator is not None:
                for chunk in translator.finish():
                    event = b"data: " + orjson.dumps(chunk) + b"\n\n"
                    self.events.append(event)
                    yield event
                self.usage = translator.usage
            self.finished = True
        except TimeoutError:  # the deadline above, or sock_read (aiohttp's ServerTimeoutError)
            raise AttemptFailed(FailureKind.TIMEOUT, "the upstream stream stalled") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as e:
            raise AttemptFailed(FailureKind.CONNECTION, f"upstream stream cut short: {_why(e)}") from None
        except GatewayError as e:
            # A translator quoting the upstream's error event (Anthropic `error`, Gemini in-band).
            e.message = redact(e.message, self._dep)
            e.args = (e.message,)
            raise
        finally:
            # Ended, failed, or closed unfinished (a cancelled read, the generator collected): the
            # response is done with and the call's place in the pool is free, aclose or not.
            self._release()

    def _batch(self, parsed: list[tuple[str | None, bytes]]) -> tuple[list[bytes], Exception | None]:
        """The OpenAI events one upstream read amounts to (recorded in self.events), and the failure
        read in it, if any (a translator's error, an unreadable event): the events before it still
        go out first."""
        out: list[bytes] = []
        translator = self._translator
        failed: Exception | None = None
        for name, data in parsed:
            if translator is None:
                if data.strip() == b"[DONE]":
                    continue
                try:
                    chunk = orjson.loads(data)  # relayed as it came: a client's SDK parses it
                except orjson.JSONDecodeError:
                    chunk = None
                if not isinstance(chunk, dict):
                    failed = _unreadable(data)
                    break
                usage = chunk.get("usage")  # null on every chunk but the last, with include_usage
                if isinstance(usage, dict):
                    self.usage = usage_from_openai(usage)
                if b'"error"' in data:  # an error event relayed as it is: it may quote the key it got
                    data = redact_bytes(data, self._dep)
                out.append(b"data: " + data + b"\n\n")
            else:
                try:
                    data.decode()  # the translator's JSON parser would fail too, less precisely
                    chunks = translator.feed(name, data)
                except UnicodeDecodeError:
                    failed = _unreadable(data)
                    break
                except GatewayError as e:
                    failed = e
                    break
                out.extend(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
        self.events.extend(out)
        return out, failed

    def _release(self) -> None:
        if self.finished:
            self._resp.release()
        else:
            self._resp.close()  # abort: the upstream sees the connection close and stops generating
        if self._permit is not None:
            self._permit.release()

    async def aclose(self) -> None:
        self._release()


def _unreadable(data: bytes) -> AttemptFailed:
    """The failure of a stream event no client could read (its bytes are not quoted: they may hold
    anything)."""
    try:
        data.decode()
    except UnicodeDecodeError:
        what = "valid UTF-8"
    else:
        what = "a JSON object"
    return AttemptFailed(FailureKind.BAD_RESPONSE, f"the upstream sent a stream event that is not {what}")


def _build(dialect: Dialect, dep: Deployment, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
    """The upstream request; a request this dialect cannot carry is this candidate's failure, so a
    route can try the next one (which may speak the client's own dialect)."""
    try:
        return dialect.build_chat(dep, body, stream=stream)
    except InvalidRequest as e:
        raise AttemptFailed(
            FailureKind.UNTRANSLATABLE, e.message, status=e.status, param=e.param, code=e.code
        ) from None
