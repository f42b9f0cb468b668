"""GET /v1/models, POST /v1/embeddings, GET /health, and the OpenAI-style 404/405 for the rest."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from satisfice.api.anthropic_messages import anthropic_error
from satisfice.api.openai_request import check_model_name
from satisfice.errors import (
    GatewayError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
)
from satisfice.gateway import Call, Gateway
from satisfice.ledger.record import LedgerRow, apply_costs
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.openai_compat import OpenAIDialect
from satisfice.providers.registry import dialect
from satisfice.providers.runner import read_body
from satisfice.routing.directory import ModelDirectory, Target
from satisfice.routing.knob import parse_knob
from satisfice.routing.planner import Plan
from satisfice.server.http import (
    caller_digest,
    error_response,
    json_response,
    new_request_id,
    read_json,
    tenant_of,
)
from satisfice.usage import Usage, usage_from_openai

KNOWN_PATHS = {
    "/v1/chat/completions": "POST",
    "/v1/messages": "POST",
    "/v1/models": "GET",
    "/v1/embeddings": "POST",
    "/health": "GET",
    "/chat/completions": "POST",
    "/models": "GET",
    "/embeddings": "POST",
    "/v1/feedback": "POST",
}
_UPSTREAM_LIST_TTL_S = 60.0
log = logging.getLogger("satisfice.server")


class MiscEndpoints:
    def __init__(self, gateway: Gateway, directory: ModelDirectory, max_body: int, simulated: bool) -> None:
        self.gateway = gateway
        self.directory = directory
        self.max_body = max_body
        self.simulated = simulated
        self.started = int(time.time())
        self._upstream_models: tuple[float, list[dict[str, Any]]] = (0.0, [])

    async def models(self, request: web.Request) -> web.Response:
        listed = await self._listed()
        if _anthropic_client(request):
            return _anthropic_models(request, list(listed.values()))
        body = orjson.dumps({"object": "list", "data": list(listed.values())})
        return json_response(body, headers=_request_ids())

    async def model(self, request: web.Request) -> web.Response:
        """GET /v1/models/{model}: one entry of the list; a `route:knob` name is its route's."""
        name = request.match_info["model"]
        listed = await self._listed()
        found = listed.get(name)
        route, suffix = self.gateway.planner.route_for(name)
        if found is None and route is not None and suffix is not None:
            try:
                parse_knob(suffix)  # as chat would: "auto:bogus" is no model
            except GatewayError as err:
                return error_response(err, _request_ids())
            found = {**listed[name.partition(":")[0]], "id": name}
        if found is None and self.directory.names_exactly(name):
            # A name chat takes that the list does not spell out: a dated snapshot or alias
            # ("gpt-4o-2024-08-06"), a provider-qualified one ("anthropic/claude-3-5-haiku", a
            # passthrough's "oai/x").
            owner = name.partition("/")[0] if "/" in name else self.directory.targets(name)[0].dep.provider
            found = {"id": name, "object": "model", "created": self.started, "owned_by": owner}
        anthropic = _anthropic_client(request)
        if found is None:
            missing = ModelNotFound(f"The model '{name}' does not exist (see GET /v1/models).", param="model")
            if anthropic:
                ids = _request_ids()
                status, body = anthropic_error(missing, request_id=ids["x-request-id"])
                return json_response(orjson.dumps(body), status, ids)
            return error_response(missing, _request_ids())
        return json_response(
            orjson.dumps(_anthropic_model(found) if anthropic else found), headers=_request_ids()
        )

    async def _listed(self) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = {}
        for name in self.directory.routes:
            data[name] = {
                "id": name,
                "object": "model",
                "created": self.started,
                "owned_by": "satisfice-route",
            }
        for t in self.directory.servable():
            data.setdefault(
                t.dep.model,
                {"id": t.dep.model, "object": "model", "created": self.started, "owned_by": t.dep.provider},
            )
        for m in await self._passthrough_models():
            data.setdefault(m["id"], m)
        return data

    async def _passthrough_models(self) -> list[dict[str, Any]]:
        """Models an OpenAI-compatible passthrough endpoint lists itself (cached, best effort)."""
        fetched_at, cached = self._upstream_models
        if time.monotonic() - fetched_at < _UPSTREAM_LIST_TTL_S:
            return cached
        out: list[dict[str, Any]] = []
        for p in self.directory.providers.values():
            if not p.passthrough or p.dialect != "openai":
                continue
            # As a chat call sends them: the key, then the provider's configured headers.
            headers = {"authorization": f"Bearer {p.api_key}"} if p.api_key else {}
            headers.update(p.headers)
            try:
                async with (
                    asyncio.timeout(2.0),
                    self.gateway.runner.session.get(
                        f"{p.base_url}/models", headers=headers, allow_redirects=False
                    ) as resp,
                ):
                    raw, whole = await read_body(resp, self.gateway.runner.max_response_bytes)
                    listed = orjson.loads(raw) if resp.status == 200 and whole else {}
            except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError):
                continue
            for m in listed.get("data") or [] if isinstance(listed, dict) else []:
                if isinstance(m, dict) and isinstance(m.get("id"), str):
                    out.append(
                        {
                            "id": m["id"],
                            "object": "model",
                            "created": int(m.get("created") or self.started),
                            "owned_by": str(m.get("owned_by") or p.name),
                        }
                    )
        self._upstream_models = (time.monotonic(), out)
        return out

    async def embeddings(self, request: web.Request) -> web.Response:
        call = Call(
            LedgerRow(
                id=new_request_id(),
                ts=time.time(),
                endpoint="embeddings",
                tenant=tenant_of(caller_digest(request)),
            )
        )
        try:
            body = await read_json(request, self.max_body)
            model = _validate_embeddings(body)
            if self.gateway.planner.route_for(model)[0] is not None:
                raise InvalidRequest(
                    f"'{model}' is a chat route: /v1/embeddings needs an embeddings model, such as "
                    "text-embedding-3-small.",
                    param="model",
                    code="model_not_supported",
                )
            limited = self.gateway.model_id(model)  # a model's limit holds under each of its names
            await self.gateway.admit(call, limited, lambda: _input_tokens_estimate(body["input"]))
            targets = [t for t in self.directory.targets(model) if t.dep.dialect in ("openai", "azure")]
            if not targets:
                raise InvalidRequest(
                    f"The model '{model}' is not served by an embeddings-capable provider.",
                    param="model",
                    code="model_not_supported",
                )
            plan = Plan(
                model, "direct", targets, "requested model", targets[0].info, self.gateway.planner.reliability
            )
            call.plan = plan
            call.row.route, call.row.strategy, call.row.reason = model, "direct", plan.reason

            async def attempt(target: Target) -> bytes:
                d = dialect(target.dep.dialect)
                assert isinstance(d, OpenAIDialect)
                return await self.gateway.runner.post_json(d.build_embeddings(target.dep, body), d)

            target, raw = await self.gateway.executor.run(plan, attempt, call.attempts)
            call.target = target
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise AttemptFailed(FailureKind.BAD_RESPONSE, "unreadable embeddings answer") from None
            call.row.model, call.row.provider = target.dep.model, target.dep.provider
            reported = usage_from_openai(parsed.get("usage")) if isinstance(parsed, dict) else None
            usage = reported or _embeddings_usage(body["input"], target.dep.model)
            apply_costs(call.row, target.info, target.info, usage)
            call.attempts[-1].bill(call.row.cost_usd, usage)  # the attempts add up to the row
        except GatewayError as err:
            self.gateway.submit(call, status=err.status, outcome="error", error=err)
            return error_response(err, call.headers())
        except AttemptFailed as e:
            bad = InvalidRequest(e.message, status=502, code="bad_upstream_response")
            self.gateway.submit(call, status=502, outcome="error", error=bad)
            return error_response(bad, call.headers())
        except Exception as e:
            log.exception("embeddings request %s failed", call.row.id)
            internal = InternalError(f"Internal error in the gateway ({type(e).__name__}).")
            self.gateway.submit(call, status=500, outcome="error", error=internal)
            return error_response(internal, call.headers())
        self.gateway.submit(call, status=200, outcome="ok")
        return json_response(raw, 200, call.headers())

    async def health(self, request: web.Request) -> web.Response:
        breakers = self.gateway.executor.breakers.snapshot()
        # Still 200: the gateway answers. "degraded" says what an operator should look at.
        learner = self.gateway.planner.learner
        stores = (self.gateway.ledger.problem(), learner.store.problem() if learner is not None else None)
        problems = [p for p in stores if p]
        opened = sorted(k for k, v in breakers.items() if v != "closed")
        if opened:
            problems.append(f"circuit open for {', '.join(opened)} (in this process)")
        pool = self.gateway.runner.pool.snapshot()
        if pool["waiting"]:  # calls queue for a connection: the gateway, not a provider, is the limit
            problems.append(
                f"upstream connection pool full: {pool['waiting']} calls waiting "
                f"(server.upstream_connections = {pool['limit']}, in this process)"
            )
        return json_response(
            orjson.dumps(
                {
                    "status": "degraded" if problems else "ok",
                    "problems": problems,
                    "pid": os.getpid(),  # which worker answered (serve --workers N)
                    "simulated": self.simulated,
                    "providers": sorted(self.directory.providers),
                    "open_breakers": opened,
                    "upstream_connections": pool,
                }
            )
        )

    async def fallback(self, request: web.Request) -> web.Response:
        expected = KNOWN_PATHS.get(request.path)
        err: GatewayError
        if expected is not None:
            allow = "GET, HEAD" if expected == "GET" else expected  # a 405 says what is allowed
            err = MethodNotAllowed(
                f"{request.method} is not allowed on {request.path}; use {expected}.",
                headers={"allow": allow},
            )
        else:
            err = NotFound(f"Unknown request URL: {request.method} {request.path}.")
        return error_response(err, _request_ids())  # every response names a request, as OpenAI's do


