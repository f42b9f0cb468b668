"""One catalog entry (`ModelInfo`), its cost arithmetic, and the validation that builds it from JSON data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# Anthropic's published premium for writing prompt-cache entries (1.25 x the input price).
CACHE_WRITE_MULTIPLIER = 1.25  # a prompt-cache write (Anthropic's 5-minute cache) x the input price
CACHE_WRITE_1H_MULTIPLIER = 2.0  # a write to Anthropic's 1-hour cache
KINDS = ("chat", "embedding")
CAPABILITIES = ("tools", "vision", "json_schema", "streaming", "reasoning")
# Every key an entry may carry, in the order `to_public` and models.json use.
ENTRY_KEYS = (
    "id", "provider", "upstream_id", "kind", "aliases", "input_per_mtok", "output_per_mtok",
    "cached_input_per_mtok", "long_prompt", "context_window", "max_output", "capabilities",
    "quality_prior", "quality_source", "family", "price_date", "price_source", "deprecated",
)  # fmt: skip
LONG_PROMPT_KEYS = ("above_tokens", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
REQUIRED_KEYS = ("id", "provider", "input_per_mtok", "output_per_mtok", "context_window")
DEFAULT_CAPABILITIES: dict[str, bool] = {
    "tools": False, "vision": False, "json_schema": False, "streaming": True, "reasoning": False,
}  # fmt: skip
# Defaults for the optional keys (upstream_id defaults to the entry's id).
DEFAULTS: dict[str, Any] = {
    "kind": "chat",
    "aliases": [],
    "cached_input_per_mtok": None,
    "long_prompt": None,
    "max_output": 4096,
    "quality_prior": 0.5,
    "quality_source": "user config",
    "family": "",
    "price_date": "",
    "price_source": "user config",
    "deprecated": False,
}


class CatalogError(ValueError):
    """An invalid catalog entry; the message names entry and key, e.g. `models[3].context_window: ...`."""


@dataclass(frozen=True, slots=True)
class LongPrompt:
    """The prices of a call whose prompt (cache reads and writes included) exceeds `above_tokens`:
    they apply to all of its tokens, output included, as Anthropic (Claude Haiku 5.5) and Google
    (Gemini 1.5 and 2.5 Pro) bill such calls. A band without a cached-input price keeps the short
    band's cache discount (its cached price scaled as the input price is)."""

    above_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    provider: str
    upstream_id: str
    kind: str  # "chat" | "embedding"
    aliases: tuple[str, ...]
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    context_window: int
    max_output: int
    tools: bool
    vision: bool
    json_schema: bool
    streaming: bool
    reasoning: bool
    quality_prior: float
    quality_source: str
    family: str
    price_date: str
    price_source: str
    deprecated: bool
    long_prompt: LongPrompt | None = None  # the prices above a prompt length, where they differ

    @property
    def qualified_id(self) -> str:
        return f"{self.provider}/{self.id}"

    def cost_usd(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
    ) -> float:
        """US dollars for one call.

        `cached_tokens` (prompt-cache reads) and `cache_write_tokens` (prompt-cache writes) are both parts
        of `prompt_tokens`, as in the OpenAI usage shape. Cache reads are billed at the cached-input price
        (the input price when the model has none), cache writes at 1.25 x the input price (the part of them,
        `cache_write_1h_tokens`, written to a 1-hour cache at 2 x), the rest of the
        prompt at the input price. Should the cache counts exceed `prompt_tokens`, they are billed as given
        and no uncached prompt tokens remain.
        """
        if not (cached_tokens or cache_write_tokens) and prompt_tokens >= 0 and completion_tokens >= 0:
            # No prompt caching (a routing estimate, most calls): the sum below without its zeros.
            input_price, _, output_price = self._prices(prompt_tokens)
            return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000
        counts = (prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens)
        if min(counts) < 0:
            raise ValueError(f"token counts must be >= 0, got {counts}")
        fresh = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        long_writes = min(max(cache_write_1h_tokens, 0), cache_write_tokens)  # part of the writes
        input_price, cached_price, output_price = self._prices(prompt_tokens)
        micro = (
            fresh * input_price
            + cached_tokens * cached_price
            + (cache_write_tokens - long_writes) * input_price * CACHE_WRITE_MULTIPLIER
            + long_writes * input_price * CACHE_WRITE_1H_MULTIPLIER
            + completion_tokens * output_price
        )
        return micro / 1_000_000

    def _prices(self, prompt_tokens: int) -> tuple[float, float, float]:
        """(input, cached input, output) per million tokens for a call with this prompt length."""
        cached = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        band = self.long_prompt
        if band is None or prompt_tokens <= band.above_tokens:
            return self.input_per_mtok, cached, self.output_per_mtok
        if band.cached_input_per_mtok is not None:
            cached = band.cached_input_per_mtok
        elif self.input_per_mtok > 0:  # the short band's cache discount, scaled as the input price is
            cached *= band.input_per_mtok / self.input_per_mtok
        else:
            cached = band.input_per_mtok
        return band.input_per_mtok, cached, band.output_per_mtok

    def to_public(self) -> dict[str, Any]:
        """A JSON-able dict with the same keys as a models.json entry."""
        return {
            "id": self.id,
            "provider": self.provider,
            "upstream_id": self.upstream_id,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "input_per_mtok": self.input_per_mtok,
            "output_per_mtok": self.output_per_mtok,
            "cached_input_per_mtok": self.cached_input_per_mtok,
            "long_prompt": None
            if self.long_prompt is None
            else {key: getattr(self.long_prompt, key) for key in LONG_PROMPT_KEYS},
            "context_window": self.context_window,
            "max_output": self.max_output,
            "capabilities": {name: getattr(self, name) for name in CAPABILITIES},
            "quality_prior": self.quality_prior,
            "quality_source": self.quality_source,
            "family": self.family,
            "price_date": self.price_date,
            "price_source": self.price_source,
            "deprecated": self.deprecated,
        }


