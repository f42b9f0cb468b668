"""The vectorised decision rule picks exactly what `knob.choose` picks, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from satisfice.evals.vector import calibrate_share_matrix, choose_matrix
from satisfice.routing.knob import Knob, ShareTarget, calibrate_share, choose, choose_many


@pytest.mark.parametrize("seed", range(6))
def test_choose_matrix_equals_choose(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(60):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 7))
        # coarse grids make ties in quality, cost and wtp score common
        q = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], (n, m)) if trial % 2 else rng.random((n, m))
        c = rng.choice([0.001, 0.002, 0.004], (n, m)) if trial % 3 else rng.random((n, m)) / 100
        knobs = [
            Knob("quality", float(rng.choice([0.0, 0.5, 1.0, rng.random()]))),
            Knob("loss", float(rng.choice([0.0, 0.25, rng.random()]))),
            Knob("wtp", float(rng.choice([0.001, 0.004, 0.01, rng.random()]))),
            Knob("share", float(rng.random())),
        ]
        for knob in knobs:
            strong = int(rng.integers(0, m)) if trial % 8 else None  # None: the best-predicted fallback
            target = ShareTarget(float(rng.random()), strong) if trial % 4 == 0 else None
            got = choose_matrix(q, c, knob, target)
            assert np.array_equal(got, choose_many(q, c, knob, target)), (knob, q, c)
            assert int(got[0]) == choose(q[0], c[0], knob, target)
        costs = c[0]
        share = float(rng.random())
        assert calibrate_share_matrix(q, costs, share) == calibrate_share(q, costs, share)


def test_one_cost_per_column_broadcasts() -> None:
    q = np.array([[0.9, 0.95], [0.5, 0.9], [0.2, 0.3]])
    cost = np.array([0.001, 0.01])
    assert choose_matrix(q, cost, Knob("quality", 0.8)).tolist() == [0, 1, 1]  # last: nobody meets 0.8
    assert choose_matrix(q, cost, Knob("loss", 0.1)).tolist() == [0, 1, 0]


def test_no_candidates() -> None:
    with pytest.raises(ValueError):
        choose_matrix(np.zeros((3, 0)), np.zeros(0), Knob("quality", 0.5))


def test_every_share_up_to_one_is_reachable() -> None:
    """The strongest candidate (by mean prediction) is not the best predicted on every prompt. Up
    to the share of prompts where it is, a prompt no candidate meets goes to its best predicted
    (those where the strongest is not predicted better stay off it); beyond that, to the strongest,
    so that share=1 sends everything there (it used to stop at 50 % here)."""
    q = np.array([[0.5, 0.8, 0.7], [0.5, 0.6, 0.9], [0.4, 0.5, 0.95], [0.3, 0.9, 0.8]])
    cost = np.array([0.001, 0.002, 0.01])
    assert int(np.argmax(q.mean(axis=0))) == 2
    for share, fallback in ((0.25, None), (0.5, None), (0.75, 2), (1.0, 2)):
        calibrated = calibrate_share(q, cost, share)
        assert calibrated.strong == fallback
        picks = choose_many(q, cost, Knob("share", share), calibrated)
        assert float(np.mean(picks == 2)) == share
        assert calibrate_share_matrix(q, cost, share) == calibrated
