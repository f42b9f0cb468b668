"""Adapter edge cases through the real gateway, the fake upstream and the official SDKs: JSON schemas
Gemini would refuse, a Claude tool call without arguments streamed, Gemini's broken function calls,
Gemini's mid-stream overload as /v1/messages clients see it, Gemini's function-call ids, a
request Gemini cannot take (no user or assistant content), a deployment Google refuses with a 400
(a key that is not valid, a project it does not serve), and penalties Gemini 2.5 refuses."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.behaviours import MALFORMED_MESSAGE
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HELLO: Any = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "reliability": single_call_reliability(2.0, 4.0),
        "providers": dialect_providers(upstream),
        "routes": {
            "gem-broken": {"strategy": "first", "candidates": ["gem/malformed+edge", "gem/whole+edge"]},
            "gem-then-oai": {"strategy": "first", "candidates": ["gem/gemfirst+edge", "oai/oaisecond+edge"]},
            "gem-badkey": {"strategy": "first", "candidates": ["gem/badkey+audit", "oai/next+audit"]},
            "gem-noregion": {"strategy": "first", "candidates": ["gem/noregion+audit", "oai/next+audit"]},
        },
    }
    with GatewayProcess(tmp_path_factory.mktemp("adapter-edges"), config) as g:
        yield g


def _outcomes(gw: GatewayProcess, request_id: str) -> list[tuple[str, str]]:
    return [(a["model"], a["outcome"]) for a in json.loads(gw.row(request_id)["attempts"])]


# -- 1: JSON schemas Gemini refuses -------------------------------------------------------------------

# Valid JSON Schema that Gemini's API answers 400 for, as the fake does with "strict": string
# formats other than enum/date-time, arrays without items, nested objects without properties.
AWKWARD: Any = {
    "type": "object",
    "properties": {
        "echo": {"type": "string", "description": "what to look up"},
        "site": {"type": "string", "format": "uri"},
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array"},
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["echo", "labels"],
}


def test_a_tool_schema_gemini_would_refuse_is_made_acceptable(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    tool: Any = {"type": "function", "function": {"name": "lookup", "parameters": AWKWARD}}
    resp = oai.chat.completions.create(model="gem/strict+edge", messages=HELLO, tools=[tool])
    (call,) = resp.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"echo": "hello there"}  # type: ignore[union-attr]
    sent = upstream.sent("strict+edge")["tools"][0]["functionDeclarations"][0]["parameters"]
    assert sent["properties"]["site"] == {"type": "string", "description": "(format: uri)"}
    assert sent["properties"]["tags"]["items"] == {"type": "string"}
    assert sent["properties"]["point"]["items"] == {"type": "number"}
    assert "labels" not in sent["properties"] and sent["required"] == ["echo"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_response_schema_gemini_would_refuse_is_made_acceptable(oai: openai.OpenAI, stream: bool) -> None:
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "lookup", "schema": AWKWARD}}
    if stream:
        with oai.chat.completions.stream(model="gem/strict+edge", messages=HELLO, response_format=fmt) as s:
            content = s.get_final_completion().choices[0].message.content
    else:
        content = (
            oai.chat.completions.create(model="gem/strict+edge", messages=HELLO, response_format=fmt)
            .choices[0]
            .message.content
        )
    assert json.loads(content or "") == {"echo": "hello there"}


# -- 2: a Claude tool call without arguments, streamed ------------------------------------------------

NO_ARGS_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "now",
        "description": "the time",
        "parameters": {"type": "object", "properties": {}},
    },
}


def test_a_streamed_claude_call_without_arguments_has_json_arguments(oai: openai.OpenAI) -> None:
    """Claude streams `input: {}` and one empty argument delta: OpenAI's arguments are still JSON,
    "{}" as the non-streaming answer gives them."""
    fragments: list[str] = []
    with oai.chat.completions.stream(model="ant/noargs+edge", messages=HELLO, tools=[NO_ARGS_TOOL]) as s:
        for event in s:
            if event.type == "chunk":
                for choice in event.chunk.choices:
                    fragments += [
                        c.function.arguments or "" for c in choice.delta.tool_calls or [] if c.function
                    ]
        final = s.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "now" and call.function.arguments == "{}"
    assert "".join(fragments) == "{}" and final.choices[0].finish_reason == "tool_calls"
    whole = oai.chat.completions.create(model="ant/noargs+edge", messages=HELLO, tools=[NO_ARGS_TOOL])
    assert (whole.choices[0].message.tool_calls or [])[0].function.arguments == "{}"  # type: ignore[union-attr]


# -- 3: Gemini's broken function call is a failed attempt ----------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_malformed_function_call_fails_over(oai: openai.OpenAI, gw: GatewayProcess, stream: bool) -> None:
    tool: Any = {"type": "function", "function": {"name": "lookup", "parameters": AWKWARD}}
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model="gem-broken", messages=HELLO, tools=[tool], stream=True
        ) as resp:
            rid, model = resp.headers["x-satisfice-request-id"], resp.headers["x-satisfice-model"]
            chunks = list(resp.parse())
        args = "".join(
            c.function.arguments or ""
            for ch in chunks
            for x in ch.choices
            for c in x.delta.tool_calls or []
            if c.function
        )
        first = "server_error"  # a failure at the stream's start: retried, or the next candidate answers
    else:
        raw = oai.chat.completions.with_raw_response.create(model="gem-broken", messages=HELLO, tools=[tool])
        rid, model = raw.headers["x-satisfice-request-id"], raw.headers["x-satisfice-model"]
        args = (raw.parse().choices[0].message.tool_calls or [])[0].function.arguments  # type: ignore[union-attr]
        first = "bad_response"
    assert model == "whole+edge" and json.loads(args) == {"echo": "hello there"}
    assert _outcomes(gw, rid) == [("malformed+edge", first), ("whole+edge", "ok")]


def test_a_malformed_function_call_alone_is_an_error_with_geminis_words(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="gem/malformed+edge", messages=HELLO)
    assert err.value.status_code == 502
    assert "MALFORMED_FUNCTION_CALL" in err.value.message and MALFORMED_MESSAGE in err.value.message


# -- 4: Gemini's overload inside a stream, for /v1/messages clients -----------------------------------


def test_gemini_overloaded_mid_stream_is_overloaded_error(ant: anthropic.Anthropic) -> None:
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        ant.messages.stream(model="gem/overloadafter-2+edge", max_tokens=20, messages=HELLO) as s,
    ):
        texts.extend(s.text_stream)
    assert texts and err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_gemini_overloaded_at_the_start_is_a_529(ant: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        ant.messages.stream(model="gem/overloadafter-0+edge", max_tokens=20, messages=HELLO) as s,
    ):
        s.get_final_message()
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# -- 5: Gemini's function-call ids --------------------------------------------------------------------

LOOKUP: Any = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_geminis_call_id_is_the_tool_call_id_and_goes_back(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    """The fake ("callid") gives its function calls ids, as Gemini 3 does, and answers 400 to a
    functionResponse without its call's id: a tool loop through the SDK carries the id both ways."""
    question = f"look up {uuid.uuid4().hex}"
    messages: Any = [{"role": "user", "content": question}]
    calls: list[Any]
    if stream:
        with oai.chat.completions.stream(model="gem/callid+edge", messages=messages, tools=[LOOKUP]) as s:
            calls = list(s.get_final_completion().choices[0].message.tool_calls or [])
    else:
        resp = oai.chat.completions.create(model="gem/callid+edge", messages=messages, tools=[LOOKUP])
        calls = list(resp.choices[0].message.tool_calls or [])
    (call,) = calls
    assert re.fullmatch(r"fc\d+n0", call.id), call.id  # Gemini's id, not an invented call_...
    function = {"name": call.function.name, "arguments": call.function.arguments}
    replayed: Any = {
        "role": "assistant",
        "tool_calls": [{"id": call.id, "type": "function", "function": function}],
    }
    follow = oai.chat.completions.create(
        model="gem/callid+edge",
        messages=[*messages, replayed, {"role": "tool", "tool_call_id": call.id, "content": "found"}],
        tools=[LOOKUP],
    )
    assert follow.choices[0].message.content == f"echo: {question}"
    contents = upstream.sent("callid+edge")["contents"]
    assert contents[1]["parts"][0]["functionCall"]["id"] == call.id
    assert contents[2]["parts"][0]["functionResponse"] == {
        "id": call.id,
        "name": "lookup",
        "response": {"content": "found"},
    }


