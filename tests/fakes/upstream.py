"""A fake OpenAI (and Azure OpenAI) + Anthropic + Gemini upstream on one port for end-to-end tests.

The model name picks a behaviour (see behaviours.py); every provider request is logged so tests can
assert what the gateway sent. `FakeUpstream` runs it in a background thread; `python -m
tests.fakes.upstream --port N` runs it in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.behaviours import (
    JSON,
    Behaviour,
    Provider,
    anthropic_answer,
    anthropic_invalid,
    anthropic_message,
    anthropic_stream,
    as_dict,
    credentials,
    ctx_error,
    embeddings_response,
    error_body,
    error_event,
    gemini_answer,
    gemini_call_id_errors,
    gemini_chunks,
    gemini_malformed,
    gemini_penalty_error,
    gemini_refusal,
    gemini_schema_errors,
    gemini_with_call_ids,
    gzip_bomb,
    hostile_stream,
    key_error,
    key_error_event,
    not_utf8,
    openai_answers,
    openai_completion,
    openai_stream,
    openai_unknown_param,
    overloaded_event,
    parse_behaviour,
    sse,
    thinking_blocks,
    thinking_enabled,
    without_args,
)

HOST = "127.0.0.1"
BAD_JSON = b'{"id": "x", "choices": ['
MODELS = ["mock-gpt", "gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-2.0-flash"]
T = TypeVar("T")


class FakeState:
    """Request log and flaky counters; only ever touched on the server's event loop."""

    def __init__(self) -> None:
        self.log: list[JSON] = []
        self.flaky: dict[str, int] = {}
        self.seq = 0

    def reset(self) -> None:
        self.log.clear()
        self.flaky.clear()


STATE = web.AppKey("fake_state", FakeState)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json"
    )


@dataclass
class Call:
    """One logged provider request, handed to its handler."""

    record: JSON
    body: Any
    model: str


LoggedHandler = Callable[[web.Request, Call], Awaitable[web.StreamResponse]]