# ---------------------------------------------------------------- validation


def _fail(where: str, key: str, expected: str, value: Any) -> CatalogError:
    return CatalogError(f"{where}.{key}: expected {expected}, got {value!r}")


def _name(obj: Mapping[str, Any], key: str, where: str, *, allow_slash: bool = True) -> str:
    value = obj.get(key)
    if (
        not isinstance(value, str)
        or value == ""
        or any(c.isspace() for c in value)
        or (not allow_slash and "/" in value)
    ):
        what = "a non-empty string without spaces" + ("" if allow_slash else " or '/'")
        raise _fail(where, key, what, value)
    return value


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _fail(where, key, "a string", value)
    return value


def _price(obj: Mapping[str, Any], key: str, where: str, *, what: str = "a number >= 0") -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _fail(where, key, what, value)
    return float(value)


def _optional_price(obj: Mapping[str, Any], key: str, where: str) -> float | None:
    if obj.get(key) is None:
        return None
    return _price(obj, key, where, what="a number >= 0 or null")


def _positive_int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(where, key, "a positive integer", value)
    return value


def _flag(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, key, "a boolean", value)
    return value


def _capabilities(obj: Mapping[str, Any], where: str) -> dict[str, bool]:
    raw = obj.get("capabilities", {})
    if not isinstance(raw, Mapping):
        raise _fail(where, "capabilities", f"an object with keys {', '.join(CAPABILITIES)}", raw)
    for key in raw:
        if key not in DEFAULT_CAPABILITIES:
            raise CatalogError(
                f"{where}.capabilities.{key}: unknown capability (known: {', '.join(CAPABILITIES)})"
            )
    return {
        key: _flag(raw.get(key, default), where, f"capabilities.{key}")
        for key, default in DEFAULT_CAPABILITIES.items()
    }


def _aliases(obj: Mapping[str, Any], where: str, model_id: str) -> tuple[str, ...]:
    raw = obj.get("aliases", [])
    if not isinstance(raw, list | tuple):
        raise _fail(where, "aliases", "a list of strings", raw)
    out: list[str] = []
    for i, alias in enumerate(raw):
        if not isinstance(alias, str) or alias == "" or any(c.isspace() for c in alias):
            raise _fail(where, f"aliases[{i}]", "a non-empty string without spaces", alias)
        if alias == model_id or alias in out:
            raise CatalogError(f"{where}.aliases[{i}]: {alias!r} repeats the id or another alias")
        out.append(alias)
    return tuple(out)


