"""RouteLLM's metrics on a curve worked out by hand.

Five prompts, weak W and strong S (1 = correct):   p1  p2  p3  p4  p5
    W correct                                        1   0   1   0   0    -> weak quality 0.4
    S correct                                        1   1   1   1   0    -> strong quality 0.8
A router that sends prompts to S in the order p5, p2, p4, p3, p1 (its predicted W quality, ascending)
gains 0, +1, +1, 0, 0 correct answers:
    strong share   0.0  0.2  0.4  0.6  0.8  1.0
    quality        0.4  0.4  0.6  0.8  0.8  0.8
    PGR            0    0    0.5  1    1    1
APGR = trapezoids of width 0.2: 0.2 x (0 + 0.25 + 0.75 + 1 + 1) = 0.6
CPT(50%): PGR reaches 0.5 exactly at share 0.4.
CPT(80%): between (0.4, 0.5) and (0.6, 1.0): 0.4 + 0.2 x 0.3 / 0.5 = 0.52
share for 95% of S (quality 0.76): between (0.4, 0.6) and (0.6, 0.8): 0.4 + 0.2 x 0.16 / 0.2 = 0.56
Random router: the line (0, 0.4)-(1, 0.8): APGR 0.5, CPT50 0.5, CPT80 0.8, 95%: (0.76 - 0.4) / 0.4 = 0.9
Oracle (RouteLLM "optimal"): p2 and p4 first: quality 0.4, 0.6, 0.8 at shares 0, 0.2, 0.4, then flat:
    APGR 0.2 x (0.25 + 0.75 + 1 + 1 + 1) = 0.8, CPT50 0.2, CPT80 0.32, 95% 0.36
"""

from __future__ import annotations

import numpy as np
import pytest

from satisfice.evals.metrics import apgr, cpt, curve_metrics, oracle_curve, pgr, share_for
from satisfice.predict.evaluate import strong_share
from tests.evals.helpers import TWO_STRONG_Q, TWO_WEAK_Q

SHARES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
QUALITY = [0.4, 0.4, 0.6, 0.8, 0.8, 0.8]


def test_router_curve_by_hand() -> None:
    assert apgr(SHARES, QUALITY, 0.4, 0.8) == pytest.approx(0.6)
    assert cpt(SHARES, QUALITY, 0.4, 0.8, 0.5) == pytest.approx(0.4)
    assert cpt(SHARES, QUALITY, 0.4, 0.8, 0.8) == pytest.approx(0.52)
    assert share_for(SHARES, QUALITY, 0.95 * 0.8) == pytest.approx(0.56)
    assert pgr(0.6, 0.4, 0.8) == pytest.approx(0.5)


def test_order_of_points_does_not_matter() -> None:
    rev = curve_metrics(SHARES[::-1], QUALITY[::-1], 0.4, 0.8)
    assert rev == pytest.approx({"apgr": 0.6, "cpt50": 0.4, "cpt80": 0.52, "share_for_95": 0.56})


def test_random_line() -> None:
    m = curve_metrics([0.0, 1.0], [0.4, 0.8], 0.4, 0.8)
    assert m == pytest.approx({"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8, "share_for_95": 0.9})


def test_oracle_curve_by_hand() -> None:
    x, y = oracle_curve(np.array(TWO_WEAK_Q, dtype=float), np.array(TWO_STRONG_Q, dtype=float))
    assert x.tolist() == pytest.approx(SHARES)
    assert y.tolist() == pytest.approx([0.4, 0.6, 0.8, 0.8, 0.8, 0.8])
    m = curve_metrics(x, y, 0.4, 0.8)
    assert m == pytest.approx({"apgr": 0.8, "cpt50": 0.2, "cpt80": 0.32, "share_for_95": 0.36})


def test_unreachable_and_degenerate() -> None:
    assert share_for([0.0, 1.0], [0.4, 0.7], 0.76) is None  # never reaches 95% of 0.8
    assert cpt([0.0, 0.5], [0.4, 0.5], 0.4, 0.8, 0.8) is None
    assert apgr([0.0, 1.0], [0.5, 0.5], 0.5, 0.5) is None  # no gap to recover
    assert share_for([0.0, 1.0], [0.9, 0.9], 0.5) == 0.0  # already there with no strong call
    with pytest.raises(ValueError):
        apgr([0.0, 1.0], [0.4], 0.4, 0.8)


def test_a_blip_above_the_target_is_not_the_share_needed() -> None:
    """The curve touches 0.76 at 0.4, dips, and holds from 0.8: 0.4 is not a share one can rely on."""
    shares, quality = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], [0.4, 0.6, 0.76, 0.7, 0.76, 0.8]
    assert share_for(shares, quality, 0.76) == pytest.approx(0.8)
    assert share_for(shares, quality, 0.65) == pytest.approx(0.2625)  # crossed once: where it crosses


def test_the_per_prompt_share_waits_until_the_gain_stays_above_the_target() -> None:
    # gains in routing order: +1, -1, +1, +1; 95 % of the strong model's 3 right answers needs a
    # cumulative gain of 0.95 * 3 - 1 (the weak model's) = 1.85: only all four prompts give it
    q_weak = np.array([0.0, 1.0, 0.0, 0.0])
    q_strong = np.array([1.0, 0.0, 1.0, 1.0])
    score = np.array([4.0, 3.0, 2.0, 1.0])
    assert strong_share(score, q_weak, q_strong) == pytest.approx(1.0)
    # 50 %: a gain of 0.5 * 3 - 1 = 0.5, reached at 1 prompt (the first crossing), lost at 2, back at 3
    assert strong_share(score, q_weak, q_strong, frac=0.5) == pytest.approx(0.75)


def test_no_gap_to_recover_when_the_strong_model_is_worse() -> None:
    """Dividing by a negative gap would score a router that follows the worse model as "recovering"."""
    shares, qualities = [0.0, 0.5, 1.0], [0.8, 0.7, 0.4]
    assert pgr(0.6, 0.8, 0.4) is None
    assert apgr(shares, qualities, 0.8, 0.4) is None
    assert cpt(shares, qualities, 0.8, 0.4, 0.5) is None
    assert curve_metrics(shares, qualities, 0.8, 0.4)["share_for_95"] == 0.0  # still meaningful
    # The cheaper model alone reaches it, though the curve dips below 95 % later.
    assert curve_metrics([0.0, 0.5, 0.9, 1.0], [0.8, 0.3, 0.3, 0.4], 0.8, 0.4)["share_for_95"] == 0.0
