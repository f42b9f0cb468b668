"""`judge` (async): a cheap judge model grades the answer; `verify` calls it only when the cheap verifiers
were unsure. The model call itself is the caller's (`VerifyContext.judge`); this module builds the prompt
and reads the grade: "8/10", "Score: 3", "Rating: 7 out of 10", "PASS" / "FAIL"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from satisfice.verify.base import Check, VerifyContext, clip, failed, passed, threshold, unsure
from satisfice.verify.text import content, last_user_text, tool_calls

JUDGE_SYSTEM = (
    "You grade answers written by an AI assistant. Be strict: an answer that is wrong, incomplete, "
    "off-topic, in the wrong language or format, or that refuses a reasonable request scores low."
)
DEFAULT_TEMPLATE = (
    "Question:\n{question}\n\nAnswer:\n{answer}\n\n"
    "Rate how well the answer addresses the question, from 1 (useless) to 10 (excellent). "
    "Give one or two sentences of justification, then end with a line of the form 'Score: N'."
)
_MAX_CHARS = 8000  # per side: the judge is meant to be cheap

_SCORE = (
    re.compile(
        r"(?i)\b(?:score|rating|grade|punktzahl|bewertung|puntuaci[oó]n)\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)"
    ),
    re.compile(r"(?i)\b(\d+(?:\.\d+)?)\s*(?:/|out of|of|von|sur|de)\s*10\b"),
    re.compile(r"^\W*(\d+(?:\.\d+)?)\W*$"),  # a bare number
)
_VERDICT = re.compile(r"\b(PASS|FAIL)(?:ED|ES)?\b")
_VERDICT_LABELED = re.compile(r"(?i)\b(?:verdict|result|decision)\s*[:=]?\s*\**\s*(pass|fail)")


def _clip_middle(text: str, limit: int = _MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n[…]\n" + text[-half:]


def judge_messages(
    request: Mapping[str, Any], answer: Mapping[str, Any], template: str
) -> list[dict[str, Any]]:
    text = content(answer)
    calls = tool_calls(answer)
    if calls:
        shown = [c.get("function") or c.get("custom") for c in calls]  # name and arguments, or input
        text += "\n[tool calls] " + orjson.dumps(shown).decode()
    # str.replace, not str.format: the question and answer may hold braces of their own.
    filled = template.replace("{question}", _clip_middle(last_user_text(request))).replace(
        "{answer}", _clip_middle(text)
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": filled}]


def parse_grade(reply: str) -> tuple[str, float | None]:
    """("score", N) for a 1-10 score, ("pass" | "fail", None) for a verdict word, ("", None) when neither.
    The last match wins: judges reason first and conclude last."""
    for rx in _SCORE:
        found = rx.findall(reply)
        if found:
            score = float(found[-1])
            return ("score", score) if 1 <= score <= 10 else ("", None)
    found = _VERDICT.findall(reply) or _VERDICT_LABELED.findall(reply)
    if found:
        return found[-1].lower(), None
    return "", None


class Judge:
    name = "judge"
    defaults: Mapping[str, float] = {"judge_min_score": 7}

    async def check(
        self,
        request: Mapping[str, Any],
        answer: Mapping[str, Any],
        settings: Mapping[str, Any],
        *,
        context: VerifyContext,
    ) -> Check:
        if context.judge is None:
            return unsure(self.name, "no judge configured")
        template = settings.get("judge_template")
        messages = judge_messages(
            request, answer, template if isinstance(template, str) else DEFAULT_TEMPLATE
        )
        try:
            reply = await context.judge(messages)
        except Exception as e:  # the judge is an optional second opinion: its failure is not the answer's
            return unsure(self.name, f"judge call failed: {clip(type(e).__name__ + ': ' + str(e), 80)}")
        kind, score = parse_grade(reply if isinstance(reply, str) else "")
        if kind == "score" and score is not None:
            floor = threshold(settings, self.defaults, "judge_min_score")
            label = f"score {score:g}/10 (min {floor:g})"
            return passed(self.name, label) if score >= floor else failed(self.name, label)
        if kind == "pass":
            return passed(self.name, "judge: PASS")
        if kind == "fail":
            return failed(self.name, "judge: FAIL")
        return unsure(self.name, f"unparseable judge reply: {clip(str(reply), 60)!r}")
