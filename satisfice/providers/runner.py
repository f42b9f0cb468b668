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

from satisfice.errors import GatewayError, InvalidRequest, UpstreamFailed
from satisfice.providers.base import Deployment, Dialect, StreamTranslator, UpstreamRequest
from satisfice.providers.failures import AttemptFailed, FailureKind, classify_status, parse_retry_after
from satisfice.providers.pool import Permit, UpstreamPool
from satisfice.providers.redact import redact, redact_bytes, redact_opt
from satisfice.providers.results import Completion
from satisfice.providers.sse import SSEParser
from satisfice.usage import Usage, usage_from_openai

# Connecting is bounded on its own; the whole call is bounded by the executor's attempt timeout.
CONNECT_TIMEOUT_S = 10.0


def new_session() -> aiohttp.ClientSession:
    # auto_decompress off: we relay bytes; no total timeout here, each call sets its own. Every use
    # of the session passes allow_redirects=False (a redirect would carry the key headers away). Not
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


class HTTPRunner:
    def __init__(self, connections: int = 1000) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.pool = UpstreamPool(connections)  # server.upstream_connections, per process

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
        # sock_read bounds every gap between two reads: a stalled stream fails without a timer per event.
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
            raw = await resp.read()
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
        return AttemptFailed(
            kind,
            redact(info.message, dep),
            status=resp.status,
            retry_after=retry_after,
            param=redact_opt(info.param, dep),
            code=redact_opt(info.code, dep),
        )

    async def complete(self, dialect: Dialect, dep: Deployment, body: dict[str, Any]) -> Completion:
        """One non-streaming call. The caller bounds it with a timeout (cancellation closes the socket)."""
        raw = await self._read(dialect, dep, _build(dialect, dep, body, stream=False))
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
        req = _build(dialect, dep, body, stream=True)
        resp, permit = await self._send(req, idle_timeout_s)
        try:
            if resp.status >= 300:
                raise await self._fail(dialect, dep, resp)
            return HTTPEventStream(resp, dialect.stream_translator(dep), dep, permit)
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
        try:
            if resp.status >= 300:
                raise await self._fail(dialect, dep, resp)
            try:
                return await resp.read()
            except (aiohttp.ClientError, OSError) as e:
                resp.close()
                raise AttemptFailed(FailureKind.CONNECTION, f"upstream body cut short: {_why(e)}") from None
            finally:
                resp.release()
        finally:
            permit.release()


class HTTPEventStream:
    """OpenAI SSE events from an upstream response, translated when the upstream speaks another dialect."""

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        translator: StreamTranslator | None,
        dep: Deployment | None = None,
        permit: Permit | None = None,
    ) -> None:
        self._resp = resp
        self._permit = permit  # the call's place in the pool: free once the body ends or the stream closes
        self._translator = translator
        self._dep = dep  # whose secrets to keep out of error events and failures
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
                batch, failed = self._batch(parser.feed(block))
                last = len(batch) - 1
                for i, event in enumerate(batch):
                    self.more = i < last
                    yield event
                self.more = False
                if failed is not None:  # after the events that came before it in the same read
                    raise failed
            if translator is not None:
                for chunk in translator.finish():
                    event = b"data: " + orjson.dumps(chunk) + b"\n\n"
                    self.events.append(event)
                    yield event
                self.usage = translator.usage
            self.finished = True
        except aiohttp.ServerTimeoutError:
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

    def _batch(self, parsed: list[tuple[str | None, bytes]]) -> tuple[list[bytes], GatewayError | None]:
        """The OpenAI events one upstream read amounts to (recorded in self.events), and the error a
        translator read in it, if any: the events before that error still go out first."""
        out: list[bytes] = []
        translator = self._translator
        failed: GatewayError | None = None
        for name, data in parsed:
            if translator is None:
                if data == b"[DONE]":
                    continue
                if b'"usage"' in data:
                    self._read_usage(data)
                if b'"error"' in data:  # an error event relayed as it is: it may quote the key it got
                    data = redact_bytes(data, self._dep)
                out.append(b"data: " + data + b"\n\n")
            else:
                try:
                    chunks = translator.feed(name, data)
                except GatewayError as e:
                    failed = e
                    break
                out.extend(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
        self.events.extend(out)
        return out, failed

    def _read_usage(self, data: bytes) -> None:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(chunk, dict):
            usage = usage_from_openai(chunk.get("usage"))
            if usage is not None:
                self.usage = usage

    def _release(self) -> None:
        if self.finished:
            self._resp.release()
        else:
            self._resp.close()  # abort: the upstream sees the connection close and stops generating
        if self._permit is not None:
            self._permit.release()

    async def aclose(self) -> None:
        self._release()


def _build(dialect: Dialect, dep: Deployment, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
    """The upstream request; a request this dialect cannot carry is this candidate's failure, so a
    route can try the next one (which may speak the client's own dialect)."""
    try:
        return dialect.build_chat(dep, body, stream=stream)
    except InvalidRequest as e:
        raise AttemptFailed(
            FailureKind.UNTRANSLATABLE, e.message, status=e.status, param=e.param, code=e.code
        ) from None
