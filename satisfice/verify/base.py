"""The verifier vocabulary: verdicts, checks, the two verifier protocols and the async context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

# The judge callable the caller injects: chat messages in, the judge model's reply text out.
JudgeCall = Callable[[list[dict[str, Any]]], Awaitable[str]]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class Check:
    verifier: str
    verdict: Verdict
    reason: str
    choice: int | None = None  # the choice (its index) of a several-choice answer; None: the only one

    def describe(self, limit: int | None = None) -> str:
        """ "refusal: 'sorry'", or "choice 1: refusal: 'sorry'" when the answer has several choices."""
        reason = self.reason if limit is None else clip(self.reason, limit)
        which = "" if self.choice is None else f"choice {self.choice}: "
        return f"{which}{self.verifier}: {reason}"


@dataclass(slots=True)
class VerifyContext:
    """What the async verifiers need and only the caller can provide."""

    second_answer: Mapping[str, Any] | None = None  # another sample of the same request (self_consistency)
    # Or a way to get one, called only when the answer is worth comparing (it may cost a model call).
    sample: Callable[[], Awaitable[Mapping[str, Any] | None]] | None = None
    judge: JudgeCall | None = None  # the cheap judge model (judge)


class Verifier(Protocol):
    """A cheap, synchronous check. `settings` is the merged thresholds mapping (defaults included).

    A verifier may also carry `defaults: Mapping[str, float]`: its thresholds and their defaults, which
    config validation then accepts under `thresholds`."""

    name: str

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check: ...


class AsyncVerifier(Protocol):
    name: str

    async def check(
        self,
        request: Mapping[str, Any],
        answer: Mapping[str, Any],
        settings: Mapping[str, Any],
        *,
        context: VerifyContext,
    ) -> Check: ...


def passed(name: str, reason: str = "ok") -> Check:
    return Check(name, Verdict.PASS, reason)


def failed(name: str, reason: str) -> Check:
    return Check(name, Verdict.FAIL, reason)


def unsure(name: str, reason: str) -> Check:
    return Check(name, Verdict.UNSURE, reason)


def threshold(settings: Mapping[str, Any], defaults: Mapping[str, float], key: str) -> float:
    """A threshold from the merged settings, falling back to the verifier's own default."""
    val = settings.get(key)
    return float(val) if isinstance(val, (int, float)) and not isinstance(val, bool) else defaults[key]


def clip(text: str, limit: int = 60) -> str:
    """Quote a snippet in a reason without letting the reason grow with the answer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
