"""Strategy `auto`: predict each candidate's quality on the prompt, then the knob picks the
cheapest good-enough one. The predictor is local (no network) and loaded once, lazily."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from satisfice.catalog import ModelInfo
from satisfice.learn.cluster import cluster_of
from satisfice.predict.features import RequestFeatures, request_features
from satisfice.predict.learned import LearnedPredictor
from satisfice.routing.constraints import Needs, estimated_costs
from satisfice.routing.knob import Knob, ShareTarget, calibrate_share, choose
from satisfice.routing.lengths import OutputLengths
from satisfice.routing.trivial import trivial_kind

if TYPE_CHECKING:
    from satisfice.predict import QualityPredictor

# Shifts raw predictions for a prompt cluster with the learner's promoted statistics. The cluster
# comes as a function: it tokenises a new prompt, which is needed only when statistics are promoted.
Adjuster = Callable[[Callable[[], int], list[float]], list[float]]


def _no_cluster() -> int:
    return 0


# A typical request, to price candidates when calibrating the share knob.
_TYPICAL_PROMPT, _TYPICAL_OUTPUT = 500, 256


@dataclass(frozen=True, slots=True)
class Decision:
    """One request's choice. Plain floats, not numpy: the request path handles a handful of
    candidates, and under load each numpy call there measured several microseconds."""

    index: int  # into the candidate list
    quality: list[float]  # predicted quality per candidate
    cost: list[float]  # estimated cost per candidate for this request
    knob: Knob
    target: float | None  # the quality target the knob resolved to (None for wtp)
    raw_quality: list[float] | None = None  # before online learning shifted it
    prompt_cluster: Callable[[], int] = field(default=_no_cluster, compare=False, repr=False)  # `cluster`
    propensity: float = 1.0  # the probability that `index` was chosen (< 1 when the route explores)
    explored_from: int | None = None  # the knob's own pick, when exploration chose another
    strong: int | None = None  # a share knob's strongest candidate (takes prompts no one meets)
    trivial: str | None = None  # the kind of trivial prompt that sent it to the cheapest (trivial.py)
    kept: str | None = None  # the turn whose candidate it kept (affinity.py): "tool loop", "conversation"

    @property
    def cluster(self) -> int:
        """The prompt's cluster (learning statistics are kept per cluster), worked out on first
        read: it tokenises a new prompt, which the learner can do after the request has gone out."""
        return self.prompt_cluster()

    def reason(self, names: list[str]) -> str:
        i = self.index
        if self.explored_from is not None:
            g = self.explored_from
            return (
                f"auto ({self.knob}) exploring: {names[i]} predicted {self.quality[i]:.2f} instead of "
                f"{names[g]} {self.quality[g]:.2f} (chosen with probability {self.propensity:.3f})"
            )
        best = first_best(self.quality)
        head = f"auto ({self.knob}): {names[i]} predicted {self.quality[i]:.2f}"
        if self.kept is not None:
            head += f", kept: it answered this {self.kept}'s previous turn"
        elif self.trivial is not None:
            head += f", the cheapest: {self.trivial}, which any model answers (a rule, not a prediction)"
        elif self.target is not None:
            met = self.quality[i] >= self.target - 1e-12
            if met:
                head += f", cheapest meeting {self.target:.2f}"
            elif self.strong is not None:
                head += f", the strongest (none meets {self.target:.2f})"
            else:
                head += f", best available (none meets {self.target:.2f})"
        else:
            head += f", best quality minus cost/{self.knob.value:g}$"
        if best != i:
            head += f"; best {names[best]} {self.quality[best]:.2f}"
        return head


def first_best(values: Sequence[float]) -> int:
    """Index of the largest value, the first on ties (numpy's argmax, without numpy)."""
    return max(range(len(values)), key=values.__getitem__)


_load_lock = threading.Lock()


def _predictor(name: str) -> QualityPredictor:
    # Loaded by a start-up thread while requests may already ask for it: load once, under a lock.
    with _load_lock:
        from satisfice.predict import load_predictor

        return load_predictor(name)


_SHARE_TARGETS_KEPT = 512  # calibrations kept (per candidate list and share value)


class AutoRouter:
    def __init__(self, predictor: str = "learned") -> None:
        self.predictor_name = predictor
        self._share_targets: dict[tuple[tuple[str, ...], float], ShareTarget] = {}
        self._loaded: QualityPredictor | None = None

    @property
    def predictor(self) -> QualityPredictor:
        """Loaded once (under the load lock); later requests take no lock."""
        if self._loaded is None:
            self._loaded = _predictor(self.predictor_name)
        return self._loaded

    def warm(self) -> None:
        """Load the artifact, the tokenizer and the learner's cluster scores before traffic comes."""
        predictor = self.predictor
        if isinstance(predictor, LearnedPredictor):
            warm = [{"role": "user", "content": "warm up"}]
            cluster_of(
                warm,
                request_features(warm, embed=predictor.uses_embedding).ids,
                predictor=self.predictor_name,
            )

    def _cluster(self, f: RequestFeatures, messages: Sequence[Mapping[str, Any]]) -> int:
        """The prompt's learning cluster, kept with its cached features."""
        memo = ("cluster", self.predictor_name)
        known: int | None = f.memo.get(memo)
        if known is None:
            known = f.memo[memo] = cluster_of(messages, f.ids, predictor=self.predictor_name)
        return known

    def share_target(self, infos: list[ModelInfo], share: float) -> ShareTarget:
        key = (tuple(i.qualified_id for i in infos), share)
        found = self._share_targets.get(key)
        if found is None:
            ref = self.predictor.reference_quality(infos)
            cost = np.array([i.cost_usd(_TYPICAL_PROMPT, _TYPICAL_OUTPUT) for i in infos], dtype=np.float64)
            # A predictor that knows nothing of the models (random) has a strongest candidate only
            # by chance: the catalog's best prior is the strong one its share is sent to.
            informed = getattr(self.predictor, "knows_models", True)
            strong = None if informed else max(range(len(infos)), key=lambda i: infos[i].quality_prior)
            found = calibrate_share(ref, cost, share, strong)
            if len(self._share_targets) >= _SHARE_TARGETS_KEPT:  # clients choose share values freely
                del self._share_targets[next(iter(self._share_targets))]  # the oldest
            self._share_targets[key] = found
        return found

    def decide(
        self,
        infos: list[ModelInfo],
        needs: Needs,
        knob: Knob,
        learned: Adjuster | None = None,
        trivial_to_cheapest: bool = False,
        lengths: OutputLengths | None = None,
    ) -> Decision:
        """`learned(cluster, raw)` shifts the predictions with promoted online statistics;
        `trivial_to_cheapest`: a trivial prompt (`trivial.py`) goes to the cheapest candidate;
        `lengths`: the models' learned answer lengths, which price them."""
        body: dict[str, Any] = needs.body
        messages = body.get("messages") or []
        predictor = self.predictor
        cluster = _no_cluster
        if isinstance(predictor, LearnedPredictor):  # features once, for prediction and cluster
            f = request_features(
                messages,
                tools=body.get("tools"),
                response_format=body.get("response_format"),
                embed=predictor.uses_embedding,
            )
            raw = predictor.predict_request(f, infos)
            cluster = functools.partial(self._cluster, f, messages)
        else:
            raw = np.asarray(
                predictor.predict(
                    messages, infos, tools=body.get("tools"), response_format=body.get("response_format")
                ),
                dtype=np.float64,
            ).tolist()
        quality = learned(cluster, raw) if learned is not None else raw
        cost = estimated_costs(infos, needs, lengths)
        target: float | None
        share = self.share_target(infos, knob.value) if knob.kind == "share" else None
        if share is not None:
            target = share.target
        elif knob.kind == "loss":
            target = max(quality) - knob.value
        elif knob.kind == "quality":
            target = knob.value
        else:
            target = None
        strong = share.strong if share is not None else None
        trivial = trivial_kind(messages) if trivial_to_cheapest else None
        if trivial is not None:
            index = min(range(len(cost)), key=cost.__getitem__)
            return Decision(index, quality, cost, knob, target, raw, cluster, strong=strong, trivial=trivial)
        index = choose(quality, cost, knob, share)
        return Decision(index, quality, cost, knob, target, raw, cluster, strong=strong)
