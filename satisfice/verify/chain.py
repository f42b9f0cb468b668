"""Running the verifiers: the sync chain, then (only when it is not decisive) self-consistency and the
judge; and the cheap prefix check for streaming cascades.

Every choice of an answer (`n` > 1) is verified, each as an answer of its own: the answer is as good as
its worst choice (any fail: fail; else any unsure: unsure), and a check says which choice it is about."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from satisfice.verify.base import AsyncVerifier, Check, Verdict, Verifier, VerifyContext, unsure
from satisfice.verify.degenerate import Degenerate, asked_repetition, repetition
from satisfice.verify.language import Language, language_check
from satisfice.verify.refusal import refusal_check
from satisfice.verify.registry import VERIFIERS
from satisfice.verify.settings import VerifySettings
from satisfice.verify.text import choices

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
            return f"pass: {last.describe(80)}" if settled and last else "pass"
        picks = [c for c in self.checks if c.verdict is self.verdict][:2]
        body = "; ".join(c.describe(80) for c in picks)
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


def _chain(request: Mapping[str, Any], answer: Mapping[str, Any], settings: VerifySettings) -> list[Check]:
    """The sync chain on an answer of one choice."""
    return [_run_sync(name, request, answer, settings.params) for name in settings.chain]


def _about(checks: list[Check], choice: int, several: bool) -> list[Check]:
    """The checks of one choice, saying which choice when there are several."""
    return [dataclasses.replace(c, choice=choice) for c in checks] if several else checks


def run_chain(request: Mapping[str, Any], answer: Mapping[str, Any], settings: VerifySettings) -> list[Check]:
    """Every sync verifier of the chain on every choice (all run: the checks are the diagnosis, and they
    are cheap)."""
    views = choices(answer)
    return [c for i, view in views for c in _about(_chain(request, view, settings), i, len(views) > 1)]


def _worst_verdict(found: Iterable[Verdict]) -> Verdict:
    verdicts = set(found)
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.UNSURE if Verdict.UNSURE in verdicts else Verdict.PASS


def _aggregate(checks: list[Check]) -> Verdict:
    return _worst_verdict(c.verdict for c in checks)


def verify_sync(request: Mapping[str, Any], answer: Mapping[str, Any], settings: VerifySettings) -> Outcome:
    """The sync chain alone (no self-consistency, no judge)."""
    checks = run_chain(request, answer, settings)
    return Outcome(_aggregate(checks), checks)


def _worst(outcomes: list[Outcome]) -> Outcome:
    """The outcome of an answer from its choices' outcomes: the worst verdict. The checks of the
    choices that decided it come first, so the reason names them (not a doubt another choice
    settled); of passing choices, those settled by self-consistency or the judge come last, so the
    reason names what settled them."""
    verdict = _worst_verdict(o.verdict for o in outcomes)

    def order(o: Outcome) -> tuple[bool, bool]:
        return o.verdict is not verdict, o.verdict is Verdict.PASS and _aggregate(o.checks) is Verdict.UNSURE

    return Outcome(verdict, [c for o in sorted(outcomes, key=order) for c in o.checks])


async def verify(
    request: Mapping[str, Any],
    answer: Mapping[str, Any],
    settings: VerifySettings,
    context: VerifyContext | None = None,
) -> Outcome:
    """The sync chain on every choice; then, unless a choice failed it, each choice is settled in turn
    (`_settle`) until one fails."""
    ctx = context or VerifyContext()
    views = choices(answer)
    several = len(views) > 1
    chains = [(i, view, _chain(request, view, settings)) for i, view in views]
    if any(_aggregate(checks) is Verdict.FAIL for _, _, checks in chains):  # no paid opinion then
        return _worst([Outcome(_aggregate(checks), _about(checks, i, several)) for i, _, checks in chains])
    outcomes: list[Outcome] = []
    for i, view, checks in chains:
        # Self-consistency compares choice 0 only: the second sample is one choice, and one
        # agreement is the spot check it is meant to be (the other choices get the chain and the judge).
        outcome = await _settle(request, view, settings, ctx, checks, consistency=not outcomes)
        outcomes.append(Outcome(outcome.verdict, _about(outcome.checks, i, several)))
        if outcome.verdict is Verdict.FAIL:
            break
    return _worst(outcomes)


async def _settle(
    request: Mapping[str, Any],
    answer: Mapping[str, Any],
    settings: VerifySettings,
    ctx: VerifyContext,
    checks: list[Check],
    *,
    consistency: bool,
) -> Outcome:
    """One choice that passed its chain, or left it unsure: self-consistency when enabled,
    `consistency` and a second answer is given (a disagreement fails, an agreement settles doubts),
    then the judge when enabled, given and the choice is still in doubt."""
    verdict = _aggregate(checks)
    second = ctx.second_answer is not None or ctx.sample is not None
    if consistency and settings.self_consistency and second:
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


def verify_stream_prefixes(
    request: Mapping[str, Any], texts: Mapping[int, str], settings: VerifySettings
) -> Check | None:
    """`verify_stream_prefix` on the text so far of each choice of a stream (choice index -> text):
    the first failure, saying which choice when there are several, or None."""
    for i, text in sorted(texts.items()):
        found = verify_stream_prefix(request, text, settings)
        if found is not None:
            return dataclasses.replace(found, choice=i) if len(texts) > 1 else found
    return None
