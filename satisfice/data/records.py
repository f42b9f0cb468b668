"""The one in-memory shape of labelled routing data: prompts with per-model outcomes.

Every data command reads and writes it; the canonical JSONL format (one Record per line) is its
serialisation:
  {"id": "...", "messages": [...], "outcomes": {"MODEL": {"quality": 0.0-1.0, "cost_usd": 0.0012,
   "response": "..."}}, "family": "...", "split": "train"}
`cost_usd`, `response`, `family` and `split` are optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Outcome:
    quality: float  # 0..1: 1 = fully good (correct, preferred, top judge score)
    cost_usd: float | None = None  # what this call cost, when the data says
    response: str | None = None  # the model's full answer, when the data has it


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    messages: Sequence[Mapping[str, Any]]  # OpenAI chat messages
    outcomes: Mapping[str, Outcome]  # catalog model id -> outcome (sparse for pairwise data)
    family: str = ""  # task family, e.g. "mmlu", "gsm8k", "arc-challenge", "mbpp", "winogrande", "arena-chat"
    split: str | None = None  # "train" | "test" when the source defines a split

    def prompt_text(self) -> str:
        """The last user message's text (what most routers look at)."""
        for msg in reversed(self.messages):
            content = msg.get("content")
            if msg.get("role") == "user" and isinstance(content, str | list):
                return _text(content)
        return ""

    def conversation_text(self) -> str:
        """Every message's role and text, in order: what tells two conversations apart when they end
        with the same user turn ("Continue"), so that evaluations group prompts by it."""
        return "\n".join(f"{m.get('role')}: {_text(m.get('content')).strip()}" for m in self.messages)


def _text(content: Any) -> str:
    """A message's text: a string, or its parts' texts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@dataclass(slots=True)
class Dataset:
    name: str
    records: list[Record]
    models: list[str]  # catalog ids of the models with outcomes, in a stable order
    pairwise: bool = False  # True: each record holds a vote between two models, not a dense row
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def families(self) -> list[str]:
        return sorted({r.family for r in self.records})

    def split(self, name: str) -> list[Record]:
        return [r for r in self.records if r.split == name]
