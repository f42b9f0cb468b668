"""Exploration for strategy `auto`: on a configured share of requests, try a neighbour of the pick.

A deterministic router only ever observes the models it already prefers, so its logged outcomes
cannot tell whether a cheaper model would have done as well. With `explore: r` the route, on a
share r of its decisions, answers with a neighbour of the knob's pick in cost order instead (the
next cheaper or the next dearer candidate, one of them at random). Each decision logs the
probability with which its model was chosen, so the promotion gate's inverse-propensity (doubly
robust) estimate of a new set of statistics is unbiased for the explored actions too. Neighbours
only: the cost and quality of an explored answer stay close to the pick's.
"""

from __future__ import annotations

import random
from dataclasses import replace

from satisfice.routing.auto import Decision


def neighbours(cost: list[float], index: int) -> list[int]:
    """The candidates just cheaper and just dearer than `index` (ties broken by position)."""
    order = sorted(range(len(cost)), key=lambda i: (cost[i], i))
    pos = order.index(index)
    return [order[j] for j in (pos - 1, pos + 1) if 0 <= j < len(order)]


def explore(decision: Decision, rate: float, rng: random.Random) -> Decision:
    """The decision itself with probability 1 - rate, else one of its neighbours (uniformly); the
    result carries the probability with which its candidate was chosen."""
    if rate <= 0.0:
        return decision
    near = neighbours(decision.cost, decision.index)
    if not near:
        return decision  # a single candidate: nothing to explore
    if rng.random() >= rate:
        return replace(decision, propensity=1.0 - rate)
    pick = near[rng.randrange(len(near))]
    return replace(decision, index=pick, propensity=rate / len(near), explored_from=decision.index)
