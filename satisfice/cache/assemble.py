"""Between the two shapes of one answer: a streamed answer's SSE events become the chat.completion
that is stored, and a stored chat.completion is replayed as a proper SSE stream.

Reasoning text (`reasoning_content`) is kept and replayed. Carried thinking blocks
(`providers/thinking.py`) are kept only when complete (text and signature, or a redacted block's
data), and replayed whole, one fragment per block: an incomplete one could not be sent back. What
rides along with a finish reason (`_FINISH_NOTES`) is kept and replayed with it."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from satisfice.providers.thinking import THINKING_BLOCKS, add_fragments, carried, whole_fragments
from satisfice.usage import Usage, usage_from_openai

# What rides along with a finish reason (providers/anthropic_stream.py): the matched stop string
# (vLLM's `stop_reason`) and the provider's own reason (`native_finish_reason`). Kept and replayed: a
# /v1/messages client's stop_reason is read from them.
_FINISH_NOTES = ("stop_reason", "native_finish_reason")
_PIECE_CHARS = 64  # replayed content goes out in pieces of about this many characters
# Keys of the deltas that carry output text (a cheap test before parsing an event).
_TEXT_KEYS = (b'"content"', b'"arguments"', b'"transcript"')


def _index(choice: dict[str, Any]) -> int:
    index = choice.get("index")
    return index if isinstance(index, int) else 0


def _choice(choices: dict[int, dict[str, Any]], index: int) -> dict[str, Any]:
    """A choice being assembled, with the keys the spec requires of every choice and message."""
    message = {"role": "assistant", "content": None, "refusal": None}
    return choices.setdefault(
        index, {"index": index, "message": message, "logprobs": None, "finish_reason": None}
    )


def _add_tool_calls(message: dict[str, Any], deltas: list[Any]) -> None:
    calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
    for d in deltas:
        i = int(d.get("index", len(calls)))
        while len(calls) <= i:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call, fn = calls[i], d.get("function") or {}
        call["id"] = d.get("id") or call["id"]
        call["type"] = d.get("type") or call["type"]
        call["function"]["name"] += fn.get("name") or ""
        call["function"]["arguments"] += fn.get("arguments") or ""


def _add_function_call(message: dict[str, Any], delta: dict[str, Any]) -> None:
    """A legacy function call, streamed as its name and then pieces of its arguments."""
    call: dict[str, Any] = message.setdefault("function_call", {"name": "", "arguments": ""})
    call["name"] += delta.get("name") or ""
    call["arguments"] += delta.get("arguments") or ""


def _add_audio(message: dict[str, Any], delta: dict[str, Any]) -> None:
    """A spoken answer: its id and expiry come once, its data and transcript in pieces."""
    audio: dict[str, Any] = message.setdefault(
        "audio", {"id": "", "data": "", "expires_at": 0, "transcript": ""}
    )
    audio["id"] = delta.get("id") or audio["id"]
    audio["expires_at"] = delta.get("expires_at") or audio["expires_at"]
    audio["data"] += delta.get("data") or ""
    audio["transcript"] += delta.get("transcript") or ""


def _add_logprobs(choice: dict[str, Any], logprobs: Any) -> None:
    if not isinstance(logprobs, dict):
        return
    merged = choice["logprobs"] or {"content": None, "refusal": None}
    for key in ("content", "refusal"):
        if isinstance(logprobs.get(key), list):
            merged[key] = (merged[key] or []) + logprobs[key]
    choice["logprobs"] = merged


def _add_delta(message: dict[str, Any], delta: dict[str, Any]) -> None:
    if isinstance(delta.get("content"), str):
        message["content"] = (message["content"] or "") + delta["content"]
    if isinstance(delta.get("refusal"), str):
        message["refusal"] = (message["refusal"] or "") + delta["refusal"]
    if delta.get("tool_calls"):
        _add_tool_calls(message, delta["tool_calls"])
    if isinstance(delta.get("function_call"), dict):
        _add_function_call(message, delta["function_call"])
    if isinstance(delta.get("audio"), dict):
        _add_audio(message, delta["audio"])
    if isinstance(delta.get("reasoning_content"), str):
        message["reasoning_content"] = message.get("reasoning_content", "") + delta["reasoning_content"]
    if delta.get(THINKING_BLOCKS):
        add_fragments(message.setdefault(THINKING_BLOCKS, []), delta[THINKING_BLOCKS])


def _keep_complete_thinking(message: dict[str, Any]) -> None:
    """Only complete thinking blocks are kept (see the module doc)."""
    if THINKING_BLOCKS in message:
        blocks = carried(message)
        if blocks:
            message[THINKING_BLOCKS] = blocks
        else:
            del message[THINKING_BLOCKS]


def _delta_text(delta: dict[str, Any], said: bool = False) -> str:
    """The output text of one choice's delta: content, tool-call and function-call arguments, and
    an audio answer's transcript. `said`: only what the answer says (content, transcript), which is
    what the whole answer's language and refusal checks read, not its calls' arguments."""
    parts = [delta["content"]] if isinstance(delta.get("content"), str) else []
    fields = [("audio", "transcript")]
    if not said:
        for call in delta.get("tool_calls") or []:
            parts.append(str((call.get("function") or {}).get("arguments") or ""))
        fields.insert(0, ("function_call", "arguments"))
    for key, field in fields:
        value = delta.get(key)
        if isinstance(value, dict) and isinstance(value.get(field), str):
            parts.append(value[field])
    return "".join(parts)


def _event_choices(event: bytes) -> list[Any]:
    """The choices of one SSE event's chunk ([] when it is unreadable)."""
    try:
        chunk = orjson.loads(event[6:])  # strip "data: "
    except orjson.JSONDecodeError:
        return []
    return (chunk.get("choices") or []) if isinstance(chunk, dict) else []


