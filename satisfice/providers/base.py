"""The one small provider interface.

A dialect is pure translation: it builds the upstream HTTP request from the internal request shape
(an OpenAI chat-completions body as a dict), and turns the upstream's answer back into the OpenAI
shape. It never does I/O; the shared runner (`providers/runner.py`) sends what it builds.
"""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

from yarl import URL

from satisfice.usage import Usage

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One concrete place a model is served: the unit of retries and circuit breaking."""

    provider: str  # configured provider name, e.g. "openai", "anthropic", "my-vllm"
    model: str  # public (catalog) id the client sees, e.g. "gpt-4o-mini"
    upstream_model: str  # id sent to the provider, e.g. "gpt-4o-mini-2024-07-18" or an Azure deployment
    # e.g. "https://api.openai.com/v1" (no trailing slash); may hold credentials, so not in repr
    base_url: str = field(repr=False)
    dialect: str  # "openai" | "azure" | "anthropic" | "gemini" | "simulated"
    api_key: str | None = field(default=None, repr=False)  # never logged
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # from config; may hold secrets
    options: tuple[tuple[str, str], ...] = ()  # dialect options, e.g. (("api_version", "2024-10-21"),)
    # An OpenAI reasoning model (o-series) on OpenAI's own API: its requests are rewritten
    # (`openai_compat.py`). Set from the catalog entry, with the config's overrides, when routed.
    openai_reasoning: bool = False
    # One of OpenAI's other chat models (gpt-4o, gpt-4.1, ...) on OpenAI's own API, which refuse
    # `reasoning_effort` with a 400: it is dropped for them (a route may have asked for it for Claude).
    openai_plain: bool = False
    # The catalog's most output tokens the model writes: an Anthropic request needs a max_tokens,
    # and one the client did not set is this (as OpenAI's models write up to their maximum).
    max_output: int | None = None
    # The catalog says the model calls no tools: offered tools it is told not to call
    # (tool_choice "none") are left out of its request, which it would refuse for holding them.
    tools: bool = True

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.upstream_model}"

    def option(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.options:
            if k == name:
                return v
        return default


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    # Fully percent-encoded (see `upstream_url`): the runner sends it as it is. The URL and the
    # headers may hold credentials, so a repr shows neither.
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    # Whose request this is: the runner keeps its secrets out of the upstream's words (`redact`).
    deployment: Deployment | None = field(default=None, repr=False, compare=False)


def path_segment(name: str) -> str:
    """`name` percent-encoded as exactly one URL path segment: no reserved character is left as it
    is, so '/', '?', '#' and '%' cannot change the path or start a query, and a name that is all
    dots ('.', '..') cannot be a dot segment either."""
    segment = urllib.parse.quote(name, safe="")
    if segment and not segment.strip("."):
        segment = segment.replace(".", "%2E")
    return segment


@functools.lru_cache(maxsize=256)
def _encoded_base(base_url: str) -> str:
    return str(URL(base_url))


def upstream_url(dep: Deployment, path: str) -> str:
    """The deployment's base URL (normalised and percent-encoded once) followed by `path`, which must
    already be percent-encoded (names in it via `path_segment`). The runner sends the result without
    requoting it or resolving dot segments, so an encoded name stays one segment."""
    return _encoded_base(dep.base_url) + path


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a dialect reads out of an upstream error body."""

    message: str
    context_window_exceeded: bool = False
    param: str | None = None  # OpenAI-shaped errors name the request field at fault...
    code: str | None = None  # ...and a code; both are passed on to the client with a 4xx
    # The upstream refused this deployment (its key, its account), whatever the status: as for a
    # 401/403, another deployment may take the request (Gemini answers a bad key with a 400).
    refused: bool = False


class StreamTranslator(Protocol):
    """Turns upstream SSE events into OpenAI `chat.completion.chunk` dicts.

    `feed` is called once per SSE event (event name or None, raw data bytes). `finish` is called
    once when the upstream stream ends and returns any trailing chunks; the last chunk it returns
    is a usage chunk (`choices: []`, `usage: {...}`) whenever usage is known. `usage` holds the
    usage seen so far.
    """

    usage: Usage | None

    def feed(self, event: str | None, data: bytes) -> list[JSON]: ...

    def finish(self) -> list[JSON]: ...


class Dialect(Protocol):
    name: str

    def build_chat(self, dep: Deployment, body: JSON, *, stream: bool) -> UpstreamRequest:
        """Build the upstream request. `body` is a validated OpenAI chat-completions request whose
        `model` is the public id; the dialect sends `dep.upstream_model`. Must not mutate `body`."""
        ...

    def parse_chat(self, dep: Deployment, raw: bytes) -> JSON:
        """Turn a successful (2xx) upstream body into an OpenAI `chat.completion` dict."""
        ...

    def stream_translator(self, dep: Deployment) -> StreamTranslator | None:
        """A translator for this upstream's stream, or None when the upstream already speaks
        OpenAI SSE (the bytes are then relayed as they are)."""
        ...

    def error_info(self, status: int, raw: bytes) -> ErrorInfo:
        """Read the message out of an upstream error body (any status >= 400)."""
        ...
