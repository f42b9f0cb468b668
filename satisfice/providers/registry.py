"""Dialects by name: a plain dict. A new provider dialect is one module plus one entry here."""

from __future__ import annotations

import importlib

from satisfice.providers.base import Dialect

# name -> (module, attribute); modules are imported on first use (no work at import time).
_DIALECTS = {
    "openai": ("satisfice.providers.openai_compat", "OPENAI"),
    "azure": ("satisfice.providers.openai_compat", "AZURE"),
    "anthropic": ("satisfice.providers.anthropic", "ANTHROPIC"),
    "gemini": ("satisfice.providers.gemini", "GEMINI"),
}
_loaded: dict[str, Dialect] = {}


def dialect(name: str) -> Dialect:
    found = _loaded.get(name)
    if found is None:
        module, attr = _DIALECTS[name]
        found = getattr(importlib.import_module(module), attr)
        _loaded[name] = found
    return found
