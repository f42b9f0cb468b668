"""The knob forms and the one decision rule."""

import numpy as np
import pytest

from satisfice.config import ConfigError, parse_settings
from satisfice.errors import InvalidRequest
from satisfice.routing.knob import Knob, calibrate_share, choose, parse_knob

Q = np.array([0.55, 0.80, 0.95])  # weak, mid, strong
C = np.array([0.001, 0.004, 0.030])


def test_parse_forms_and_errors() -> None:
    assert parse_knob("0.9") == Knob("quality", 0.9)
    assert parse_knob("loss=0.05") == Knob("loss", 0.05)
    assert parse_knob(" SHARE=0.3 ") == Knob("share", 0.3)
    assert parse_knob("wtp=0.02") == Knob("wtp", 0.02)
    for bad in ("speed=1", "quality=1.5", "loss=-0.1", "wtp=0", "share=abc", "quality=nan"):
        with pytest.raises(InvalidRequest):
            parse_knob(bad)


def test_quality_target_picks_the_cheapest_good_enough() -> None:
    assert choose(Q, C, Knob("quality", 0.5)) == 0
    assert choose(Q, C, Knob("quality", 0.8)) == 1
    assert choose(Q, C, Knob("quality", 0.9)) == 2
    assert choose(Q, C, Knob("quality", 0.99)) == 2  # none meets it: the best predicted


def test_loss_is_relative_to_the_best_candidate() -> None:
    assert choose(Q, C, Knob("loss", 0.2)) == 1  # 0.95 - 0.2 = 0.75
    assert choose(Q, C, Knob("loss", 0.0)) == 2
    assert choose(Q, C, Knob("loss", 0.5)) == 0


def test_willingness_to_pay_trades_quality_for_dollars() -> None:
    # Utility q - cost / W: at $0.01 per quality point the strong model's 0.026 extra $ is not worth 0.15.
    assert choose(Q, C, Knob("wtp", 0.01)) == 0
    assert choose(Q, C, Knob("wtp", 1.0)) == 2


def test_share_calibration_hits_the_requested_share() -> None:
    rng = np.random.default_rng(0)
    ref = np.clip(np.column_stack([rng.uniform(0.2, 0.9, 400), rng.uniform(0.5, 1.0, 400)]), 0, 1)
    ref[:, 1] = np.maximum(ref[:, 1], ref[:, 0])  # the strong model is never predicted worse
    cost = np.array([0.001, 0.03])
    for share in (0.1, 0.3, 0.7):
        target = calibrate_share(ref, cost, share)
        picks = [choose(ref[i], cost, Knob("share", share), target) for i in range(len(ref))]
        assert abs(np.mean(np.array(picks) == 1) - share) < 0.02


def test_route_knob_is_validated_in_config() -> None:
    with pytest.raises(ConfigError, match=r"routes\.a\.knob"):
        parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "knob": "fast"}}}, {})
    with pytest.raises(ConfigError, match=r"routes\.a\.router"):
        parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "router": "magic"}}}, {})
    with pytest.raises(ConfigError, match=r"routes\.a:b"):
        parse_settings({"routes": {"a:b": {"candidates": ["x"]}}}, {})
    s = parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "knob": 0.8}}}, {})
    assert s.routes[0].knob == "0.8"
