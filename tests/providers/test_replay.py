"""The replay provider: recorded answers at their recorded cost, as completions and as SSE streams."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice import tokens
from satisfice.config import parse_settings
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.replay import ReplayStream, ReplayUpstream
from satisfice.providers.results import Completion
from satisfice.wiring import local_upstreams
from tests.spec import validate

MINI, BIG = "gpt-4o-mini", "gpt-4o"
ANSWERS = {
    ("What is 2 + 2?", MINI): ("4", 0.00001),
    ("What is 2 + 2?", BIG): ("The answer is 4.", 0.0002),
    ("Name  a prime\nnumber.", MINI): (
        "  Seven is a prime number, and so is eleven; both are odd.  ",
        0.00003,
    ),
    ("Name  a prime\nnumber.", BIG): ("2", 0.0004),
}


def _line(rid: str, text: str, outcomes: dict[str, Any], split: str | None = None) -> bytes:
    row: dict[str, Any] = {"id": rid, "messages": [{"role": "user", "content": text}], "outcomes": outcomes}
    if split:
        row["split"] = split
    return orjson.dumps(row) + b"\n"


@pytest.fixture
def data(tmp_path: Path) -> str:
    lines = []
    for i, text in enumerate(("What is 2 + 2?", "Name  a prime\nnumber.")):
        outcomes = {
            m: {"quality": 1.0 if m == BIG else 0.5, "cost_usd": ANSWERS[(text, m)][1], "response": a}
            for (t, m), a in ((k, v[0]) for k, v in ANSWERS.items())
            if t == text
        }
        lines.append(_line(f"p{i}", text, outcomes))
    path = tmp_path / "tiny.jsonl"
    path.write_bytes(b"".join(lines))
    return str(path)


def dep(model: str) -> Deployment:
    return Deployment("replay", model, model, "", "replay")


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        **extra,
    }


def complete(up: ReplayUpstream, model: str, b: dict[str, Any]) -> Completion:
    return asyncio.run(up.complete(dep(model), b))


def test_lookup_usage_and_cost(data: str) -> None:
    up = ReplayUpstream.load(data)
    assert ReplayUpstream.load(data) is up  # cached per name
    assert up.models == [MINI, BIG]
    for (text, model), (answer, cost) in ANSWERS.items():
        b = body(text)
        res = complete(up, model, b)
        validate("CreateChatCompletionResponse", res.body)
        assert orjson.loads(res.raw) == res.body
        assert res.body["model"] == model and res.body["choices"][0]["finish_reason"] == "stop"
        assert res.body["choices"][0]["message"] == {"role": "assistant", "content": answer, "refusal": None}
        assert res.cost_usd == cost
        assert res.usage is not None
        assert res.usage.prompt_tokens == tokens.count_prompt(b, model)
        assert res.usage.completion_tokens == tokens.count_text(answer, model)
        assert res.body["usage"]["total_tokens"] == res.usage.total_tokens


def test_whitespace_normalised_lookup(data: str) -> None:
    up = ReplayUpstream.load(data)
    res = complete(up, BIG, body("  Name a   prime number.\n"))
    assert res.body["choices"][0]["message"]["content"] == "2"
    parts = {"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]}
    res = asyncio.run(up.complete(dep(MINI), {"messages": [parts]}))
    assert res.body["choices"][0]["message"]["content"] == "4"


def test_unknown_prompt_or_model_is_a_404_refusal(data: str) -> None:
    up = ReplayUpstream.load(data)
    for model, text, says in (
        (MINI, "What is 3 + 3?", "unknown to the data"),
        ("claude-3-5-haiku", "What is 2 + 2?", "'claude-3-5-haiku' on this prompt"),
    ):
        with pytest.raises(AttemptFailed) as err:
            complete(up, model, body(text))
        assert err.value.kind is FailureKind.REFUSED and err.value.status == 404
        assert "no recorded answer" in err.value.message and says in err.value.message
        with pytest.raises(AttemptFailed):
            asyncio.run(up.stream(dep(model), body(text)))


def test_missing_response_cost_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "dups.jsonl"
    path.write_bytes(
        _line("a", "same", {MINI: {"quality": 0.0, "response": "first"}, BIG: {"quality": 1.0}})
        + _line("b", "same", {MINI: {"quality": 1.0, "response": "second"}, BIG: {"quality": 1.0}})
    )
    up = ReplayUpstream(ReplayUpstream.load(str(path)).dataset)
    assert up.models == [MINI]  # no recorded answer of BIG anywhere
    res = complete(up, MINI, body("same"))
    assert res.body["choices"][0]["message"]["content"] == "first" and res.cost_usd is None
    res = complete(up, MINI, body("same", metadata={"replay_id": "b"}))
    assert res.body["choices"][0]["message"]["content"] == "second"
    found = up.lookup("same", MINI, "b")
    assert found is not None and found[0].id == "b" and found[1].quality == 1.0
    with pytest.raises(AttemptFailed, match="no recorded answer"):
        complete(up, BIG, body("same"))


def test_latency_option(data: str) -> None:
    up = ReplayUpstream(ReplayUpstream.load(data).dataset, latency_ms=30)
    loop = asyncio.new_event_loop()
    try:
        t0 = loop.time()
        loop.run_until_complete(up.complete(dep(MINI), body("What is 2 + 2?")))
        assert loop.time() - t0 >= 0.029
    finally:
        loop.close()


async def _drain(s: ReplayStream) -> list[bytes]:
    out = [ev async for ev in s]
    await s.aclose()
    return out


def test_stream_shape(data: str) -> None:
    up = ReplayUpstream.load(data)
    text = "Name  a prime\nnumber."
    answer, cost = ANSWERS[(text, MINI)]
    b = body(text, stream=True)
    stream = asyncio.run(up.stream(dep(MINI), b))
    assert isinstance(stream, ReplayStream) and stream.usage is None
    events = asyncio.run(_drain(stream))
    assert events == stream.events and all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    chunks = [orjson.loads(e[6:]) for e in events]
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c)
        assert c["object"] == "chat.completion.chunk" and c["model"] == MINI and c["id"] == chunks[0]["id"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert "".join(content) == answer and len(content) == 3  # 12 words, 4 per chunk
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == [] and stream.usage is not None
    assert chunks[-1]["usage"] == stream.usage.to_openai()
    assert stream.usage.prompt_tokens == tokens.count_prompt(b, MINI)
    assert stream.usage.completion_tokens == tokens.count_text(answer, MINI)
    assert stream.cost_usd == cost


def test_stream_closed_early(data: str) -> None:
    up = ReplayUpstream.load(data)

    async def first_then_close() -> int:
        s = await up.stream(dep(BIG), body("What is 2 + 2?"))
        async for _ in s:
            break
        await s.aclose()
        return len(s.events)

    assert asyncio.run(first_then_close()) == 1


def test_wired_from_config(data: str) -> None:
    doc = {"providers": [{"name": "rec", "type": "replay", "dataset": data}]}
    settings, local = local_upstreams(parse_settings(doc, env={}))
    assert isinstance(local["rec"], ReplayUpstream) and local["rec"] is ReplayUpstream.load(data)
    assert settings.providers[0].models == (MINI, BIG)