def _event_texts(event: bytes, said: bool = False) -> list[tuple[int, str]]:
    """(choice index, output text) of each choice one SSE event carries (`said`: see _delta_text)."""
    if not any(key in event for key in _TEXT_KEYS):
        return []
    return [(_index(c), _delta_text(c.get("delta") or {}, said)) for c in _event_choices(event)]


def event_text(event: bytes) -> str:
    """The output text one SSE event carries, all choices together (what counts as generated
    tokens, and what a held stream measures)."""
    return "".join(text for _, text in _event_texts(event))


_FINISH = re.compile(rb'"finish_reason":\s*"')  # a non-null finish: worth parsing the event for


def choice_indices(event: bytes) -> list[int]:
    """The indices of the choices one SSE event carries (parses the event)."""
    return [_index(c) for c in _event_choices(event) if isinstance(c, dict)]


def finished_choices(event: bytes) -> list[int]:
    """The indices of the choices one SSE event finishes."""
    if not _FINISH.search(event):
        return []
    return [_index(c) for c in _event_choices(event) if isinstance(c, dict) and c.get("finish_reason")]


def choice_texts(
    events: Iterable[bytes], texts: dict[int, str] | None = None, *, said: bool = False
) -> dict[int, str]:
    """Each choice's output text over `events` (choice index -> text; a stream of several choices
    interleaves them), added to `texts` when given. `said`: only what each choice says, not its
    tool calls' arguments: what the prefix checks read."""
    out: dict[int, str] = {} if texts is None else texts
    for event in events:
        for i, text in _event_texts(event, said):
            if text:
                out[i] = out.get(i, "") + text
    return out


def completion_from_events(events: list[bytes]) -> dict[str, Any] | None:
    """The chat.completion a finished stream amounts to; None when any choice did not finish (a
    cut stream is not an answer worth keeping) or an event is unreadable."""
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage: Any = None
    for ev in events:
        try:
            chunk = orjson.loads(ev[6:])  # strip "data: "
        except orjson.JSONDecodeError:
            return None
        if not head:
            head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        usage = chunk.get("usage") or usage
        for c in chunk.get("choices") or []:
            choice = _choice(choices, _index(c))
            _add_delta(choice["message"], c.get("delta") or {})
            _add_logprobs(choice, c.get("logprobs"))
            if c.get("finish_reason"):
                choice["finish_reason"] = c["finish_reason"]
                choice.update((k, c[k]) for k in _FINISH_NOTES if c.get(k) is not None)
    if not choices or any(c["finish_reason"] is None for c in choices.values()):
        return None
    for choice in choices.values():
        _keep_complete_thinking(choice["message"])
    body: dict[str, Any] = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [choices[i] for i in sorted(choices)],
    }
    if head.get("system_fingerprint"):
        body["system_fingerprint"] = head["system_fingerprint"]
    if usage:
        body["usage"] = usage
    return body


