"""What a provider call returns: a whole completion, or a stream of OpenAI SSE events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from satisfice.providers.base import Deployment
from satisfice.usage import Usage


@dataclass(slots=True)
class Completion:
    raw: bytes  # OpenAI chat.completion JSON, ready for the client
    body: dict[str, Any]  # the same, parsed
    usage: Usage | None
    # What the call cost when the provider says so itself (the replay provider's recorded cost);
    # None: the catalog price times the usage.
    cost_usd: float | None = None


class LocalUpstream(Protocol):
    """A provider answered in-process, without HTTP (the simulated and replay providers)."""

    async def complete(self, dep: Deployment, body: dict[str, Any]) -> Completion: ...

    async def stream(self, dep: Deployment, body: dict[str, Any]) -> EventStream: ...


class EventStream(Protocol):
    """OpenAI SSE events (`data: {...}\\n\\n` bytes, never `[DONE]`) from one upstream call.

    `usage` is known once the stream is exhausted (or None when the upstream never said);
    `aclose()` releases the upstream connection, aborting it when the stream did not finish.
    """

    # Read-only here, so wrappers may delegate them with properties.
    @property
    def usage(self) -> Usage | None: ...

    @property
    def cost_usd(self) -> float | None:
        """What the call cost when the provider says so itself (the replay provider's recorded
        cost); None: the catalog price times the usage."""
        ...

    @property
    def events(self) -> list[bytes]:
        """Every event relayed, to count tokens when the upstream reports no usage."""
        ...

    @property
    def more(self) -> bool:
        """Another event is ready now (it came in the same read as the one just yielded): a relay
        may hold this event's bytes and write them together with the next, one write instead of
        many. False when unsure: the relay then writes at once."""
        ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