def _logged(handler: LoggedHandler) -> Handler:
    async def logged(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        target = request.match_info.get("target")
        if target is not None:
            model = target.partition(":")[0]
        else:
            model = str(body.get("model") or "") if isinstance(body, dict) else ""
        state.seq += 1
        rec: JSON = {
            "seq": state.seq,
            "path": request.path,
            "raw_path": request.raw_path,  # as sent: percent-encoding kept, query included
            "method": request.method,
            "query": dict(request.query),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
            "model": model,
            "started_at": time.monotonic(),
            "finished": False,
            "cancelled": False,
            "aborted": False,
            "status": None,
        }
        state.log.append(rec)
        try:
            resp = await handler(request, Call(rec, body, model))
        except asyncio.CancelledError:
            rec["cancelled"] = True  # the client went away (handler_cancellation) or the server stopped
            raise
        finally:
            rec["finished"] = True
        rec["status"] = resp.status
        return resp

    return logged


async def _prepare(
    request: web.Request, call: Call, provider: Provider
) -> tuple[JSON, Behaviour] | web.Response:
    """Everything before a normal answer: body check, delays, hangs and canned failures."""
    body, model = call.body, call.model
    if not isinstance(body, dict):
        return _json(error_body(provider, 400, "The request body is not valid JSON."), 400)
    b = parse_behaviour(model)
    if b.slow_ms:
        await asyncio.sleep(b.slow_ms / 1000)
    if b.slow_after is not None:
        counts = request.app[STATE].flaky  # the same per-model-name counter, reset with the log
        key = "slowafter:" + model
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > b.slow_after[0]:
            await asyncio.sleep(b.slow_after[1] / 1000)
    if b.hang:
        await asyncio.sleep(3600)
    if b.echo_key is not None:
        return _json(key_error(provider, b.echo_key, credentials(call.record["headers"])), b.echo_key)
    if b.garbage:
        return _garbage(request, call)
    if b.retry_after is not None:
        return _json(error_body(provider, 429), 429, {"Retry-After": str(b.retry_after)})
    if b.error_status is not None:
        return _json(error_body(provider, b.error_status), b.error_status)
    if b.flaky:
        counts = request.app[STATE].flaky
        counts[model] = counts.get(model, 0) + 1
        if counts[model] <= b.flaky:
            return _json(error_body(provider, 500), 500)
    if b.ctx:
        return _json(ctx_error(provider), 400)
    if b.badjson:
        return web.Response(body=BAD_JSON, content_type="application/json")
    return body, b


def _abort(request: web.Request, call: Call) -> None:
    """Drop the connection mid-response: no terminating chunk, so the client sees a truncated body."""
    call.record["aborted"] = True
    if request.transport is not None:
        request.transport.close()


# A status line and a header line without a colon: aiohttp's client raises ClientResponseError.
GARBAGE = b"HTTP/1.1 200 OK\r\nBad Header Line Without Colon\r\n\r\n"


def _garbage(request: web.Request, call: Call) -> web.Response:
    """Answer with a malformed HTTP response written straight to the socket, then hang up."""
    call.record["aborted"] = True
    if request.transport is not None:
        request.transport.write(GARBAGE)
        request.transport.close()
    return web.Response()  # never sent: the connection is gone


def _key_stream(call: Call, b: Behaviour, events: Iterable[bytes], provider: Provider) -> Iterable[bytes]:
    """With "echokeystream", the stream's first event and then an error event quoting the key; with
    "errorafter-N", the first N events and then an error event ("overloadafter-N": the provider's
    overloaded error); with "endafter-N", the first N events and a clean end."""
    if b.overload_after is not None:
        return [*itertools.islice(events, b.overload_after), overloaded_event(provider)]
    if b.end_after is not None:
        done = [b"data: [DONE]\n\n"] if provider == "openai" else []
        return [*itertools.islice(events, b.end_after), *done]
    if b.error_after is not None:
        head = list(itertools.islice(events, b.error_after))
        return [*head, error_event(provider, "The server had an error while streaming.")]
    if not b.echokeystream:
        return events
    first = list(itertools.islice(events, 1))
    return [*first, key_error_event(provider, credentials(call.record["headers"]))]


async def _send_json(request: web.Request, call: Call, b: Behaviour, payload: Any) -> web.StreamResponse:
    if b.gzipbomb or b.bigbody is not None:
        return _hostile_json(b, payload)
    if b.cut is None:
        return _json(payload)
    data = orjson.dumps(payload)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = len(data)
    await resp.prepare(request)
    await resp.write(data[: len(data) // 2])
    _abort(request, call)
    return resp


async def _send_stream(
    request: web.Request, call: Call, b: Behaviour, events: Iterable[bytes]
) -> web.StreamResponse:
    if hostile_stream(b):
        return await _send_hostile_stream(request, call, b, events)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        for i, event in enumerate(events):
            if i == b.cut:
                _abort(request, call)
                return resp
            if i == 1 and b.slowstream_ms:
                await asyncio.sleep(b.slowstream_ms / 1000)
            if b.stall_at is not None and i == b.stall_at[0]:
                await asyncio.sleep(b.stall_at[1] / 1000)
            if i and b.chunkdelay_ms:
                await asyncio.sleep(b.chunkdelay_ms / 1000)
            await resp.write(event)
        if b.cut is not None:  # fewer events than k: still never end the stream cleanly
            _abort(request, call)
            return resp
        await resp.write_eof()
    except ConnectionResetError:
        call.record["cancelled"] = True
    return resp


# --- hostile upstreams (tests/test_hostile_upstream.py) ---------------------------------------------

HOSTILE_FOR_S = 60.0  # a never-ending answer ends after this, should the gateway never hang up


def _hostile_json(b: Behaviour, payload: Any) -> web.Response:
    """With "gzipbomb", a gzipped body that inflates to 256 MiB; with "bigbody-N", the answer padded
    with N MiB."""
    if b.gzipbomb:
        body = gzip_bomb(b'{"id": "chatcmpl-bomb", "object": "chat.completion", "padding": "')
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers)
    padding = b', "padding": "' + b"y" * ((b.bigbody or 0) << 20) + b'"}'
    return web.Response(body=orjson.dumps(payload)[:-1] + padding, content_type="application/json")


async def _send_hostile_stream(
    request: web.Request, call: Call, b: Behaviour, events: Iterable[bytes]
) -> web.StreamResponse:
    """A stream spoilt as the hostile behaviours say (see Behaviour)."""
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    if b.gzipbomb:
        headers["Content-Encoding"] = "gzip"
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    endless = b.bigline if b.bigline is not None else b.trickle
    try:
        if b.gzipbomb:  # one event that never ends before 256 MiB
            await resp.write(gzip_bomb(b'data: {"x": "'))
            await resp.write_eof()
            return resp
        for i, event in enumerate(events):
            if i == endless:
                break
            if i == b.badutf8:
                event = not_utf8(event)
            if i == b.notjson:
                event = b"data: this is not JSON\n\n"
            await resp.write(event)
        if endless is None:
            await resp.write_eof()
            return resp
        await resp.write(b'data: {"x": "')
        piece, pause = (b"a" * (1 << 20), 0.0) if b.bigline is not None else (b"a", 0.05)
        deadline = time.monotonic() + HOSTILE_FOR_S
        while time.monotonic() < deadline:
            await resp.write(piece)
            await asyncio.sleep(pause)
        _abort(request, call)
    except ConnectionResetError:
        call.record["cancelled"] = True
    return resp


# OpenAI's reasoning models (o1, o3, o4 families, behaviour tokens after a "+") and the chat
# parameters they refuse, with OpenAI's own errors (temperature: any value but the default 1).
_REASONING_MODEL = re.compile(r"o[134](?:[-+]|$)")
_REASONING_REFUSED = (
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)


def reasoning_refusal(model: str, body: JSON, *, picky: bool = False) -> JSON | None:
    """OpenAI's 400 for the first parameter a reasoning model (or a "picky" one) refuses, or None."""
    if not (picky or _REASONING_MODEL.match(model)):
        return None
    if "max_tokens" in body:
        msg = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return _param_error(msg, "max_tokens", "unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        msg = (
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported."
        )
        return _param_error(msg, "temperature", "unsupported_value")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in ("low", "medium", "high"):  # the o-series' only values
        msg = (
            f"Unsupported value: 'reasoning_effort' does not support {effort!r} with this model. "
            "Supported values are: 'low', 'medium', and 'high'."
        )
        return _param_error(msg, "reasoning_effort", "unsupported_value")
    for key in _REASONING_REFUSED:
        if key in body:
            msg = f"Unsupported parameter: '{key}' is not supported with this model."
            return _param_error(msg, key, "unsupported_parameter")
    return None


def _param_error(message: str, param: str, code: str) -> JSON:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


# --- provider endpoints --------------------------------------------------------------------------


async def openai_chat(request: web.Request, call: Call) -> web.StreamResponse:
    start = await _prepare(request, call, "openai")
    if isinstance(start, web.Response):
        return start
    body, b = start
    for field in ("model", "messages"):
        if not body.get(field):
            msg = f"Missing required parameter: '{field}'."
            return _json(error_body("openai", 400, msg, "missing_required_parameter"), 400)
    unknown = openai_unknown_param(body) if b.strict else None
    if unknown is not None:
        return _json(unknown, 400)
    refused = reasoning_refusal(call.model, body, picky=b.picky)
    if refused is not None:
        return _json(refused, 400)
    if b.notools and (body.get("tools") or body.get("functions")):
        msg = f"{call.model} does not support tools"
        return _json(error_body("openai", 400, msg, "invalid_request_error"), 400)
    answers, model, seq = openai_answers(body), call.model, call.record["seq"]
    logprobs = body.get("logprobs") is True
    if body.get("stream") is True:
        include_usage = bool(as_dict(body.get("stream_options")).get("include_usage")) and not b.nousage
        events = openai_stream(
            answers, model, seq, include_usage, logprobs, interleave=b.interleave, finish=not b.nofinish
        )
        sent = _key_stream(call, b, events, "openai")
        if b.nodone:
            sent = [e for e in sent if e != b"data: [DONE]\n\n"]
        return await _send_stream(request, call, b, sent)
    completion = openai_completion(answers, model, seq, not b.nousage, logprobs, twice=b.interleave)
    return await _send_json(request, call, b, completion)


async def list_models(request: web.Request, call: Call) -> web.StreamResponse:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in MODELS]
    return _json({"object": "list", "data": data})


async def openai_embeddings(request: web.Request, call: Call) -> web.StreamResponse:
    start = await _prepare(request, call, "openai")
    if isinstance(start, web.Response):
        return start
    body, b = start
    payload = embeddings_response(body, call.model, not b.nousage)
    if "error" in payload:
        return _json(payload, 400)
    return await _send_json(request, call, b, payload)


async def anthropic_messages(request: web.Request, call: Call) -> web.StreamResponse:
    start = await _prepare(request, call, "anthropic")
    if isinstance(start, web.Response):
        return start
    body, b = start
    problem = anthropic_invalid(body)
    if problem is not None:
        return _json(error_body("anthropic", 400, problem), 400)
    ans, model, seq = anthropic_answer(body), call.model, call.record["seq"]
    if b.noargs:
        ans = without_args(ans)
    usage, cache = not b.nousage, b.cacheusage
    thinking = thinking_blocks(ans, b) if thinking_enabled(body) else []
    if body.get("stream") is True:
        stream = anthropic_stream(ans, model, seq, usage, cache, thinking, b.end_with)
        return await _send_stream(request, call, b, _key_stream(call, b, stream, "anthropic"))
    message = anthropic_message(ans, model, seq, usage, cache=cache, thinking=thinking, end_with=b.end_with)
    return await _send_json(request, call, b, message)


async def gemini_model(request: web.Request, call: Call) -> web.StreamResponse:
    model, _, method = request.match_info["target"].partition(":")
    if method not in ("generateContent", "streamGenerateContent", "countTokens"):
        return _json(error_body("gemini", 404, f"Method {method or 'GET'} not found for {model}."), 404)
    start = await _prepare(request, call, "gemini")
    if isinstance(start, web.Response):
        return start
    body, b = start
    refusal = gemini_refusal(b)
    if refusal is not None:
        return _json(refusal, 400)
    penalty = gemini_penalty_error(model, body)
    if penalty is not None:
        return _json(error_body("gemini", 400, penalty), 400)
    if method == "countTokens":
        return _json({"totalTokens": gemini_answer(body).prompt_tokens})
    if not body.get("contents"):
        msg = "* GenerateContentRequest.contents: contents is not specified"
        return _json(error_body("gemini", 400, msg), 400)
    problems = gemini_schema_errors(body) if b.strict else []
    if problems:
        return _json(error_body("gemini", 400, "* " + "\n* ".join(problems) + "\n"), 400)
    id_problems = gemini_call_id_errors(body) if b.callid else []
    if id_problems:
        return _json(error_body("gemini", 400, "* " + "\n* ".join(id_problems) + "\n"), 400)
    stream = method == "streamGenerateContent"
    ans, seq = gemini_answer(body), call.record["seq"]
    if b.malformed:
        chunks = [gemini_malformed(ans, model, seq, not b.nousage)]
    else:
        chunks = gemini_chunks(ans, model, seq, not b.nousage, stream)
    if b.callid:
        chunks = gemini_with_call_ids(chunks, seq)
    if not stream:
        return await _send_json(request, call, b, chunks[0])
    if request.query.get("alt") != "sse":  # without alt=sse Gemini streams one JSON array
        return await _send_json(request, call, b, chunks)
    # Gemini separates SSE events with CRLF pairs.
    events = (sse(c, sep=b"\r\n\r\n") for c in chunks)
    return await _send_stream(request, call, b, _key_stream(call, b, events, "gemini"))


# --- control API and app ---------------------------------------------------------------------------


async def fake_requests(request: web.Request) -> web.StreamResponse:
    return _json({"requests": request.app[STATE].log})


async def fake_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].reset()
    return _json({"ok": True})


