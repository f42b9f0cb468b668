"""Anthropic thinking blocks inside the internal OpenAI shape: one private carrier.

Anthropic requires the thinking blocks of an assistant turn to be passed back unchanged (signature
included) when a tool loop continues, and /v1/messages clients expect them in answers. The OpenAI
shape has no place for them (`reasoning_content` is text, without signatures or redacted blocks),
so they ride under one private key, `THINKING_BLOCKS`:

* on an assistant message, in a request's history or in an answer (`choices[].message`): the
  complete blocks in order, `{"type": "thinking", "thinking", "signature"}` or
  `{"type": "redacted_thinking", "data"}`. They come before the message's text and tool calls.
* on a stream delta (`choices[].delta`): fragments `{"index": i, ...}`, `i` the block's place in
  that list. A block's first fragment has its `type` (a redacted block also its whole `data`);
  `thinking` fragments append to the text, a `signature` fragment sets the signature.

The /v1/messages translation writes it from history and reads it from answers; the Anthropic dialect
sends it upstream and writes it from Anthropic's answers, next to `reasoning_content` (which
OpenAI-shaped clients keep getting). Nothing else passes it on: the OpenAI dialects drop it before
sending, the Gemini dialect never reads it, and /v1/chat/completions strips it from answers.
A block that is not complete (a thinking text without its signature) is never carried on as a
whole block: Anthropic would refuse it.
"""

from __future__ import annotations

from typing import Any

import orjson

JSON = dict[str, Any]

THINKING_BLOCKS = "satisfice_thinking_blocks"
_MARK = THINKING_BLOCKS.encode()  # a cheap test before parsing


def complete_block(block: Any) -> JSON | None:
    """The block with what Anthropic takes back, or None when it is not a complete thinking or
    redacted_thinking block."""
    if not isinstance(block, dict):
        return None
    kind, text, sig, data = (block.get(k) for k in ("type", "thinking", "signature", "data"))
    if kind == "thinking" and isinstance(text, str) and isinstance(sig, str) and sig:
        return {"type": "thinking", "thinking": text, "signature": sig}
    if kind == "redacted_thinking" and isinstance(data, str) and data:
        return {"type": "redacted_thinking", "data": data}
    return None


def complete_blocks(blocks: Any) -> list[JSON]:
    """The complete blocks of a list (anything else in it is dropped)."""
    found = (complete_block(b) for b in blocks) if isinstance(blocks, list) else ()
    return [b for b in found if b is not None]


def carried(message: Any) -> list[JSON]:
    """The complete blocks an assistant message carries."""
    return complete_blocks(message.get(THINKING_BLOCKS)) if isinstance(message, dict) else []


def whole_fragments(blocks: list[JSON]) -> list[JSON]:
    """Complete blocks as stream fragments, one per block."""
    return [{"index": i, **block} for i, block in enumerate(blocks)]


def add_fragments(blocks: list[JSON], fragments: Any) -> None:
    """Fold a stream delta's fragments into the blocks being assembled (see the module doc)."""
    for fragment in fragments if isinstance(fragments, list) else ():
        i = fragment.get("index") if isinstance(fragment, dict) else None
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= len(blocks):
            continue  # a gap or a foreign shape: nothing a complete block could come from
        if i == len(blocks):
            blocks.append({})
        block = blocks[i]
        for key in ("type", "signature", "data"):
            if isinstance(fragment.get(key), str):
                block[key] = fragment[key]
        if isinstance(fragment.get("thinking"), str):
            block["thinking"] = block.get("thinking", "") + fragment["thinking"]


def without_carrier(messages: list[Any]) -> list[Any]:
    """The messages with no carrier; a message that had one is copied, never changed."""
    return [
        {k: v for k, v in m.items() if k != THINKING_BLOCKS}
        if isinstance(m, dict) and THINKING_BLOCKS in m
        else m
        for m in messages
    ]


def public_answer(raw: bytes, body: JSON) -> bytes:
    """A chat.completion for an OpenAI-shaped client: `raw` (the serialised `body`) without the
    carrier, re-serialised only when it had one."""
    if _MARK not in raw:
        return raw
    choices = [_without(c, "message") for c in body.get("choices") or []]
    return orjson.dumps({**body, "choices": choices})


def public_event(event: bytes) -> bytes:
    """A chunk event (`data: {...}`) for an OpenAI-shaped client, without the carrier; nothing
    when the chunk carried only fragments (e.g. a signature)."""
    if _MARK not in event:
        return event
    try:
        chunk = orjson.loads(event[6:])  # strip "data: "
    except orjson.JSONDecodeError:
        return event
    if not isinstance(chunk, dict):
        return event
    choices = [_without(c, "delta") for c in chunk.get("choices") or []]
    if chunk.get("usage") is None and choices and all(_empty(c) for c in choices):
        return b""
    return b"data: " + orjson.dumps({**chunk, "choices": choices}) + b"\n\n"


def _without(choice: Any, key: str) -> Any:
    inner = choice.get(key) if isinstance(choice, dict) else None
    if not isinstance(inner, dict) or THINKING_BLOCKS not in inner:
        return choice
    return {**choice, key: {k: v for k, v in inner.items() if k != THINKING_BLOCKS}}


def _empty(choice: Any) -> bool:
    return isinstance(choice, dict) and not choice.get("delta") and not choice.get("finish_reason")
