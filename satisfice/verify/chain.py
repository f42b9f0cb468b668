"""Running the verifiers: the sync chain, then (only when it is not decisive) self-consistency and the
judge; and the cheap prefix check for streaming cascades."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from satisfice.verify.base import AsyncVerifier, Check, Verdict, Verifier, VerifyContext, clip, unsure
from satisfice.verify.degenerate import Degenerate, asked_repetition, repetition
from satisfice.verify.language import Language, language_check
from satisfice.verify.refusal import refusal_check
from satisfice.verify.registry import VERIFIERS
from satisfice.verify.settings import VerifySettings

log = logging.getLogger("satisfice.verify")
_STREAM_TAIL_CHARS = 4000  # repetition is judged on the end of a stream's text: loops start late


@dataclass(slots=True)
class Outcome:
    """FAIL if any check failed; PASS if all passed, or the unsure ones were settled by self-consistency
    or the judge; UNSURE otherwise."""

    verdict: Verdict
    checks: list[Check] = field(default_factory=list)

    def reason(self) -> str:
        """Short, for logs and headers: "fail: truncation: finish_reason=length"."""
        if self.verdict is Verdict.PASS:
            settled = any(c.verdict is Verdict.UNSURE for c in self.checks)
            last = self.checks[-1] if self.checks else None
            return f"pass: {last.verifier}: {clip(last.reason, 80)}" if settled and last else "pass"
        picks = [c for c in self.checks if c.verdict is self.verdict][:2]
        body = "; ".join(f"{c.verifier}: {clip(c.reason, 80)}" for c in picks)
        return f"{self.verdict.value}: {body}" if body else self.verdict.value


def _run_sync(
    name: str, request: Mapping[str, Any], answer: Mapping[str, Any], params: Mapping[str, Any]
) -> Check:
    try:
        return cast(Verifier, VERIFIERS[name]).check(request, answer, params)
    except Exception as e:  # a verifier bug must not fail the request: it just cannot vouch for the answer
        log.warning("verifier %s raised %s", name, type(e).__name__, exc_info=True)
        return unsure(name, f"verifier error: {type(e).__name__}")


async def _run_async(
    name: str,
    request: Mapping[str, Any],
    answer: Mapping[str, Any],
    params: Mapping[str, Any],
    context: VerifyContext,
) -> Check:
    try:
        return await cast(AsyncVerifier, VERIFIERS[name]).check(request, answer, params, context=context)
    except Exception as e:
        log.warning("verifier %s raised %s", name, type(e).__name__, exc_info=True)
        return unsure(name, f"verifier error: {type(e).__name__}")


def run_chain(request: Mapping[str, Any], answer: Mapping[str, Any], settings: VerifySettings) -> list[Check]:
    """Every sync verifier of the chain (all run: the checks are the diagnosis, and they are cheap)."""
    return [_run_sync(name, request, answer, settings.params) for name in settings.chain]


def _aggregate(checks: list[Check]) -> Verdict:
    verdicts = {c.verdict for c in checks}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.UNSURE if Verdict.UNSURE in verdicts else Verdict.PASS


def verify_sync(request: Mapping[str, Any], answer: Mapping[str, Any], settings: VerifySettings) -> Outcome:
    """The sync chain alone (no self-consistency, no judge)."""
    checks = run_chain(request, answer, settings)
    return Outcome(_aggregate(checks), checks)


async def verify(
    request: Mapping[str, Any],
    answer: Mapping[str, Any],
    settings: VerifySettings,
    context: VerifyContext | None = None,
) -> Outcome:
    """The sync chain; then, unless something failed: self-consistency when enabled and a second answer is
    given (a disagreement fails, an agreement settles doubts), and the judge when enabled, given and the
    answer is still in doubt."""
    ctx = context or VerifyContext()
    checks = run_chain(request, answer, settings)
    verdict = _aggregate(checks)
    if verdict is Verdict.FAIL:
        return Outcome(verdict, checks)
    if settings.self_consistency and (ctx.second_answer is not None or ctx.sample is not None):
        check = await _run_async("self_consistency", request, answer, settings.params, ctx)
        checks.append(check)
        if check.verdict is not Verdict.UNSURE:
            return Outcome(check.verdict, checks)
    if verdict is Verdict.UNSURE and settings.judge and ctx.judge is not None:
        check = await _run_async("judge", request, answer, settings.params, ctx)
        checks.append(check)
        return Outcome(check.verdict, checks)
    return Outcome(verdict, checks)


def verify_stream_prefix(
    request: Mapping[str, Any], text_so_far: str, settings: VerifySettings
) -> Check | None:
    """A cheap look at a streaming answer so far: a refusal at the start, a repetition loop, the wrong
    language. FAIL to abandon the stream early, None when nothing is wrong yet (never PASS or UNSURE).

    Only the verifiers in `settings.chain` are applied. Cost grows with the prefix (capped), so call it at
    a few checkpoints (e.g. every ~50 tokens), not on every delta."""
    params = settings.params
    head = text_so_far[: int(params["stream_prefix_chars"])]
    if "refusal" in settings.chain:
        found = refusal_check("refusal", request, head, int(params["refusal_window_chars"]), 0, stream=True)
        if found is not None and found.verdict is Verdict.FAIL:
            return found
    if "degenerate" in settings.chain:
        why = repetition(text_so_far[-_STREAM_TAIL_CHARS:], params, Degenerate.defaults)
        if why and not asked_repetition(request):
            return Check("degenerate", Verdict.FAIL, why)
    if "language" in settings.chain and not Language.structured(request):
        # More words than for a whole answer: a prefix may open with a name, a title or a quotation.
        min_words = max(12.0, float(params["language_min_words"]))
        found = language_check("language", request, head, min_words)
        if found is not None and found.verdict is Verdict.FAIL:
            return found
    return None