def _pieces(text: str) -> list[str]:
    """Split at spaces into pieces of about _PIECE_CHARS, so the joined pieces equal the text."""
    out, start = [], 0
    while start < len(text):
        cut = text.find(" ", start + _PIECE_CHARS)
        end = len(text) if cut < 0 else cut + 1
        out.append(text[start:end])
        start = end
    return out


def _token_shares(tokens: list[Any], pieces: list[str]) -> list[list[Any]]:
    """The content logprobs of each replayed piece: a token goes with the piece its text starts in."""
    shares: list[list[Any]] = [[] for _ in pieces]
    ends = list(itertools.accumulate(map(len, pieces)))
    at = k = 0
    for token in tokens if pieces else ():
        while k < len(pieces) - 1 and at >= ends[k]:
            k += 1
        shares[k].append(token)
        text = token.get("token") if isinstance(token, dict) else None
        at += len(text) if isinstance(text, str) else 0
    return shares


def _logprobs(content: list[Any] | None = None, refusal: list[Any] | None = None) -> dict[str, Any] | None:
    """A chunk's logprobs (both keys, as the spec requires), or None when it carries none."""
    return {"content": content, "refusal": refusal} if content or refusal else None


def _tokens(logprobs: Any, key: str) -> list[Any]:
    found = logprobs.get(key) if isinstance(logprobs, dict) else None
    return found if isinstance(found, list) else []


class CachedStream:
    """A stored answer replayed as OpenAI SSE events (an EventStream; it cost nothing)."""

    def __init__(self, body: dict[str, Any], completion_id: str) -> None:
        self.body = body
        self.id = completion_id
        self.created = int(time.time())
        self.events: list[bytes] = []
        self.more = True  # the whole answer is at hand: the relay may write it in one go
        self._usage = usage_from_openai(body.get("usage"))
        self._it = self._events()

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def cost_usd(self) -> float | None:
        return 0.0

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.body.get("model"),
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice_chunks(self, choice: dict[str, Any]) -> list[bytes]:
        """One choice as chunks: role, content pieces (each with its tokens' logprobs), refusal,
        tool calls, a legacy function call, audio, finish. Assembled back, they are the choice."""
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        content = message.get("content")
        pieces = _pieces(content) if isinstance(content, str) else []
        tokens = _tokens(choice.get("logprobs"), "content")

        def delta(d: dict[str, Any], lp: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
            notes = {k: choice[k] for k in _FINISH_NOTES if finish and choice.get(k) is not None}
            return self._chunk(
                [{"index": index, "delta": d, "logprobs": lp, "finish_reason": finish, **notes}]
            )

        # Content null stays null (a tool call's); tokens without content ride with the role.
        role = {"role": "assistant", "content": "" if isinstance(content, str) else None}
        out = [delta(role, None if pieces else _logprobs(tokens))]
        thinking: dict[str, Any] = {}  # reasoning before the answer, as it came
        if isinstance(message.get("reasoning_content"), str) and message["reasoning_content"]:
            thinking["reasoning_content"] = message["reasoning_content"]
        blocks = carried(message)
        if blocks:
            thinking[THINKING_BLOCKS] = whole_fragments(blocks)
        if thinking:
            out.append(delta(thinking))
        shares = _token_shares(tokens, pieces)
        out += [delta({"content": p}, _logprobs(t)) for p, t in zip(pieces, shares, strict=True)]
        if message.get("refusal"):
            refused = _tokens(choice.get("logprobs"), "refusal")
            out.append(delta({"refusal": message["refusal"]}, _logprobs(refusal=refused)))
        for i, call in enumerate(message.get("tool_calls") or []):
            out.append(delta({"tool_calls": [{"index": i, **call}]}))
        for key in ("function_call", "audio"):
            if isinstance(message.get(key), dict):
                out.append(delta({key: message[key]}))
        out.append(delta({}, finish=choice.get("finish_reason") or "stop"))
        return out

    async def _events(self) -> AsyncIterator[bytes]:
        events = [e for choice in self.body.get("choices") or [] for e in self._choice_chunks(choice)]
        if self.body.get("usage") is not None:
            events.append(self._chunk([], self.body["usage"]))
        for i, event in enumerate(events):
            self.more = i < len(events) - 1
            self.events.append(event)
            yield event

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def aclose(self) -> None:
        await self._it.aclose()  # type: ignore[attr-defined]
