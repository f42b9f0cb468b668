"""Best-effort request fields an OpenAI-compatible upstream refuses: sent again without them.

OpenAI's newer models refuse sampling parameters with a 400 (GPT-5.1 on takes `temperature` only
with `reasoning_effort: "none"`, GPT-6 none at the default effort), reasoning models refuse
`max_tokens` and ask for `max_completion_tokens`, and other OpenAI-compatible hosts refuse fields
they do not implement. The catalog cannot know every model's rules (a passthrough model is in no
catalog), and clients send such fields by default. So when an OpenAI-dialect upstream answers 400
naming one of these fields as unsupported (OpenAI's `param` and `code`), the call is sent again at
once without it (or, for `max_tokens`, with the same cap as `max_completion_tokens`), within the
same attempt: nothing was generated, nothing is billed, and the answer without a sampling
preference, a seed or a verbosity hint is still the answer asked for. A refused `reasoning_effort`
value becomes the nearest one the error lists as supported (OpenAI's "Supported values are: 'low',
'medium', and 'high'."), else it is left out and the model takes its default.

What an upstream refused is remembered per deployment, per `reasoning_effort` and per whether the
request offers tools (OpenAI's rules depend on both, and the dialect's own rewrite sends another
effort with tools to some models), so later calls of that shape leave it out from the start: one
extra round trip per deployment and shape, not per call. Fields a client relies on (`logprobs`,
`logit_bias`, `n`, `stop`, tools, `response_format`) are never dropped: their refusal is the
client's 400, as before.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any

from satisfice.api.openai_request import REASONING_EFFORTS as EFFORTS  # lowest to highest
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed

log = logging.getLogger("satisfice.providers")

# The fields that may go: an answer without them is still the answer the client asked for.
DROPPABLE = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "verbosity", "reasoning_effort"}
)
RENAMED = {"max_tokens": "max_completion_tokens"}  # the same cap, under the name the model takes
MAX_REFITS = 4  # refusals one call may meet (OpenAI names one field per 400)
_REMEMBERED = 1024  # (deployment, effort, tools) shapes kept
_DIALECTS = ("openai", "azure")
_CODES = ("unsupported_parameter", "unsupported_value")
_WORDS = re.compile(r"not supported|unsupported|deprecated|not permitted|does not support", re.IGNORECASE)
_SUPPORTED = re.compile(r"supported values? (?:are|is)\s*:?(.*)", re.IGNORECASE | re.DOTALL)
_QUOTED = re.compile(r"'([a-z]+)'")
_DROP = None  # a remembered fix: leave the field out


class RefusedParams:
    """What each deployment refused (see the module doc); one per process, in the runner."""

    def __init__(self, capacity: int = _REMEMBERED) -> None:
        self.capacity = capacity
        # (deployment, effort asked, tools offered) -> field -> its fix: a value instead, or _DROP
        self._refused: OrderedDict[tuple[str, str, bool], dict[str, str | None]] = OrderedDict()

    def fit(self, dialect: str, dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with what this deployment refused before fixed (a new dict when anything is)."""
        if dialect not in _DIALECTS or not self._refused:
            return body
        seen: set[tuple[str, str, bool]] = set()
        key = _key(dep, body)
        while key not in seen:  # a fixed reasoning_effort moves the body under another key
            seen.add(key)
            for param, fix in self._refused.get(key, {}).items():
                body = _fixed(body, param, fix)
            key = _key(dep, body)
        return body

    def refit(
        self, dialect: str, dep: Deployment, body: dict[str, Any], failure: AttemptFailed
    ) -> dict[str, Any] | None:
        """`body` fitted to the refusal `failure` reports, or None when it is not one to fit."""
        param = failure.param
        if dialect not in _DIALECTS or failure.status != 400 or param is None or param not in body:
            return None
        if param not in DROPPABLE and param not in RENAMED:
            return None
        if failure.code not in _CODES and not _WORDS.search(failure.message):
            return None
        if param in RENAMED and body.get(RENAMED[param]) is not None:
            return None  # both were sent: the refusal is not about the name
        fix = _nearest_effort(body[param], failure.message) if param == "reasoning_effort" else _DROP
        if fix is not _DROP and fix == body[param]:
            return None  # the error lists the value it refused: nothing to fit it to
        key = _key(dep, body)
        self._refused.setdefault(key, {})[param] = fix
        self._refused.move_to_end(key)
        while len(self._refused) > self.capacity:
            self._refused.popitem(last=False)
        what = "without it" if fix is _DROP else f"with {fix!r}"
        log.info("%s refused %r (%s): sent again %s", dep.key, param, failure.code or "400", what)
        return _fixed(body, param, fix)


def _key(dep: Deployment, body: dict[str, Any]) -> tuple[str, str, bool]:
    tools = bool(body.get("tools")) and body.get("tool_choice") != "none"
    return dep.key, str(body.get("reasoning_effort")), tools


def _nearest_effort(asked: Any, message: str) -> str | None:
    """The supported effort the error lists that is nearest the one asked (the lower on a tie),
    None when it lists none."""
    listed = _SUPPORTED.search(message)
    supported: list[str] = (
        [str(e) for e in _QUOTED.findall(listed.group(1)) if e in EFFORTS] if listed else []
    )
    if asked not in EFFORTS or not supported:
        return _DROP
    rank = EFFORTS.index(asked)
    return min(supported, key=lambda e: (abs(EFFORTS.index(e) - rank), EFFORTS.index(e)))


def _fixed(body: dict[str, Any], param: str, fix: str | None) -> dict[str, Any]:
    """`body` with `param` sent as `fix`, or left out (`_DROP`; a renamed field keeps its value
    under the new name)."""
    if param not in body:
        return body
    if fix is not _DROP:
        return {**body, param: fix}
    out = {k: v for k, v in body.items() if k != param}
    renamed = RENAMED.get(param)
    if renamed is not None and out.get(renamed) is None and body[param] is not None:
        out[renamed] = body[param]
    return out
