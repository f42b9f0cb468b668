"""POST /v1/feedback over a real aiohttp server on loopback, and the prompt clusters."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from satisfice.learn import MemoryLearnStore, SQLiteLearnStore, cluster_of
from satisfice.learn.cluster import centroids
from satisfice.server.feedback import FeedbackEndpoint
from tests.learn.helpers import Clock, decision, learner


async def _post_all(endpoint: FeedbackEndpoint, bodies: list[Any]) -> list[tuple[int, Any]]:
    app = web.Application()
    app.router.add_post("/v1/feedback", endpoint.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        out = []
        for body in bodies:
            kw = {"data": body} if isinstance(body, bytes) else {"json": body}
            resp = await client.post("/v1/feedback", **kw)
            out.append((resp.status, await resp.json()))
        return out


def test_feedback_endpoint() -> None:
    store = MemoryLearnStore()
    lrn = learner(store, Clock())
    lrn.record_decision(decision("req_1"))
    bodies: list[Any] = [
        {"request_id": "req_1", "score": 0.25, "comment": "half right"},
        {"request_id": "req_unknown", "score": 1},
        {"request_id": "req_1", "score": True},
        {"request_id": "req_1", "score": "0.5"},
        {"request_id": "req_1", "score": 1.5},
        {"score": 1},
        {"request_id": 7, "score": 1},
        [1, 2],
        b"{not json",
        b"x" * 5000,
        {"request_id": "req_1", "score": 1, "comment": 5},
        {"request_id": "req_1", "score": 1, "comment": "x" * 4001},
    ]
    got = asyncio.run(_post_all(FeedbackEndpoint(lrn, None, max_body=4096), bodies))
    assert got[0] == (200, {"ok": True, "request_id": "req_1"})
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1000.0) == (0.25, 0.75)
    status, err = got[1]
    assert status == 404 and err["error"]["code"] == "request_not_found"
    assert err["error"]["param"] == "request_id" and err["error"]["type"] == "invalid_request_error"
    expected = [
        (400, "score", "invalid_type"),
        (400, "score", "invalid_type"),
        (400, "score", "invalid_value"),
        (400, "request_id", "missing_required_parameter"),
        (400, "request_id", "invalid_type"),
        (400, None, "invalid_type"),
        (400, None, "invalid_json"),
        (413, None, "request_too_large"),
        (400, "comment", "invalid_type"),
        (400, "comment", "invalid_value"),
    ]
    for (status, body), (want, param, code) in zip(got[2:], expected, strict=True):
        assert status == want and body["error"]["param"] == param and body["error"]["code"] == code, body
    assert "boolean" in got[2][1]["error"]["message"]
    assert "got an integer" in got[10][1]["error"]["message"]


def test_cluster_of_is_stable_and_separates_topics() -> None:
    from satisfice.predict import load_predictor
    from satisfice.predict.features import prompt_features, request_features
    from satisfice.predict.learned import LearnedPredictor

    c = centroids()
    assert c is not None and c.shape[0] > 1
    pred = load_predictor("learned")
    assert isinstance(pred, LearnedPredictor)
    texts = [
        "Write a Python function that reverses a linked list.",
        "Translate 'good morning' into French.",
        "What is 17 times 23?",
        "Write a sonnet about the sea.",
        "Which vitamins are in spinach?",
        "Summarise the causes of the First World War in three sentences, then list two sources.",
    ]
    clusters = set()
    for t in texts:
        msgs = [{"role": "user", "content": t}]
        k = cluster_of(msgs)
        # The definition: the artifact's k-means centroid nearest the normalised embedding. The
        # request path computes it from token scores without building the embedding.
        x = prompt_features(msgs)
        assert k == int(np.argmax(pred.params.learn_centroids @ x[: c.shape[1]].astype(np.float64)))
        assert cluster_of(msgs, request_features(msgs, embed=False).ids) == k  # the cached ids agree
        assert cluster_of([{"role": "system", "content": "Be brief."}, *msgs]) == k  # the user turn decides
        clusters.add(k)
    assert len(clusters) >= 3  # different kinds of prompt land in different clusters
    assert cluster_of([]) == 0  # no text: cluster 0
    assert cluster_of([{"role": "user", "content": texts[0]}], predictor="prior") == 0  # no centroids


def test_cluster_is_the_argmax_of_membership(monkeypatch: pytest.MonkeyPatch) -> None:
    from satisfice.learn import cluster
    from satisfice.predict.embed import get_embedder
    from satisfice.predict.features import N_FEATURES
    from satisfice.predict.topics import membership

    rng = np.random.default_rng(0)
    cents = rng.normal(size=(8, 64))
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    monkeypatch.setitem(cluster._centroids, "synthetic", cents)
    monkeypatch.delitem(cluster._tables, "synthetic", raising=False)
    emb = get_embedder()
    for _ in range(50):
        ids = rng.integers(0, emb.vocab, size=int(rng.integers(1, 300))).astype(np.uint16)
        x = np.zeros(N_FEATURES, dtype=np.float32)
        x[: emb.table.shape[1]] = emb.pool(ids)  # the embedding the clusters are defined on
        want = int(np.argmax(membership(x, cents, 10.0)))
        assert cluster_of([], ids, predictor="synthetic") == want


def test_feedback_on_another_worker_waits_for_whose_answer_the_client_got(tmp_path: Path) -> None:
    """Worker A escalated past cheap and has not yet written that strong answered; worker B gets
    the feedback meanwhile. It must not credit cheap (and drop cheap's failed verdict): it waits,
    and once A writes the answer the feedback goes to strong."""
    path = str(tmp_path / "learn.db")
    clock = Clock()
    a, b = learner(SQLiteLearnStore(path), clock), learner(SQLiteLearnStore(path), clock)
    a.record_decision(decision("req1"))  # a cascade starting on cheap
    a.store.flush()
    a.observe("req1", 0.0, "verify")  # cheap's answer failed verification
    assert not b.observe("req1", 1.0, "feedback", wait_for_answer=True)  # A has not said who answered
    a.record_answer("req1", "strong")
    a.store.flush()
    assert b.observe("req1", 1.0, "feedback", wait_for_answer=True)
    b.store.flush()
    outcomes = sqlite3.connect(path).execute("SELECT model, source, score FROM outcomes ORDER BY model")
    assert outcomes.fetchall() == [("cheap", "verify", 0.0), ("strong", "feedback", 1.0)]
    a.store.close()
    b.store.close()


def test_feedback_that_fails_inside_gets_an_openai_style_500(tmp_path: Path) -> None:
    """A decision the store cannot read back (a row another version or a hand wrote) made the
    endpoint raise: aiohttp answered a text/plain 500 where every other endpoint gives JSON."""
    path = str(tmp_path / "learn.db")
    store = SQLiteLearnStore(path)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO decisions (request_id, ts, route, cluster, model, predicted, candidates, "
            "predictions, knob, propensity, costs) VALUES ('req_bad', 1000, 'r', 0, 'cheap', 0.5, "
            "'not json', '[0.5]', 'quality=0.7', 1.0, '[]')"
        )
    endpoint = FeedbackEndpoint(learner(store, Clock()), None, max_body=4096)
    [(status, body)] = asyncio.run(_post_all(endpoint, [{"request_id": "req_bad", "score": 1}]))
    store.close()
    assert status == 500, body
    assert body["error"]["type"] == "api_error" and body["error"]["code"] == "internal_error"
