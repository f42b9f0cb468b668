"""Incremental Server-Sent Events parsing (enough of the spec for LLM providers)."""

from __future__ import annotations


class SSEParser:
    """Feed raw bytes; get complete (event name, data) pairs. Multi-line `data:` fields are joined
    with newlines; comments and `id:`/`retry:` fields are ignored."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, block: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + block
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[tuple[str | None, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            ev = self._parse(buf[start:end])
            if ev is not None:
                out.append(ev)
            start = end + 2
        self._buf = buf[start:]
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
