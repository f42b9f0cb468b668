"""POST /v1/feedback {"request_id", "score", "comment"?}: a client's verdict on a routed answer.

The score (a number in [0, 1]; 1 good) becomes an outcome of the model that answered, which moves the
learner's candidate statistics; routing changes only after the promotion gate accepts them. The
cache hears it too: bad feedback evicts the answer the request produced or was served, good feedback
proves an answer that waits for proof.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import orjson
from aiohttp import web

from satisfice.cache.layer import ResponseCache
from satisfice.errors import GatewayError, InternalError, InvalidRequest, NotFound
from satisfice.learn.learner import Learner
from satisfice.learn.records import NotAnswered
from satisfice.server.http import error_response, json_response, read_json

log = logging.getLogger("satisfice.feedback")

MAX_COMMENT = 4000
# With several workers a request routed by another one reaches the shared store when that
# worker's writer commits (~50 ms batches): an unknown id is looked up again after these pauses.
OTHER_WORKER_WAITS_S = (0.05, 0.1, 0.2, 0.4)


def _parse(body: Any) -> tuple[str, float]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    for key in ("request_id", "score"):
        if key not in body:
            raise InvalidRequest(
                f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter"
            )
    rid, score = body["request_id"], body["score"]
    if not isinstance(rid, str) or not rid.strip():
        raise InvalidRequest(
            "Invalid 'request_id': expected the non-empty id of a routed request.",
            param="request_id",
            code="invalid_type" if not isinstance(rid, str) else "invalid_value",
        )
    # A boolean is an int in Python; the API asks for a number, so say so rather than guess.
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidRequest(
            f"Invalid type for 'score': expected a number between 0 and 1, but got {_kind(score)}.",
            param="score",
            code="invalid_type",
        )
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise InvalidRequest(
            f"Invalid 'score': {score} is not between 0 and 1.", param="score", code="invalid_value"
        )
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidRequest(
            f"Invalid type for 'comment': expected a string, but got {_kind(comment)}.",
            param="comment",
            code="invalid_type",
        )
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidRequest(
            f"Invalid 'comment': expected a string of at most {MAX_COMMENT} characters, got {len(comment)}.",
            param="comment",
            code="invalid_value",
        )
    return rid.strip(), float(score)


def _kind(v: Any) -> str:
    kinds = {bool: "a boolean", str: "a string", type(None): "null", list: "an array", dict: "an object"}
    return (kinds | {int: "an integer", float: "a number"}).get(type(v), type(v).__name__)


class FeedbackEndpoint:
    def __init__(
        self,
        learner: Learner | None,
        cache: ResponseCache | None,
        max_body: int,
        *,
        other_workers: bool = False,
    ) -> None:
        """`other_workers`: other processes route requests into the same store (`serve --workers`)."""
        self.learner = learner
        self.cache = cache
        self.max_body = max_body
        self.waits = OTHER_WORKER_WAITS_S if other_workers else ()
        self._later: set[asyncio.Task[None]] = set()  # learner updates after the client's answer

    async def _observe(
        self, rid: str, score: float, waits: tuple[float, ...], last_as_is: bool = True
    ) -> bool:
        """Fold the score into the learner; False when no worker has logged the request (after
        `waits`: pauses for another worker's writer to commit it). `last_as_is=False`: a request
        whose answer is not recorded yet is not scored (more tries follow)."""
        learner = self.learner
        if learner is None:
            return False
        loop = asyncio.get_running_loop()
        left = list(waits)

        def observe() -> bool:
            # While other workers may still be finishing the request, wait for it to say whose
            # answer the client got (a cascade may have escalated); the last try takes it as it is.
            patient = bool(left) or not last_as_is
            return learner.observe(rid, score, "feedback", wait_for_answer=patient)

        # A decision older than the store's in-memory window is a database read: off the loop.
        found = await loop.run_in_executor(None, observe)
        while not found and left:
            await asyncio.sleep(left.pop(0))
            found = await loop.run_in_executor(None, observe)
        return found

    def _observe_later(self, rid: str, score: float) -> None:
        """The learner's side of feedback the cache already took: the client is answered at once
        (the waits for another worker's commit took ~0.75 s a request that no route learns from)."""

        async def observe() -> None:
            try:
                await self._observe(rid, score, self.waits)
            except NotAnswered:
                pass  # a request that failed has nothing to score (the cache knew its id anyway)
            except Exception:
                log.exception("feedback on %s: the learner's update failed", rid)

        task = asyncio.create_task(observe())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            rid, score = _parse(await read_json(request, self.max_body))
            cached = await self.cache.feedback(rid, score) if self.cache is not None else False
            try:
                # Known to the cache: one try now, the rest after answering; else the waits now.
                if cached and self.waits:
                    found = await self._observe(rid, score, (), last_as_is=False)
                else:
                    found = await self._observe(rid, score, self.waits)
            except NotAnswered:
                raise InvalidRequest(
                    f"Request '{rid}' got no answer (it failed), so there is nothing to score.",
                    param="request_id",
                    code="request_not_answered",
                    status=409,
                ) from None
            if cached and not found and self.waits:
                self._observe_later(rid, score)
            elif not found and self.cache is not None and self.waits:
                # The other worker's write came since; without a learner nothing has waited for it.
                for pause in self.waits if self.learner is None else (0.0,):
                    await asyncio.sleep(pause)
                    cached = await self.cache.feedback(rid, score)
                    if cached:
                        break
            if not (found or cached):
                raise NotFound(
                    f"No request with id '{rid}' is known (auto and cascade requests, except those "
                    "the trivial-prompt rule decided, and cached answers, within their retention "
                    "window, take feedback).",
                    param="request_id",
                    code="request_not_found",
                )
        except GatewayError as err:
            return error_response(err)
        except Exception as e:  # a bug or an unreadable store: an OpenAI-style 500, not aiohttp's text
            log.exception("feedback failed")
            return error_response(InternalError(f"Internal error in the gateway ({type(e).__name__})."))
        return json_response(orjson.dumps({"ok": True, "request_id": rid}))