async def health(request: web.Request) -> web.StreamResponse:
    return _json({"ok": True})


async def redirect(request: web.Request, call: Call) -> web.StreamResponse:
    """/_fake/redirect/{port}/{tail}: 307 to http://127.0.0.1:{port}/{tail} (another origin when the
    port is another server's), query kept: an upstream base URL under it redirects every call."""
    query = f"?{request.query_string}" if request.query_string else ""
    location = f"http://{HOST}:{request.match_info['port']}/{request.match_info['tail']}{query}"
    return web.Response(status=307, headers={"Location": location})


async def redirect_loop(request: web.Request, call: Call) -> web.StreamResponse:
    """/_fake/loop/{tail}: 307 to the very same URL, forever."""
    return web.Response(status=307, headers={"Location": str(request.url)})


async def not_found(request: web.Request, call: Call) -> web.StreamResponse:
    return _json(error_body("openai", 404, f"Unknown path {request.method} {request.path}"), 404)


def make_app(state: FakeState | None = None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state or FakeState()
    app.router.add_post("/v1/chat/completions", _logged(openai_chat))
    app.router.add_get("/v1/models", _logged(list_models))
    app.router.add_post("/v1/embeddings", _logged(openai_embeddings))
    # Azure OpenAI: the deployment name (in the path) picks the behaviour.
    app.router.add_post("/openai/deployments/{target}/chat/completions", _logged(openai_chat))
    app.router.add_post("/openai/deployments/{target}/embeddings", _logged(openai_embeddings))
    app.router.add_post("/v1/messages", _logged(anthropic_messages))
    app.router.add_post("/v1beta/models/{target}", _logged(gemini_model))  # "{model}:{method}" in one segment
    app.router.add_get("/_fake/requests", fake_requests)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_get("/health", health)
    app.router.add_route("*", "/_fake/redirect/{port:[0-9]+}/{tail:.*}", _logged(redirect))
    app.router.add_route("*", "/_fake/loop/{tail:.*}", _logged(redirect_loop))
    app.router.add_route("*", "/{tail:.*}", _logged(not_found))  # logged, so a wrong path shows up
    return app


async def start_server(
    state: FakeState, port: int = 0, shutdown_timeout: float = 1.0
) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client hang-up cancels the handler, which is how "cancelled" gets logged.
    runner = web.AppRunner(
        make_app(state), handler_cancellation=True, access_log=None, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])


