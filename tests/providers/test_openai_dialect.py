from typing import Any

import orjson

from satisfice.providers.base import Deployment
from satisfice.providers.openai_compat import AZURE, OPENAI, openai_error_info
from satisfice.providers.sse import SSEParser


def dep(dialect: str = "openai", **kw: object) -> Deployment:
    base: dict[str, Any] = {
        "provider": "p",
        "model": "gpt-4o-mini",
        "upstream_model": "gpt-4o-mini-2024-07-18",
        "base_url": "https://api.example.com/v1",
        "dialect": dialect,
        "api_key": "sk-x",
    }
    base.update(kw)
    return Deployment(**base)


def test_openai_request_sends_upstream_id_and_asks_for_usage_when_streaming() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "seed": 1,
    }
    req = OPENAI.build_chat(dep(headers=(("x-extra", "1"),)), body, stream=True)
    sent = orjson.loads(req.body)
    assert req.url == "https://api.example.com/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-x" and req.headers["x-extra"] == "1"
    assert sent["model"] == "gpt-4o-mini-2024-07-18" and sent["seed"] == 1
    assert sent["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-mini" and "stream_options" not in body  # the caller's body is untouched


def test_azure_uses_deployment_path_api_version_and_api_key_header() -> None:
    d = dep(
        "azure",
        base_url="https://res.openai.azure.com",
        upstream_model="my-deploy",
        options=(("api_version", "2024-06-01"),),
    )
    req = AZURE.build_chat(d, {"model": "gpt-4o", "messages": []}, stream=False)
    assert (
        req.url
        == "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version=2024-06-01"
    )
    assert req.headers["api-key"] == "sk-x" and "authorization" not in req.headers
    emb = AZURE.build_embeddings(d, {"model": "x", "input": "a"})
    assert emb.url.endswith("/openai/deployments/my-deploy/embeddings?api-version=2024-06-01")


def test_error_info_reads_messages_and_context_window_errors() -> None:
    body = (
        b'{"error": {"message": "This model\'s maximum context length is 8192 tokens.", '
        b'"type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}'
    )
    info = openai_error_info(body)
    assert info.context_window_exceeded and info.message.startswith("This model's maximum")
    assert not openai_error_info(b'{"error": {"message": "Rate limit reached"}}').context_window_exceeded
    assert openai_error_info(b"<html>bad gateway</html>").message == "<html>bad gateway</html>"
    assert openai_error_info(b"").message


def test_sse_parser_handles_split_blocks_crlf_and_comments() -> None:
    p = SSEParser()
    assert p.feed(b'data: {"a"') == []
    assert p.feed(b": 1}\n\n: keep-alive\n\nevent: ping\r\ndata: x\r\n\r\ndata: [DONE]\n\n") == [
        (None, b'{"a": 1}'),
        ("ping", b"x"),
        (None, b"[DONE]"),
    ]
    assert p.feed(b"data: line1\ndata: line2\n\n") == [(None, b"line1\nline2")]
