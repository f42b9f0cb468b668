"""Anthropic thinking blocks inside the internal OpenAI shape: one carrier, `thinking_blocks`.

Anthropic requires the thinking blocks of an assistant turn to be passed back unchanged (signature
included) when a tool loop continues with thinking on. The OpenAI shape has no place for them
(`reasoning_content` is text, without signatures or redacted blocks), so they ride under one key,
`THINKING_BLOCKS`: "thinking_blocks", the field LiteLLM gave them, which OpenAI-shaped clients and
libraries already read and send back.

* On an assistant message, in a request's history or in an answer (`choices[].message`): the
  complete blocks in order, `{"type": "thinking", "thinking", "signature"}` or
  `{"type": "redacted_thinking", "data"}`. They come before the message's text and tool calls.
* On a stream delta (`choices[].delta`): fragments `{"index": i, "type": ..., ...}`, `i` the
  block's place in that list. Every fragment names its block's `type` (LiteLLM's stream consumers
  read each one on its own); a redacted block comes whole in one fragment, a thinking block's
  `thinking` fragments append to its text and a `signature` fragment sets its signature.

The Anthropic dialect writes it from Anthropic's answers, next to `reasoning_content`, and sends it
from history; the /v1/messages translation writes it from history and reads it from answers;
/v1/chat/completions clients get it as it is and may send it back. Nothing else passes it on: the
OpenAI dialects drop it before sending (it is no OpenAI field), and the Gemini dialect never reads
it. A block that is not complete (a thinking text without its signature) is never carried on as a
whole block: Anthropic would refuse it.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

THINKING_BLOCKS = "thinking_blocks"


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