class FakeUpstream:
    """Runs the fake on 127.0.0.1 in a daemon thread with its own event loop."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._state = FakeState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._port}"

    @property
    def openai_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_base(self) -> str:
        return f"{self.url}/v1beta"

    def __enter__(self) -> FakeUpstream:
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start within 10 s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            # A short shutdown timeout: hanging handlers are cancelled rather than awaited on exit.
            runner, self._port = loop.run_until_complete(start_server(self._state, self._port, 0.1))
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run fn on the server loop so the log is never read mid-update."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(5)

    def requests(self) -> list[dict[str, Any]]:
        return self._on_loop(lambda: [dict(r) for r in self._state.log])

    def sent(self, model: str) -> dict[str, Any]:
        """The body the gateway last sent for this upstream model name."""
        body: dict[str, Any] = [r for r in self.requests() if r["model"] == model][-1]["body"]
        return body

    def reset(self) -> None:
        self._on_loop(self._state.reset)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            log = self.requests()
            if predicate(log):
                return log
            if time.monotonic() >= deadline:
                summary = [(r["seq"], r["path"], r["model"], r["finished"], r["cancelled"]) for r in log]
                raise AssertionError(f"fake upstream: condition not met within {timeout} s; log: {summary}")
            time.sleep(0.01)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic/Gemini upstream")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        runner, port = await start_server(FakeState(), args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"listening on http://{HOST}:{port}", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
