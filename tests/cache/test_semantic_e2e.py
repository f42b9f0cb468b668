"""The semantic cache through the real gateway: a paraphrase is served the stored answer, a
near-miss is not (and the ledger says why), and scopes (tenant, parameters) are never crossed."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def semantic(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp: Path = tmp_path_factory.mktemp("gw-semantic")
    config = standard_config(upstream)
    config["routes"]["faq"] = {
        "strategy": "first",
        "candidates": ["gpt-4o-mini"],
        "cache": {"semantic": True},
    }
    with GatewayProcess(tmp, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def ask(gw: GatewayProcess, text: str, *, key: str = "sk-a", **kw: Any) -> Any:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    params: dict[str, Any] = {"model": "faq", "temperature": 0, **kw}
    return client.chat.completions.with_raw_response.create(
        messages=[
            {"role": "system", "content": f"Tenant note {kw.get('seed', '')}"},
            {"role": "user", "content": text},
        ],
        **params,
    )


def test_a_paraphrase_is_served_and_a_near_miss_is_not(
    semantic: GatewayProcess, upstream: FakeUpstream
) -> None:
    topic = uuid.uuid4().hex[:6]  # keeps this test's entries apart from other tests' (same scope otherwise)
    first = ask(semantic, f"How do I reset the password of my account {topic}?", seed=1)
    assert first.headers["x-satisfice-cache"] == "miss"
    para = ask(semantic, f"How can I reset my account {topic} password?", seed=1)
    assert para.headers["x-satisfice-cache"] == "hit-semantic"
    assert para.parse().choices[0].message.content == first.parse().choices[0].message.content
    row = semantic.row(para.headers["x-satisfice-request-id"])
    assert row["cache"] == "hit-semantic" and row["cost_usd"] == 0 and "cosine" in row["reason"]
    near = ask(semantic, f"How do I not reset the password of my account {topic}?", seed=1)
    assert near.headers["x-satisfice-cache"] == "miss"
    near_row = semantic.row(near.headers["x-satisfice-request-id"])
    assert "near-miss rejected" in near_row["reason"] and "negation" in near_row["reason"]
    numbers = ask(semantic, f"Convert 30 miles to kilometres for route {topic}", seed=1)
    assert numbers.headers["x-satisfice-cache"] == "miss"
    other = ask(semantic, f"Convert 45 miles to kilometres for route {topic}", seed=1)
    assert other.headers["x-satisfice-cache"] == "miss"
    assert "numbers differ" in semantic.row(other.headers["x-satisfice-request-id"])["reason"]


def test_another_model_version_is_a_miss(semantic: GatewayProcess) -> None:
    """Before, "gpt-4" was served the answer stored for "gpt-4o" (cosine 0.98): the guard read "gpt-4o"
    as "gpt", "4", "o" and no check looked at the "o"."""
    topic = uuid.uuid4().hex[:6]
    first = ask(semantic, f"What is the context window of gpt-4o for team {topic}?", seed=6)
    assert first.headers["x-satisfice-cache"] == "miss"
    other = ask(semantic, f"What is the context window of gpt-4 for team {topic}?", seed=6)
    assert other.headers["x-satisfice-cache"] == "miss"
    reason = semantic.row(other.headers["x-satisfice-request-id"])["reason"]
    assert "near-miss rejected" in reason and "entities differ" in reason
    para = ask(semantic, f"What's the context window of gpt-4o for team {topic}?", seed=6)
    assert para.headers["x-satisfice-cache"] == "hit-semantic"


def test_semantic_matches_never_cross_tenants_or_parameters(semantic: GatewayProcess) -> None:
    topic = uuid.uuid4().hex[:6]
    assert (
        ask(semantic, f"Can you explain the return policy of shop {topic}?", seed=2).headers[
            "x-satisfice-cache"
        ]
        == "miss"
    )
    para = f"Please explain the return policy of shop {topic}."
    assert ask(semantic, para, seed=2, key="sk-b").headers["x-satisfice-cache"] == "miss"  # another tenant
    assert ask(semantic, para, seed=2, max_tokens=50).headers["x-satisfice-cache"] == "miss"  # other params
    assert ask(semantic, para, seed=2).headers["x-satisfice-cache"] == "hit-semantic"


def test_a_semantic_hit_streams(semantic: GatewayProcess, upstream: FakeUpstream) -> None:
    topic = uuid.uuid4().hex[:6]
    first = ask(semantic, f"Which plan includes priority support for team {topic}?", seed=3).parse()
    client = openai.OpenAI(base_url=semantic.base_url, api_key="sk-a", max_retries=0)
    with client.chat.completions.with_streaming_response.create(
        model="faq",
        temperature=0,
        seed=3,
        stream=True,
        messages=[
            {"role": "system", "content": "Tenant note 3"},
            {"role": "user", "content": f"Which plan has priority support for team {topic}?"},
        ],
    ) as resp:
        assert resp.headers["x-satisfice-cache"] == "hit-semantic"
        chunks = [c for c in resp.parse() if isinstance(c, ChatCompletionChunk)]
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == first.choices[0].message.content
    )
    assert sum(1 for r in upstream.requests() if topic in json.dumps(r["body"])) == 1


def ask_with(gw: GatewayProcess, content: Any, seed: int) -> Any:
    """`ask` with any user content (text parts, images)."""
    client = openai.OpenAI(base_url=gw.base_url, api_key="sk-a", max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model="faq",
        temperature=0,
        seed=seed,
        messages=[{"role": "system", "content": f"Tenant note {seed}"}, {"role": "user", "content": content}],
    )


def png(data: bytes) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(data).decode()},
    }


def test_the_same_words_about_another_image_are_a_miss(
    semantic: GatewayProcess, upstream: FakeUpstream
) -> None:
    """Before, only the text parts were compared: the second photo got the first one's answer
    (cosine 1.000)."""
    topic = uuid.uuid4().hex[:6]
    words = {"type": "text", "text": f"What breed is the dog in this photo? ({topic})"}
    first = ask_with(semantic, [words, png(b"a beagle " + topic.encode())], seed=4)
    other = ask_with(semantic, [words, png(b"a poodle " + topic.encode())], seed=4)
    assert (first.headers["x-satisfice-cache"], other.headers["x-satisfice-cache"]) == ("miss", "miss")
    assert "not text only" in other.headers["x-satisfice-reason"]
    again = ask_with(semantic, [words, png(b"a poodle " + topic.encode())], seed=4)
    assert again.headers["x-satisfice-cache"] == "hit-exact"  # the exact cache keys on the image
    assert sum(1 for r in upstream.requests() if topic in json.dumps(r["body"])) == 2


def test_the_same_words_about_another_document_are_a_miss(semantic: GatewayProcess) -> None:
    """Anthropic document blocks (a PDF) likewise."""
    topic = uuid.uuid4().hex[:6]
    claude = anthropic.Anthropic(base_url=semantic.url, api_key="sk-a", max_retries=0)

    def ask_about(pdf: bytes) -> Any:
        source = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()}
        content: list[dict[str, Any]] = [
            {"type": "document", "source": source},
            {"type": "text", "text": f"Summarise this contract. ({topic})"},
        ]
        params: dict[str, Any] = {"model": "faq", "max_tokens": 50, "extra_body": {"temperature": 0}}
        params["messages"] = [{"role": "user", "content": content}]
        return claude.messages.with_raw_response.create(**params)

    first, other = (
        ask_about(b"%PDF-1.4 lease " + topic.encode()),
        ask_about(b"%PDF-1.4 loan " + topic.encode()),
    )
    assert (first.headers["x-satisfice-cache"], other.headers["x-satisfice-cache"]) == ("miss", "miss")


def test_reasons_never_quote_another_request(semantic: GatewayProcess) -> None:
    """A near-miss's reason named the stored prompt's number (another user's account number), and
    a hit's named the request that produced the answer, which /v1/feedback would take to evict it."""
    topic = uuid.uuid4().hex[:6]
    stored = ask(semantic, f"What is the balance of account 99127 at branch {topic}?", seed=5)
    near = ask(semantic, f"What is the balance of account 48213 at branch {topic}?", seed=5)
    header = near.headers["x-satisfice-reason"]
    assert near.headers["x-satisfice-cache"] == "miss" and "numbers differ" in header
    assert (
        "99127" not in header
        and "99127" not in semantic.row(near.headers["x-satisfice-request-id"])["reason"]
    )
    hit = ask(semantic, f"What's the balance of account 99127 at branch {topic}?", seed=5)
    assert hit.headers["x-satisfice-cache"] == "hit-semantic"
    producer = stored.headers["x-satisfice-request-id"]
    assert producer not in hit.headers["x-satisfice-reason"]
    assert producer in semantic.row(hit.headers["x-satisfice-request-id"])["reason"]  # operator-only


def test_one_word_put_in_another_place_is_a_miss(semantic: GatewayProcess) -> None:
    """Before, "silver" was served the answer stored for "gold" (cosine 0.83, over the default 0.8): no
    check compared an ordinary word, and the two are neighbours in the embedding."""
    scope = int(uuid.uuid4().int % 1_000_000) + 1000  # the seed keeps this test's entries apart
    first = ask(semantic, "What is the chemical symbol for gold?", seed=scope)
    assert first.headers["x-satisfice-cache"] == "miss"
    other = ask(semantic, "What is the chemical symbol for silver?", seed=scope)
    assert other.headers["x-satisfice-cache"] == "miss"
    assert other.parse().choices[0].message.content != first.parse().choices[0].message.content
    reason = semantic.row(other.headers["x-satisfice-request-id"])["reason"]
    assert "near-miss rejected" in reason and "a word differs" in reason
    para = ask(semantic, "What's the chemical symbol for gold?", seed=scope)
    assert para.headers["x-satisfice-cache"] == "hit-semantic"


def test_a_question_in_another_script_is_compared_word_for_word(semantic: GatewayProcess) -> None:
    """Before, "中国の首都はどこですか" (where is China's capital) was served the answer stored for Japan's
    (cosine 0.91): the guard read only ASCII letters, so it saw no word in either and passed them."""
    scope = int(uuid.uuid4().int % 1_000_000) + 1000
    first = ask(semantic, "日本の首都はどこですか", seed=scope)
    assert first.headers["x-satisfice-cache"] == "miss"
    other = ask(semantic, "中国の首都はどこですか", seed=scope)
    assert other.headers["x-satisfice-cache"] == "miss"
    assert other.parse().choices[0].message.content != first.parse().choices[0].message.content
    assert "entities differ" in semantic.row(other.headers["x-satisfice-request-id"])["reason"]
    again = ask(semantic, "日本の首都はどこですか\uff1f", seed=scope)  # a full-width question mark added
    assert again.headers["x-satisfice-cache"] == "hit-semantic"
