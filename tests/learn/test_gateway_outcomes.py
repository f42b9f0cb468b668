"""What the gateway hands the learner once a request is answered: outcomes under the route's own
candidate names, a retried timeout that then answered is not a failure, and the decision at hand
(no store read on the request path)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from satisfice.gateway import Call, Gateway
from satisfice.learn import MemoryLearnStore
from satisfice.ledger.record import LedgerRow
from satisfice.routing.executor import Attempt
from tests.learn.helpers import Clock, decision, learner


class Plan(SimpleNamespace):
    """The two plan fields the learner's hand-off reads."""

    def candidate(self, provider: str, model: str) -> str:
        return {"gpt-4o-mini": "cheap", "gpt-4o": "strong"}.get(model, model)


class NoReads(MemoryLearnStore):
    def decision(self, request_id: str) -> Any:
        raise AssertionError("the gateway has the decision: no store read on the request path")


def failures(attempts: list[Attempt]) -> dict[Any, Any]:
    """The statistics after the gateway hands the learner a request's failed attempts; the route
    chose "cheap" (gpt-4o-mini)."""
    store = NoReads()
    lrn = learner(store, Clock())
    logged = decision("req_1")
    store.save_decision(logged)
    row = LedgerRow(id="req_1", ts=1000.0, endpoint="chat")
    call = Call(row, plan=Plan(steps=None), attempts=attempts, logged=logged)  # type: ignore[arg-type]
    gateway = SimpleNamespace(planner=SimpleNamespace(learner=lrn), _logged=lambda c: c.logged)
    Gateway._learn_failures(gateway, call)  # type: ignore[arg-type]
    return store.stats()


def test_a_failure_is_kept_under_the_routes_name_for_the_model() -> None:
    stats = failures([Attempt("openai", "gpt-4o-mini", "bad_response", 10.0)])
    assert list(stats) == [("r", 0, "cheap")]  # the name adjust() looks up, not "gpt-4o-mini"
    assert stats[("r", 0, "cheap")].f > 0


def test_a_timeout_that_a_retry_answered_is_not_a_failure() -> None:
    timed_out = Attempt("openai", "gpt-4o-mini", "timeout", 1000.0)
    assert failures([timed_out, Attempt("openai", "gpt-4o-mini", "ok", 200.0)]) == {}
    assert failures([timed_out]) != {}
