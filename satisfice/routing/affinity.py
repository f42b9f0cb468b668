"""Conversation affinity: a follow-up turn goes to the model that answered the turn before.

An `auto` route decides each request on its own, so the turns of one conversation may go to
different models. For a tool loop that is wrong: the model that called a tool is the one waiting
for its result, and some cannot take another model's call at all (a Claude model that always
thinks refuses a tool loop whose assistant turn carries no thinking block of its own). For any
conversation it costs prompt caching, which providers give per model. So a route remembers which
of its candidates answered each turn (`affinity: tools`, the default: turns that called tools;
`conversation`: every turn), and a request that continues that turn goes to the same candidate
when it can take the request.

A turn is known by a digest of the conversation up to and including the answer, read the way the
client sends it back: roles, texts, tool calls (id, name, arguments as parsed JSON) and tool
results, nothing else, so an SDK that echoes the answer with extra null fields still matches.
The digests live behind a small interface: in this process (bounded, least recently used first
out), or, when the gateway learns, in the learning file too (`turns_sqlite.py`), so that every
`serve --workers` process, and a restarted one, knows the turns any of them answered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

REMEMBERED_TURNS = 100_000  # ~15 MB at most
_TOOL_RESULTS = ("tool", "function")


class TurnStore(Protocol):
    def get(self, key: bytes) -> str | None: ...

    def put(self, key: bytes, candidate: str) -> None: ...

    def close(self) -> None: ...


class MemoryTurnStore:
    """Turn digests -> candidate, in this process, least recently used first out."""

    def __init__(self, size: int = REMEMBERED_TURNS) -> None:
        self._d: OrderedDict[bytes, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: bytes) -> str | None:
        with self._lock:
            found = self._d.get(key)
            if found is not None:
                self._d.move_to_end(key)
            return found

    def put(self, key: bytes, candidate: str) -> None:
        with self._lock:
            self._d[key] = candidate
            self._d.move_to_end(key)
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def close(self) -> None:
        """Nothing to release."""


class Affinity:
    def __init__(self, store: TurnStore | None = None) -> None:
        self.store: TurnStore = store if store is not None else MemoryTurnStore()

    def remember(
        self, route: str, mode: str, messages: Sequence[Any], answer: Mapping[str, Any], candidate: str
    ) -> None:
        """The candidate that answered `messages` with `answer` (an OpenAI assistant message)."""
        if mode == "none" or (mode == "tools" and not answer.get("tool_calls")):
            return
        self.store.put(_digest(route, [*messages, {"role": "assistant", **answer}]), candidate)

    def recall(self, route: str, mode: str, messages: Sequence[Any]) -> str | None:
        """The candidate that answered the turn this request continues; None when it continues none
        this process saw (or, with mode `tools`, when it is not a tool loop's next step)."""
        if mode == "none":
            return None
        last = next((i for i in range(len(messages) - 1, -1, -1) if _role(messages[i]) == "assistant"), None)
        if last is None or last == len(messages) - 1:
            return None  # no earlier answer, or the request ends with one (a prefill)
        if mode == "tools" and not all(_role(m) in _TOOL_RESULTS for m in messages[last + 1 :]):
            return None
        return self.store.get(_digest(route, messages[: last + 1]))


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, Mapping) else ""


def _digest(route: str, messages: Sequence[Any]) -> bytes:
    # repr, not JSON: any text (a lone surrogate too) has one deterministic form.
    turns = repr([route, [_canonical(m) for m in messages]])
    return hashlib.blake2b(turns.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _canonical(message: Any) -> list[Any]:
    if not isinstance(message, Mapping):
        return [repr(message)]
    role, calls = _role(message), message.get("tool_calls")
    answers = message.get("tool_call_id") or message.get("name") if role in _TOOL_RESULTS else ""
    return [
        role,
        _text(message.get("content")),
        [_call(c) for c in calls] if isinstance(calls, list) else [],
        str(answers or ""),  # the call a tool result answers
    ]


def _text(content: Any) -> str:
    """The text of a message's content, a string or parts (the parts' texts, other parts by kind)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if isinstance(part, Mapping):
            text = part.get("text")
            out.append(text if isinstance(text, str) else f"<{part.get('type')}>")
    return "\n".join(out)


def _call(call: Any) -> list[Any]:
    if not isinstance(call, Mapping):
        return [repr(call)]
    found = call.get("function")
    fn: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    args = fn.get("arguments")
    try:  # as parsed JSON: a translation may have re-serialised the arguments
        parsed = orjson.loads(args) if isinstance(args, str) else args
    except orjson.JSONDecodeError:
        parsed = args
    return [str(call.get("id") or ""), str(fn.get("name") or ""), _sorted(parsed)]


def _sorted(value: Any) -> Any:
    """JSON with its objects' keys in order (the same arguments, however they were serialised)."""
    if isinstance(value, Mapping):
        return sorted((str(k), _sorted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
