"""What a provider call returns: a whole completion, or a stream of OpenAI SSE events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from satisfice.usage import Usage


@dataclass(slots=True)
class Completion:
    raw: bytes  # OpenAI chat.completion JSON, ready for the client
    body: dict[str, Any]  # the same, parsed
    usage: Usage | None


class EventStream(Protocol):
    """OpenAI SSE events (`data: {...}\\n\\n` bytes, never `[DONE]`) from one upstream call.

    `usage` is known once the stream is exhausted (or None when the upstream never said);
    `aclose()` releases the upstream connection, aborting it when the stream did not finish.
    """

    usage: Usage | None
    events: list[bytes]  # every event relayed, to count tokens when the upstream reports no usage

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
