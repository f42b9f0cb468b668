"""Model features from the catalog, so that any catalog model (seen in training or not) gets a prediction.

z(model) = [1, logit of the quality prior, log price, log context, tools, vision, json_schema, reasoning,
            code model, vendor one-hots]

The vendor is derived from the catalog `family` (gpt-4o, claude-3.5, llama-3.1, ...), not from the
hosting provider. A model unknown to the catalog (a bare id) gets neutral features: the catalog's
default prior (0.5), a mid price, no capabilities, vendor "other".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from satisfice.catalog import ModelInfo, load_catalog, parse_entries

VENDORS = ("openai", "anthropic", "google", "mistral", "meta", "other")
_VENDOR_PREFIXES = (
    ("openai", ("gpt", "o1", "o3", "o4", "chatgpt", "text-embedding")),
    ("anthropic", ("claude",)),
    ("google", ("gemini", "palm", "gemma")),
    ("mistral", ("mistral", "mixtral", "codestral", "ministral", "pixtral", "magistral")),
    ("meta", ("llama", "codellama")),
)
BASE_NAMES = (
    "bias",
    "prior",
    "log_price",
    "log_context",
    "tools",
    "vision",
    "json_schema",
    "reasoning",
    "coder",
)
NAMES = BASE_NAMES + tuple(f"vendor_{v}" for v in VENDORS)
N_MODEL_FEATURES = len(NAMES)
# The prior is an MMLU-like accuracy. Ability is read on its logit scale (as an item-response model
# would): MMLU saturates near the top, so 0.85 -> 0.92 is a larger step in ability than 0.60 -> 0.67.
# At or below 4-choice chance (0.25) a prior says nothing more, hence the floor.
PRIOR_FLOOR, PRIOR_CEIL = 0.27, 0.99
PRIOR_CENTER, PRIOR_SCALE = math.log(0.7 / 0.3), 0.5  # logit(0.7) maps to 0, as before


def prior_feature(prior: float) -> float:
    p = min(max(prior, PRIOR_FLOOR), PRIOR_CEIL)
    return (math.log(p / (1.0 - p)) - PRIOR_CENTER) / PRIOR_SCALE


def vendor(info: ModelInfo) -> str:
    fam = (info.family or info.id).lower()
    for name, prefixes in _VENDOR_PREFIXES:
        if fam.startswith(prefixes):
            return name
    return "other"


def is_coder(info: ModelInfo) -> bool:
    text = f"{info.id} {info.family}".lower()
    return any(k in text for k in ("code", "coder", "codestral"))


def model_features(info: ModelInfo) -> npt.NDArray[np.float64]:
    price = max((info.input_per_mtok + info.output_per_mtok) / 2, 0.0)
    z = np.zeros(N_MODEL_FEATURES)
    z[:9] = (
        1.0,
        prior_feature(info.quality_prior),
        math.log10(price + 0.01) if price > 0 else 0.0,  # unpriced stand-ins: the mid tier ($1 / Mtok)
        (math.log2(max(info.context_window, 2048)) - 15.0) / 3.0 if info.context_window > 1 else 0.0,
        float(info.tools),
        float(info.vision),
        float(info.json_schema),
        float(info.reasoning),
        float(is_coder(info)),
    )
    z[len(BASE_NAMES) + VENDORS.index(vendor(info))] = 1.0
    return z


def features_matrix(infos: Sequence[ModelInfo]) -> npt.NDArray[np.float64]:
    return np.stack([model_features(i) for i in infos]) if infos else np.zeros((0, N_MODEL_FEATURES))


def neutral_info(model_id: str) -> ModelInfo:
    """A stand-in for a model the catalog does not know: default prior, no capabilities."""
    entry = {
        "id": model_id.replace(" ", "_") or "unknown",
        "provider": "unknown",
        "input_per_mtok": 0,
        "output_per_mtok": 0,
        "context_window": 1,
    }
    return parse_entries([entry])[0]


def as_info(model: ModelInfo | str) -> ModelInfo:
    """A catalog entry for a model (its first entry by catalog order), or a neutral stand-in."""
    if isinstance(model, ModelInfo):
        return model
    found = load_catalog().lookup(model)
    return found[0] if found else neutral_info(model)


def residual_key(info: ModelInfo, known: dict[str, int]) -> int | None:
    """Index of the per-model residual for this model (by id, then alias), or None when unseen."""
    for name in (info.id, *info.aliases):
        hit = known.get(name)
        if hit is not None:
            return hit
    return None
