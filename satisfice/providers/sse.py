"""Incremental Server-Sent Events parsing (enough of the spec for LLM providers)."""

from __future__ import annotations


class SSEParser:
    """Feed raw bytes; get complete (event name, data) pairs. Multi-line `data:` fields are joined
    with newlines; comments and `id:`/`retry:` fields are ignored.

    Linear in what it is fed: each read is searched once (the unfinished event it extends is not
    searched again), and only the unfinished event is kept. With `max_event_bytes`, an event larger
    than that (finished or not) stops the parse: `too_large` is set and the events before it are
    returned; the caller fails the stream."""

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._held: list[bytes] = []  # the unfinished event's reads, joined once it ends
        self._pending = 0  # their size
        self._cr = False  # the last read ended with "\r": a "\n" that starts the next one belongs to it
        self._max = max_event_bytes
        self.blocks = 0  # complete blocks read, comments (keep-alives) included
        self.too_large = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished event held."""
        return self._pending

    def feed(self, block: bytes) -> list[tuple[str | None, bytes]]:
        if self._cr and block.startswith(b"\n"):
            block = block[1:]
            self._cr = False  # that "\n" is consumed: a read of it alone must not eat the next one
        if not block:
            return []
        self._cr = block.endswith(b"\r")
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        limit = self._max
        search = 0
        held = self._held
        if held:  # this read extends an unfinished event, which has no "\n\n": only the seam may
            seam = held[-1].endswith(b"\n") and block.startswith(b"\n")
            if not seam and b"\n\n" not in block:
                held.append(block)
                self._pending += len(block)
                self.too_large = limit is not None and self._pending > limit
                return []
            search = self._pending - 1
            held.append(block)
            block = b"".join(held)
            held.clear()
            self._pending = 0
        out: list[tuple[str | None, bytes]] = []
        start = 0
        while True:
            end = block.find(b"\n\n", search)
            if end < 0:
                break
            if limit is not None and end - start > limit:
                self.too_large = True
                return out
            self.blocks += 1
            ev = self._parse(block[start:end])
            if ev is not None:
                out.append(ev)
            start = search = end + 2
        if start < len(block):
            held.append(block[start:] if start else block)
            self._pending = len(block) - start
            self.too_large = limit is not None and self._pending > limit
        return out

    @staticmethod
    def _parse(raw: bytes) -> tuple[str | None, bytes] | None:
        name: str | None = None
        data: list[bytes] = []
        for line in raw.split(b"\n"):
            if not line or line.startswith(b":"):
                continue
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                name = value.decode("utf-8", "replace")
        if not data:
            return None
        return name, b"\n".join(data)