def _long_prompt(obj: Mapping[str, Any], where: str) -> LongPrompt | None:
    """A band above the context window never applies; it is no error (an override may narrow the
    window of a catalog model that has a band)."""
    raw = obj.get("long_prompt")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(where, "long_prompt", f"null or an object with keys {', '.join(LONG_PROMPT_KEYS)}", raw)
    at = f"{where}.long_prompt"
    for key in raw:
        if key not in LONG_PROMPT_KEYS:
            raise CatalogError(f"{at}.{key}: unknown key (known: {', '.join(LONG_PROMPT_KEYS)})")
    for key in LONG_PROMPT_KEYS[:3]:
        if key not in raw:
            raise CatalogError(f"{at}.{key}: required key is missing")
    return LongPrompt(
        above_tokens=_positive_int(raw, "above_tokens", at),
        input_per_mtok=_price(raw, "input_per_mtok", at),
        output_per_mtok=_price(raw, "output_per_mtok", at),
        cached_input_per_mtok=_optional_price(raw, "cached_input_per_mtok", at),
    )


def _price_date(obj: Mapping[str, Any], where: str) -> str:
    value = _text(obj, "price_date", where)
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _fail(where, "price_date", "an ISO date (YYYY-MM-DD) or ''", value) from None
    return value


def parse_entry(raw: Any, where: str) -> ModelInfo:
    """Validate one entry (optional keys take their defaults) and build its ModelInfo."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: expected an object (a catalog entry), got {type(raw).__name__}")
    for key in raw:
        if key not in ENTRY_KEYS:
            raise CatalogError(f"{where}.{key}: unknown key (known: {', '.join(ENTRY_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise CatalogError(f"{where}.{key}: required key is missing")
    obj: dict[str, Any] = {**DEFAULTS, "upstream_id": raw.get("id"), **raw}
    model_id = _name(obj, "id", where)
    kind = obj.get("kind")
    if kind not in KINDS:
        raise _fail(where, "kind", " or ".join(repr(k) for k in KINDS), kind)
    quality = obj.get("quality_prior")
    if isinstance(quality, bool) or not isinstance(quality, int | float) or not 0.0 <= quality <= 1.0:
        raise _fail(where, "quality_prior", "a number in [0, 1]", quality)
    caps = _capabilities(obj, where)
    return ModelInfo(
        id=model_id,
        provider=_name(obj, "provider", where, allow_slash=False),
        upstream_id=_name(obj, "upstream_id", where),
        kind=str(kind),
        aliases=_aliases(obj, where, model_id),
        input_per_mtok=_price(obj, "input_per_mtok", where),
        output_per_mtok=_price(obj, "output_per_mtok", where),
        cached_input_per_mtok=_optional_price(obj, "cached_input_per_mtok", where),
        context_window=_positive_int(obj, "context_window", where),
        max_output=_positive_int(obj, "max_output", where),
        tools=caps["tools"],
        vision=caps["vision"],
        json_schema=caps["json_schema"],
        streaming=caps["streaming"],
        reasoning=caps["reasoning"],
        quality_prior=float(quality),
        quality_source=_text(obj, "quality_source", where),
        family=_text(obj, "family", where),
        price_date=_price_date(obj, where),
        price_source=_text(obj, "price_source", where),
        deprecated=_flag(obj.get("deprecated"), where, "deprecated"),
        long_prompt=_long_prompt(obj, where),
    )


def check_unique(labelled: Sequence[tuple[str, ModelInfo]]) -> None:
    """Ids are unique per provider and no alias collides with another id or alias of the same provider.
    Each model comes with the label errors name it by (e.g. "models[3]")."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (provider, name) -> (label, "id" | "alias")
    for label, info in labelled:
        for key, name in (("id", info.id), *((f"aliases[{i}]", a) for i, a in enumerate(info.aliases))):
            first = seen.get((info.provider, name))
            if first is not None:
                raise CatalogError(
                    f"{label}.{key}: {name!r} is already the {first[1]} of {first[0]} "
                    f"(names must be unique within provider {info.provider!r})"
                )
            seen[(info.provider, name)] = (label, "id" if key == "id" else "alias")


def parse_entries(entries: Any, *, where: str = "models") -> list[ModelInfo]:
    """Validate a list of entries (see `parse_entry`) and their uniqueness; errors name `where[i].key`."""
    if not isinstance(entries, list | tuple):
        raise CatalogError(f"{where}: expected a list of catalog entries, got {type(entries).__name__}")
    models = [parse_entry(raw, f"{where}[{i}]") for i, raw in enumerate(entries)]
    check_unique([(f"{where}[{i}]", m) for i, m in enumerate(models)])
    return models
