"""The model catalog: the packaged models.json, validated once, with O(1) lookups and user overrides."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

from satisfice.catalog.model_info import (
    ENTRY_KEYS,
    CatalogError,
    ModelInfo,
    check_unique,
    parse_entries,
    parse_entry,
)

SCHEMA_VERSION = 1
DATA_FILE = "models.json"
# Keys of an entry whose override merges key by key into the existing value (the rest replace it).
_MERGED_KEYS = ("capabilities", "long_prompt")


def loose_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


# A trailing version or snapshot tag: a date ("-20240229", "-2024-02-29", "-0301"), a build
# ("-001"), "-latest", "-preview", "-exp", or a "-vN" major version.
_VERSION_TAG = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|\d{3,4}|latest|preview|exp|v\d+)$")
_MINOR_VERSION = re.compile(r"(-v\d+)(\.\d+)+$")  # "-v1.2" -> "-v1"


def versionless(name: str) -> Iterator[str]:
    """Shorter spellings of a loose name, each with one more version tag taken off its end:
    "claude-instant-v1.2" -> "claude-instant-v1" -> "claude-instant"; "claude-3-opus@20240229"
    (Vertex's spelling) -> "claude-3-opus". A bare minor version ("gpt-4.5") is a different model,
    never cut."""
    name = loose_name(name).replace("@", "-")
    while True:
        shorter = _MINOR_VERSION.sub(r"\1", name)
        if shorter == name:
            shorter = _VERSION_TAG.sub("", name)
        if shorter == name or not shorter:
            return
        name = shorter
        yield name


class Catalog:
    """An immutable set of models, unique by (provider, id), kept in file order."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self._models: tuple[ModelInfo, ...] = tuple(models)
        check_unique([(m.qualified_id, m) for m in self._models])
        self._by_key: dict[tuple[str, str], ModelInfo] = {}  # (provider, id or alias) -> model
        self._by_id: dict[tuple[str, str], ModelInfo] = {}  # (provider, id) -> model
        self._by_name: dict[str, list[ModelInfo]] = {}  # id or alias -> models of every provider
        self._by_provider: dict[str, list[ModelInfo]] = {}
        self._by_loose: dict[str, list[ModelInfo]] = {}  # loose_name(id or alias) -> models
        for m in self._models:
            self._by_provider.setdefault(m.provider, []).append(m)
            self._by_id[(m.provider, m.id)] = m
            for name in (m.id, *m.aliases):
                self._by_key[(m.provider, name)] = m
                self._by_name.setdefault(name, []).append(m)
                loose = self._by_loose.setdefault(loose_name(name), [])
                if m not in loose:
                    loose.append(m)

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"<Catalog: {len(self._models)} models, {len(self._by_provider)} providers>"

    def lookup(self, name: str) -> list[ModelInfo]:
        """Models a client's model name can mean, in file order; [] when unknown.

        "provider/id" or "provider/alias" gives that one entry when it exists (the name is split at the
        first "/" only, and only when the prefix is a known provider, so "openrouter/openai/gpt-4o-mini"
        works). Otherwise the whole name is matched as a bare id or alias across all providers.
        Matching is exact and case-sensitive.
        """
        prefix, sep, rest = name.partition("/")
        if sep and prefix in self._by_provider:
            hit = self._by_key.get((prefix, rest))
            if hit is not None:
                return [hit]
        return list(self._by_name.get(name, ()))

    def lookup_loose(self, name: str) -> list[ModelInfo]:
        """`lookup`, and failing that a match that ignores case and '_' versus '-' (offline tools
        read names from other people's files: "GPT-4-1106-preview", "mixtral-8x7b"). The gateway
        itself routes by exact names only."""
        return self.lookup(name) or list(self._by_loose.get(loose_name(name), ()))

    def lookup_versionless(self, name: str) -> tuple[list[ModelInfo], str]:
        """`lookup_loose`, and failing that the catalog's entry for the name without its version tag
        (a snapshot the catalog does not list: "gpt-3.5-turbo-0301" is read as gpt-3.5-turbo) or
        without a model hub's "org/" ("mistralai/Mistral-7B-Instruct-v0.2" as mistral-7b-instruct).
        Returns the models and the spelling that matched. Offline tools only, which say so."""
        found = self.lookup_loose(name)
        if found:
            return found, name
        for shorter in versionless(name):
            found = self.lookup_loose(shorter)
            if found:
                return found, shorter
        # A model hub's "org/Name" whose full spelling is no alias: the name alone, read as above.
        _, sep, bare = name.rpartition("/")
        if sep and bare:
            found, matched = self.lookup_versionless(bare)
            if found:
                return found, matched
        # Meta's own spelling, "Meta-Llama-3.1-8B-Instruct", of the catalog's llama-3.1-8b-instruct.
        # Here, not as aliases: the gateway routes by aliases, and these would reach another
        # provider's (quantised) variant.
        loose = loose_name(name)
        if loose.startswith("meta-llama-"):
            return self.lookup_versionless(loose.removeprefix("meta-"))
        return [], name

    def canonical(self, info: ModelInfo) -> ModelInfo:
        """The entry a model id reads as when no provider is named: the first, in file order, with that
        id or alias. Entries of several providers (at several prices) for one model id thus give one
        entry, whichever provider's alias named it; training reads a model's name the same way
        (`lookup(id)[0]`), so offline tools predict a model from the entry it was trained with."""
        found = self._by_name.get(info.id)
        return found[0] if found else info

    def get(self, provider: str, model: str) -> ModelInfo | None:
        """The entry of `provider` whose id or alias is `model`."""
        return self._by_key.get((provider, model))

    def providers(self) -> list[str]:
        """Provider names in order of first appearance."""
        return list(self._by_provider)

    def by_provider(self, provider: str) -> list[ModelInfo]:
        return list(self._by_provider.get(provider, ()))

    def with_overrides(self, entries: Sequence[Mapping[str, Any]]) -> Catalog:
        """A new catalog with user entries applied.

        An entry whose (provider, id) exists is merged key by key over the existing one (a partial
        override such as only a new price is fine; `capabilities` and `long_prompt` merge key by key
        too, `aliases` replaces the list, and `long_prompt: null` removes the band). An entry whose
        id is another entry's alias overrides that entry, under its own id. Any other entry is a new
        model and needs at least id, provider, input_per_mtok, output_per_mtok and context_window;
        its other keys take their defaults. Errors name the offending key as `models[i].key`.
        """
        if not isinstance(entries, list | tuple):
            raise CatalogError(f"models: expected a list of catalog entries, got {type(entries).__name__}")
        changed: dict[tuple[str, str], tuple[str, ModelInfo]] = {}
        added: list[tuple[str, ModelInfo]] = []
        for i, raw in enumerate(entries):
            where = f"models[{i}]"
            if not isinstance(raw, Mapping):
                raise CatalogError(f"{where}: expected an object (a catalog entry), got {type(raw).__name__}")
            provider, model_id = raw.get("provider"), raw.get("id")
            base = None
            if isinstance(provider, str) and isinstance(model_id, str):
                base = self._by_id.get((provider, model_id))
                if base is None and (provider, model_id) in self._by_key:  # named by an alias
                    base = self._by_key[(provider, model_id)]
                    raw = {k: v for k, v in raw.items() if k != "id"}
            if base is None:
                added.append((where, parse_entry(raw, where)))
                continue
            prior = changed.get((base.provider, base.id))
            merged = (prior[1] if prior else base).to_public()
            for k, v in raw.items():
                if k in _MERGED_KEYS and isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
                    merged[k] = {**merged[k], **v}
                else:
                    merged[k] = v
            changed[(base.provider, base.id)] = (where, parse_entry(merged, where))
        final: list[ModelInfo] = []
        kept: list[tuple[str, ModelInfo]] = []
        for m in self._models:
            override = changed.get((m.provider, m.id))
            final.append(override[1] if override else m)
            if override is None:
                kept.append((f"catalog entry {m.qualified_id}", m))
        # Overrides are checked last so that a collision is reported against the user's entry.
        check_unique([*kept, *changed.values(), *added])
        return Catalog([*final, *(m for _, m in added)])


def catalog_from_document(doc: Any, *, source: str = DATA_FILE, complete: bool = True) -> Catalog:
    """Build a catalog from a parsed models.json document; with `complete`, every entry must spell out
    every key (the packaged file does, so that no price or capability is silently defaulted)."""
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{source}: expected a JSON object with schema_version and models")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CatalogError(f"{source}: schema_version: expected {SCHEMA_VERSION}, got {version!r}")
    entries: Any = doc.get("models")
    models = parse_entries(entries, where="models")
    if complete:
        for i, raw in enumerate(entries):
            missing = [k for k in ENTRY_KEYS if k not in raw]
            if missing:
                raise CatalogError(f"models[{i}].{missing[0]}: key is missing in {source}")
    return Catalog(models)


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog, read and validated once per process."""
    text = resources.files("satisfice.catalog").joinpath(DATA_FILE).read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{DATA_FILE}: invalid JSON: {exc}") from None
    return catalog_from_document(doc)
