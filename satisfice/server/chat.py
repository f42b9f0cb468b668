"""POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic), over one gateway."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from satisfice.api.anthropic_messages import (
    AnthropicEncoder,
    anthropic_error,
    count_message_tokens,
    count_tokens_request,
    messages_request_to_openai,
    openai_response_to_messages,
)
from satisfice.api.openai_request import validate_chat_request
from satisfice.errors import GatewayError, InternalError, MethodNotAllowed, NotFound
from satisfice.gateway import Call, Gateway
from satisfice.keys import KeyBook
from satisfice.ledger.record import LedgerRow
from satisfice.routing.knob import KNOB_HEADER, parse_knob
from satisfice.server.http import (
    caller_digest,
    error_response,
    json_response,
    new_request_id,
    read_json,
    tenant_of,
)
from satisfice.server.relay import OpenAIEncoder, relay
from satisfice.usage import Usage

T = TypeVar("T")
_CACHE_HEADERS = ("x-satisfice-cache", "cache-control")
log = logging.getLogger("satisfice.server")


class ChatEndpoints:
    def __init__(self, gateway: Gateway, max_body: int, keys: KeyBook | None = None) -> None:
        self.gateway = gateway
        self.max_body = max_body
        self.keys = keys or KeyBook()

    def _call(self, request: web.Request, endpoint: str) -> Call:
        headers = request.headers
        digest = caller_digest(request)
        knob = headers.get(KNOB_HEADER) or None  # an empty header sets nothing
        if knob is None and self.keys:
            known = self.keys.find(digest)
            knob = known.knob if known is not None else None
        return Call(
            LedgerRow(id=new_request_id(), ts=time.time(), endpoint=endpoint, tenant=tenant_of(digest)),
            knob=knob,
            cache_headers={k: headers[k] for k in _CACHE_HEADERS if k in headers},
        )

    async def _guard(
        self,
        call: Call,
        work: Callable[[], Awaitable[T]],
        render: Callable[[GatewayError], web.Response],
        status: Callable[[GatewayError], int] | None = None,
    ) -> T | web.Response:
        """Run a step that may fail before any byte went out: errors become one response and one row.
        `status`: the HTTP status `render` answers an error with, when it is not the error's own."""
        try:
            return await work()
        except GatewayError as err:
            code = status(err) if status is not None else err.status
            self.gateway.submit(call, status=code, outcome="error", error=err)  # first: headers show cost
            return render(err)
        except asyncio.CancelledError:
            self.gateway.submit(call, status=499, outcome="client_closed", error="client disconnected")
            raise

    async def _contained(
        self, call: Call, work: Awaitable[web.StreamResponse], render: Callable[[GatewayError], web.Response]
    ) -> web.StreamResponse:
        """A bug in one request becomes a 500 for that request alone, with its ledger row."""
        try:
            return await work
        except Exception as e:
            log.exception("request %s failed", call.row.id)
            err = InternalError(
                f"Internal error in the gateway ({type(e).__name__}); request id {call.row.id}."
            )
            self.gateway.submit(call, status=err.status, outcome="error", error=err)
            return render(err)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        call = self._call(request, "chat.completions")

        def render(err: GatewayError) -> web.Response:
            return error_response(err, call.headers())

        return await self._contained(call, self._chat_completions(request, call, render), render)

    async def _chat_completions(
        self, request: web.Request, call: Call, render: Callable[[GatewayError], web.Response]
    ) -> web.StreamResponse:
        async def parse() -> dict[str, Any]:
            return validate_chat_request(await read_json(request, self.max_body))

        body = await self._guard(call, parse, render)
        if isinstance(body, web.Response):
            return body
        if body.get("stream"):
            opened = await self._guard(call, lambda: self.gateway.open_stream(call, body), render)
            if isinstance(opened, web.Response):
                return opened
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            encoder = OpenAIEncoder(include_usage, choices=body.get("n") or 1)
            return await relay(request, self.gateway, call, body, encoder, opened)
        result = await self._guard(call, lambda: self.gateway.complete(call, body), render)
        if isinstance(result, web.Response):
            return result
        self.gateway.submit(call, status=200, outcome="ok")
        return json_response(result.raw, 200, call.headers())

    async def messages(self, request: web.Request) -> web.StreamResponse:
        call = self._call(request, "messages")

        def render(err: GatewayError) -> web.Response:
            status, body = anthropic_error(err, call.attempts, call.row.id)
            headers = {**call.headers(), **err.headers, "request-id": call.row.id}
            return json_response(orjson.dumps(body), status, headers)

        return await self._contained(call, self._messages(request, call, render), render)

    async def _messages(
        self, request: web.Request, call: Call, render: Callable[[GatewayError], web.Response]
    ) -> web.StreamResponse:
        async def parse() -> dict[str, Any]:
            raw = await read_json(request, self.max_body)
            betas = request.headers.get("anthropic-beta")
            return validate_chat_request(messages_request_to_openai(raw, betas=betas))

        def status(err: GatewayError) -> int:  # 529 when every upstream was overloaded, as Anthropic says
            return anthropic_error(err, call.attempts)[0]

        body = await self._guard(call, parse, render, status)
        if isinstance(body, web.Response):
            return body
        if body.get("stream"):
            opened = await self._guard(call, lambda: self.gateway.open_stream(call, body), render, status)
            if isinstance(opened, web.Response):
                return opened
            encoder = AnthropicEncoder(
                call.target.dep.model if call.target is not None else call.row.model,
                "msg_" + call.row.id[4:],
                call.needs.prompt_estimate if call.needs is not None else 0,
            )
            return await relay(
                request, self.gateway, call, body, encoder, opened, {"request-id": call.row.id}
            )
        result = await self._guard(call, lambda: self.gateway.complete(call, body), render, status)
        if isinstance(result, web.Response):
            return result
        model = call.target.dep.model if call.target is not None else call.row.model
        answer = result.body
        if not isinstance(answer.get("usage"), dict):  # the upstream said nothing: the ledger's count
            answer = {
                **answer,
                "usage": Usage(call.row.prompt_tokens, call.row.completion_tokens).to_openai(),
            }
        out = openai_response_to_messages(answer, model=model)
        self.gateway.submit(call, status=200, outcome="ok")
        return json_response(orjson.dumps(out), 200, {**call.headers(), "request-id": call.row.id})

    async def count_tokens(self, request: web.Request) -> web.Response:
        """POST /v1/messages/count_tokens: an offline estimate (see api/anthropic_messages.py); no
        upstream call, no ledger row. An unknown model is a 404, as on /v1/messages."""
        request_id = new_request_id()
        headers = {"request-id": request_id, "x-satisfice-request-id": request_id}
        try:
            chat = count_tokens_request(await read_json(request, self.max_body))
            self._check_model(chat["model"])
            # Off the event loop: the tokenizer loads on first use, and long prompts take a while.
            count = await asyncio.get_running_loop().run_in_executor(None, count_message_tokens, chat)
        except GatewayError as err:
            status, error = anthropic_error(err, request_id=request_id)
            return json_response(orjson.dumps(error), status, {**headers, **err.headers})
        # Not Anthropic's tokenizer (unavailable offline): say the count is an estimate.
        headers["x-satisfice-token-count"] = "offline-estimate"
        return json_response(orjson.dumps({"input_tokens": count}), 200, headers)

    def _check_model(self, model: str) -> None:
        """Raise ModelNotFound where /v1/messages would: the planner's own lookups (a route, with or
        without a knob suffix, else the directory's deployments), without planning, which would
        also judge the prompt (a count is asked for precisely to find out whether it fits). A
        route's knob suffix is read as planning reads it: a malformed one is a 400 there too."""
        planner = self.gateway.planner
        route, suffix = planner.route_for(model)
        if route is None:
            planner.directory.targets(model)
        elif suffix is not None:
            parse_knob(suffix, param="model")

    async def messages_fallback(self, request: web.Request) -> web.Response:
        """Any other method or path under /v1/messages: Anthropic's error shape, not OpenAI's."""
        err: GatewayError
        if request.path in ("/v1/messages", "/v1/messages/count_tokens"):
            err = MethodNotAllowed(f"{request.method} is not allowed on {request.path}; use POST.")
        else:
            err = NotFound(f"Unknown request URL: {request.method} {request.path}.")
        request_id = new_request_id()
        status, body = anthropic_error(err, request_id=request_id)
        return json_response(orjson.dumps(body), status, {"request-id": request_id})