# -- 6: a request Gemini cannot take: no user or assistant content -----------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_system_only_request_to_gemini_is_a_local_400(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    """Gemini refuses `contents: []`: the gateway says so itself, naming `messages`, and sends nothing."""
    marker = uuid.uuid4().hex
    messages: Any = [{"role": "system", "content": f"be brief {marker}"}, {"role": "user", "content": ""}]
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="gem/whole+edge", messages=messages, stream=stream)
    assert err.value.param == "messages" and "user or assistant message" in err.value.message
    assert not [r for r in upstream.requests() if marker in json.dumps(r["body"])]


def test_a_route_takes_a_system_only_request_past_gemini(
    oai: openai.OpenAI, gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    raw = oai.chat.completions.with_raw_response.create(
        model="gem-then-oai", messages=[{"role": "system", "content": f"say hello {marker}"}]
    )
    assert raw.parse().choices[0].message.content is not None
    assert raw.headers["x-satisfice-model"] == "oaisecond+edge"
    rid = raw.headers["x-satisfice-request-id"]
    assert _outcomes(gw, rid) == [("gemfirst+edge", "untranslatable"), ("oaisecond+edge", "ok")]
    assert [r["model"] for r in upstream.requests() if marker in json.dumps(r["body"])] == ["oaisecond+edge"]


# -- Google's 400s that refuse a deployment; penalties Gemini 2.5 refuses ----------------------------


@pytest.mark.parametrize("why", ["badkey", "noregion"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_deployment_gemini_refuses_with_a_400_fails_over(
    oai: openai.OpenAI, gw: GatewayProcess, why: str, stream: bool
) -> None:
    """Google answers a key that is not valid with 400 INVALID_ARGUMENT (reason API_KEY_INVALID) and a
    project in a region it does not serve with 400 FAILED_PRECONDITION: the deployment's fault, not
    the request's, so the next candidate answers (as for a 401/403)."""
    if stream:
        with oai.chat.completions.with_streaming_response.create(
            model=f"gem-{why}", messages=HELLO, stream=True
        ) as resp:
            rid = resp.headers["x-satisfice-request-id"]
            text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    else:
        raw = oai.chat.completions.with_raw_response.create(model=f"gem-{why}", messages=HELLO)
        rid, text = raw.headers["x-satisfice-request-id"], raw.parse().choices[0].message.content or ""
    assert text == "echo: hello there"
    assert _outcomes(gw, rid) == [(f"{why}+audit", "refused"), ("next+audit", "ok")]


def test_a_bad_gemini_key_alone_is_no_invalid_request(oai: openai.OpenAI) -> None:
    """With no other candidate the client learns the deployment was refused, not that its request
    was wrong."""
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="gem/badkey+audit", messages=HELLO)
    assert "API key not valid" in err.value.message
    assert err.value.code == "upstream_refused"


@pytest.mark.parametrize("stream", [False, True])
def test_penalties_do_not_fail_a_gemini_2_5_request(
    oai: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    """Gemini 2.5 answers 400 "Penalty is not enabled for models/gemini-2.5-flash" to a non-zero
    penalty; README promises such best-effort fields are dropped, not refused."""
    model = f"gemini-2.5-flash+penalty{int(stream)}"
    kwargs: Any = {"presence_penalty": 0.5, "frequency_penalty": 0.3, "temperature": 0.2}
    if stream:
        chunks = list(
            oai.chat.completions.create(model=f"gem/{model}", messages=HELLO, stream=True, **kwargs)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = (
            oai.chat.completions.create(model=f"gem/{model}", messages=HELLO, **kwargs)
            .choices[0]
            .message.content
            or ""
        )
    assert text == "echo: hello there"
    sent = upstream.sent(model)["generationConfig"]
    assert "presencePenalty" not in sent and "frequencyPenalty" not in sent and sent["temperature"] == 0.2