def _anthropic_client(request: web.Request) -> bool:
    """The Anthropic SDK sends `anthropic-version` with every request: it reads models in its shape."""
    return "anthropic-version" in request.headers


def _anthropic_model(entry: dict[str, Any]) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(entry.get("created", 0), datetime.UTC)
    return {
        "type": "model",
        "id": entry["id"],
        "display_name": entry["id"],
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _anthropic_models(request: web.Request, entries: list[dict[str, Any]]) -> web.Response:
    """Anthropic's list: a page of `limit` (default 20, at most 1000) after `after_id` or before
    `before_id`, with has_more, first_id and last_id."""
    ids = _request_ids()
    query = request.query
    try:
        limit = min(max(int(query.get("limit", "20")), 1), 1000)
    except ValueError:
        limit = 20
    names = [e["id"] for e in entries]
    start, end = 0, len(entries)
    if query.get("after_id") in names:
        start = names.index(query["after_id"]) + 1
    if query.get("before_id") in names:
        end = names.index(query["before_id"])
        start = max(start, end - limit) if "after_id" not in query else start
    page = [_anthropic_model(e) for e in entries[start:end][:limit]]
    body = {
        "data": page,
        "has_more": start + len(page) < end,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    return json_response(orjson.dumps(body), headers=ids)


def _request_ids() -> dict[str, str]:
    """A new request id, where the OpenAI SDK, the Anthropic SDK and our clients read it."""
    request_id = new_request_id()
    return {"x-request-id": request_id, "x-satisfice-request-id": request_id, "request-id": request_id}


def _embeddings_usage(inp: Any, model: str) -> Usage:
    """The input's tokens counted offline, for an upstream that reports no usage (it still bills)."""
    from satisfice.tokens import count_text

    def count(x: Any) -> int:
        if isinstance(x, str):
            return count_text(x, model)
        if isinstance(x, list):
            return sum(1 if isinstance(v, int) else count(v) for v in x)
        return 0

    return Usage(prompt_tokens=count(inp), estimated=True)


def _input_tokens_estimate(inp: Any) -> int:
    """Embeddings input: text at ~4 bytes a token, token arrays by their length."""
    if isinstance(inp, str):
        return max(1, len(inp.encode()) // 4)
    if isinstance(inp, list):
        return max(1, sum(1 if isinstance(x, int) else _input_tokens_estimate(x) for x in inp))
    return 1


def _validate_embeddings(body: Any) -> str:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    check_model_name(model)
    inp = body.get("input")
    if inp is None:
        raise InvalidRequest(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    if not isinstance(inp, (str, list)) or (isinstance(inp, list) and not inp):
        raise InvalidRequest(
            "Invalid 'input': expected a string or a non-empty array.", param="input", code="invalid_type"
        )
    return model
