"""The knob forms and the one decision rule."""

import numpy as np
import pytest

from satisfice.config import ConfigError, parse_settings
from satisfice.errors import InvalidRequest
from satisfice.predict.model_features import as_info
from satisfice.routing import auto
from satisfice.routing.knob import (
    Knob,
    ShareTarget,
    calibrate_share,
    choose,
    choose_many,
    parse_knob,
    share_picks,
)

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


def test_share_picks_are_chooses_picks_ties_included() -> None:
    """Calibration picks in numpy (share_picks) as the request path picks one prompt at a time."""
    rng = np.random.default_rng(1)
    for trial in range(40):
        n, m = 60, int(rng.integers(1, 6))
        q = np.round(rng.uniform(0.3, 1.0, (n, m)), 1)  # coarse: many ties in quality
        cost = np.round(rng.uniform(0.0, 0.01, m), 3) if trial % 2 else np.full(m, 0.002)  # and in cost
        for target in (0.0, 0.45, 0.7, 0.9, 1.0, 1.0 + 1e-9):
            for strong in (None, m - 1):
                calib = ShareTarget(target, strong)
                expected = choose_many(q, cost, Knob("share", 0.5), calib)
                assert share_picks(q, np.broadcast_to(cost, q.shape), calib).tolist() == expected.tolist()


def test_route_knob_is_validated_in_config() -> None:
    with pytest.raises(ConfigError, match=r"routes\.a\.knob"):
        parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "knob": "fast"}}}, {})
    with pytest.raises(ConfigError, match=r"routes\.a\.router"):
        parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "router": "magic"}}}, {})
    with pytest.raises(ConfigError, match=r"routes\.a:b"):
        parse_settings({"routes": {"a:b": {"candidates": ["x"]}}}, {})
    s = parse_settings({"routes": {"a": {"strategy": "auto", "candidates": ["x"], "knob": 0.8}}}, {})
    assert s.routes[0].knob == "0.8"


def test_the_fallback_order_is_the_knobs_next_choices() -> None:
    """`preference` lists what `choose` would pick were the candidates before each unavailable, at
    the target the knob resolved to for the whole set: its head is `choose`'s pick, and with the
    head removed the next one is `choose`'s pick among the rest, whatever the knob."""
    import random

    from satisfice.routing.knob import ShareTarget, preference

    rng = random.Random(0)
    for trial in range(400):
        n = rng.randint(1, 7)
        q = [round(rng.random(), 2) for _ in range(n)]  # rounded: ties happen
        c = [round(rng.random(), 1) for _ in range(n)]
        kind = ("quality", "loss", "share", "wtp")[trial % 4]
        knob = Knob(kind, 0.3)
        strong = rng.randrange(n) if kind == "share" else None
        target = {"quality": 0.3, "loss": max(q) - 0.3, "share": 0.6, "wtp": None}[kind]
        order = preference(q, c, knob, target, strong)
        assert order[0] == choose(q, c, knob, ShareTarget(0.6, strong) if kind == "share" else None)
        left = list(range(n))
        for want in order:  # each next one is the pick among those left, at the resolved target
            ql, cl = [q[i] for i in left], [c[i] for i in left]
            if target is None:
                pick = choose(ql, cl, knob)
            else:
                pick = choose(
                    ql,
                    cl,
                    Knob("share", target),
                    ShareTarget(target, left.index(strong) if strong in left else None),
                )
            assert left[pick] == want, (kind, q, c, order)
            left.remove(want)
    # Cheapest meeting the target first, then the next cheapest meeting it, then the best of the rest.
    assert preference([0.9, 0.6, 0.7, 0.4], [5.0, 0.1, 0.5, 0.01], Knob("quality", 0.6), 0.6) == [1, 2, 0, 3]


def test_a_random_router_sends_its_share_to_the_catalogs_strongest() -> None:
    """The random predictor's reference means pick a "strongest" candidate by chance (Mixtral over
    GPT-4 on its 16 reference prompts): `eval --live --router random` then sent 0 % to GPT-4 at
    every share. A predictor that knows nothing of the models sends its share to the best prior."""
    from satisfice.catalog import load_catalog
    from satisfice.routing.auto import AutoRouter

    cat = load_catalog()
    infos = [cat.lookup("mixtral-8x7b-instruct")[0], cat.lookup("gpt-4-1106-preview")[0]]
    for share in (0.2, 0.5, 0.8):
        assert AutoRouter("random").share_target(infos, share).strong in (1, None)
        assert AutoRouter("random").share_target(list(reversed(infos)), share).strong in (0, None)
    assert AutoRouter("random").share_target(infos, 0.8).strong == 1


def test_share_calibrations_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client may send a new share value with every request: each is calibrated once, and the
    oldest calibrations are let go past the bound (they were kept for ever)."""
    monkeypatch.setattr(auto, "_SHARE_TARGETS_KEPT", 8)  # the mechanism, not 512 calibrations
    router = auto.AutoRouter("heuristic")
    infos = [as_info("gpt-4o-mini"), as_info("gpt-4o")]
    first = router.share_target(infos, 0.5)
    for i in range(20):
        router.share_target(infos, i / 100)
    assert len(router._share_targets) == 8
    assert router.share_target(infos, 0.5) == first  # worked out again, the same
