"""Baselines behind the same interface, for honest comparisons: random, catalog prior, no-ML heuristic."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from satisfice.catalog import ModelInfo
from satisfice.predict.base import Array, Messages, prompt_text
from satisfice.predict.model_features import as_info, is_coder

# A fixed, mixed reference set for the share knob (the baselines have no training data).
REFERENCE_PROMPTS = (
    "hi",
    "What is the capital of Australia?",
    "Translate 'good morning' into French.",
    "Write a haiku about autumn leaves.",
    "Summarise the plot of Hamlet in three sentences.",
    "What is 17 * 23?",
    "Explain the difference between TCP and UDP.",
    "Write a Python function that checks whether a string is a palindrome.",
    "A train leaves at 3 pm at 60 km/h; a second leaves at 4 pm at 90 km/h. When does it catch up?",
    "Prove that the square root of 2 is irrational.",
    "Implement an LRU cache in Java with O(1) get and put, and explain the design.",
    "Derive the closed form of sum_{k=1}^n k^3 and prove it by induction.",
    "Write a 500-word short story about a lighthouse keeper who finds a message in a bottle.",
    "Find all integer solutions of x^2 - 5y^2 = 1 with x < 1000, showing your reasoning step by step.",
    "Refactor this code for readability:\n```js\nfunction f(a){for(var i=0;i<a.length;i++){if(a[i]%2)"
    "{console.log(a[i])}}}\n```",
    "Design a database schema for a multi-tenant SaaS invoicing system and justify each table.",
)


class RandomPredictor:
    """Uniform noise, deterministic per (prompt text, model id)."""

    name = "random"
    knows_models = False  # its predictions say nothing of which model is stronger (share knob)

    def _value(self, text: str, model: ModelInfo) -> float:
        h = hashlib.blake2b(f"{text}\0{model.id}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "little") / 2.0**64

    def predict(
        self,
        messages: Messages,
        models: Sequence[ModelInfo],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Array:
        text = prompt_text(messages)
        return np.array([self._value(text, as_info(m)) for m in models], dtype=np.float64)

    def predict_many(self, prompts: Sequence[Messages], models: Sequence[ModelInfo]) -> Array:
        return np.array([self.predict(p, models) for p in prompts], dtype=np.float64).reshape(
            len(prompts), -1
        )

    def reference_quality(self, models: Sequence[ModelInfo]) -> Array:
        return self.predict_many([[{"role": "user", "content": t}] for t in REFERENCE_PROMPTS], models)


class PriorPredictor(RandomPredictor):
    """The catalog quality prior of each model, whatever the prompt."""

    name = "prior"
    knows_models = True

    def predict(
        self,
        messages: Messages,
        models: Sequence[ModelInfo],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Array:
        return np.array([as_info(m).quality_prior for m in models], dtype=np.float64)


_MATH = re.compile(r"\d\s*[-+*/^=]\s*\d|\\frac|\bprove\b|\bsolve\b|\bequation|\bintegral|\bprobability", re.I)
_CODE = re.compile(
    r"```|\bdef |\bfunction\b|\bclass \w|#include|\bSQL\b|\bpython\b|\bjavascript\b|\bcode\b", re.I
)
_REASON = re.compile(r"step by step|\bexplain why\b|\bderive\b|\banaly[sz]e\b|\bcompare\b|\bdesign\b", re.I)


# Where the cue words are looked for in a long prompt: its head and its tail. The three
# case-insensitive scans take ~0.5 s per MB, so a megabyte prompt held a route's decision for
# seconds; no prompt of the shared data is this long (their figures are unchanged).
SCAN_HEAD, SCAN_TAIL = 8000, 4000


def difficulty(text: str, turns: int) -> tuple[float, bool, bool]:
    """A hand-set difficulty in [0, 1] from length, maths, code, reasoning words and turns."""
    n = len(text)
    scanned = text if n <= SCAN_HEAD + SCAN_TAIL else text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]
    math, code = bool(_MATH.search(scanned)), bool(_CODE.search(scanned))
    d = 0.1 + 0.15 * min(np.log1p(n / 200) / np.log1p(20), 1.0) + 0.25 * math + 0.25 * code
    d += 0.15 * bool(_REASON.search(scanned)) + 0.05 * min(max(turns - 1, 0), 3) / 3
    return float(min(d, 1.0)), math, code


class HeuristicPredictor(RandomPredictor):
    """No ML: the catalog prior, sharpened by a hand-set prompt difficulty (quality = prior ** (1 + 3 d)),
    with nudges for reasoning models on maths, code models on code, and missing tool / JSON support."""

    name = "heuristic"
    knows_models = True

    def predict(
        self,
        messages: Messages,
        models: Sequence[ModelInfo],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> Array:
        text = prompt_text(messages)
        turns = sum(1 for m in messages if m.get("role") == "user")
        d, math, code = difficulty(text, turns)
        kind = response_format.get("type") if response_format else None
        json_needed = kind in ("json_object", "json_schema")
        out = np.empty(len(models))
        for j, raw in enumerate(models):
            m = as_info(raw)
            dj = d * (0.7 if (m.reasoning and math) or (is_coder(m) and code) else 1.0)
            q = m.quality_prior ** (1.0 + 3.0 * dj)
            if tools and not m.tools:
                q *= 0.2
            if json_needed and not m.json_schema:
                q *= 0.9
            out[j] = q
        return np.clip(out, 0.0, 1.0)
