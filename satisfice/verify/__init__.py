"""Answer verification for cascades: cheap, pluggable verifiers that say pass / fail / unsure with a
reason, so a cheap model's answer is kept or escalated to a stronger model.

    outcome = await verify(request, answer, VerifySettings(), VerifyContext(judge=call_judge))
    outcome.verdict            # Verdict.PASS / FAIL / UNSURE
    outcome.reason()           # "fail: truncation: finish_reason=length"
    verify_stream_prefix(request, text_so_far, settings)   # Check(FAIL) to abandon a stream, or None
    verify_stream_prefixes(request, {0: text0, 1: text1}, settings)   # the same, per streamed choice

Every choice of an answer is verified; the answer's verdict is its worst choice's.

Verifiers live in the registry `VERIFIERS` (name → instance); `settings.chain` picks the sync ones,
`judge` / `self_consistency` enable the async ones.
"""

from __future__ import annotations

from satisfice.verify.base import AsyncVerifier, Check, JudgeCall, Verdict, Verifier, VerifyContext
from satisfice.verify.chain import (
    Outcome,
    run_chain,
    verify,
    verify_stream_prefix,
    verify_stream_prefixes,
    verify_sync,
)
from satisfice.verify.registry import DEFAULT_CHAIN, VERIFIERS, default_thresholds
from satisfice.verify.settings import VerifySettings

__all__ = [
    "DEFAULT_CHAIN",
    "VERIFIERS",
    "AsyncVerifier",
    "Check",
    "JudgeCall",
    "Outcome",
    "Verdict",
    "Verifier",
    "VerifyContext",
    "VerifySettings",
    "default_thresholds",
    "run_chain",
    "verify",
    "verify_stream_prefix",
    "verify_stream_prefixes",
    "verify_sync",
]
