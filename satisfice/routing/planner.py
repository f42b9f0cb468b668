"""Turn a requested model name into an ordered plan of deployments (the order is the fallback order)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from satisfice.learn import Learner

from satisfice.catalog import ModelInfo
from satisfice.config import (
    CHOOSING,
    CascadeSettings,
    ConfigError,
    HedgeSettings,
    Reliability,
    RouteSettings,
)
from satisfice.errors import ContextWindowExceeded, InvalidRequest, ModelNotFound
from satisfice.routing.affinity import Affinity
from satisfice.routing.auto import Adjuster, AutoRouter, Decision, first_best
from satisfice.routing.constraints import Needs, context_overflow, estimated_costs, uncarried, unmet
from satisfice.routing.directory import ModelDirectory, Target
from satisfice.routing.explore import explore
from satisfice.routing.knob import KNOB_HEADER, parse_knob, preference
from satisfice.routing.lengths import OutputLengths

# Stand-in for a candidate the catalog does not know (a passthrough model): mid-range everything.
_UNKNOWN = ModelInfo(
    id="unknown",
    provider="unknown",
    upstream_id="unknown",
    kind="chat",
    aliases=(),
    input_per_mtok=1.0,
    output_per_mtok=2.0,
    cached_input_per_mtok=None,
    context_window=8192,
    max_output=4096,
    tools=False,
    vision=False,
    json_schema=False,
    streaming=True,
    reasoning=False,
    quality_prior=0.5,
    quality_source="unknown model",
    family="",
    price_date="",
    price_source="",
    deprecated=False,
)


@dataclass(slots=True)
class Plan:
    route: str  # the route name, or the requested model for a direct call
    strategy: str  # "direct" | "first" | "cheapest" | "weighted" | "auto"
    targets: list[Target]
    reason: str
    baseline: ModelInfo | None
    reliability: Reliability
    predicted_quality: float | None = None  # strategy auto: the chosen model's predicted quality
    knob: str | None = None  # strategy auto: the knob that decided
    # strategy auto: candidate -> (predicted quality, estimated cost $), for dry runs and debugging
    scores: dict[str, tuple[float, float]] | None = None
    # strategy cascade: the escalation ladder, one list of deployments per step, cheapest first
    steps: list[list[Target]] | None = None
    cascade: CascadeSettings | None = None
    hedge: HedgeSettings | None = None
    # auto/cascade/speculative: the decision and its candidates' names, for the online learner
    decision: Decision | None = None
    names: list[str] | None = None
    # (provider, model) of each deployment -> the candidate name it serves: the learner keeps its
    # statistics under the names the route's candidates are written with ("openai/gpt-4o-mini")
    candidate_of: dict[tuple[str, str], str] | None = None

    def candidate(self, provider: str, model: str) -> str:
        """The route's name for the candidate a deployment serves (the model id when unknown)."""
        return (self.candidate_of or {}).get((provider, model), model)


@dataclass(frozen=True, slots=True)
class _ChatCandidates:
    """A route's candidates as `unmet` sees them for a plain request (`Needs.plain`): only sizes can
    rule a chat model out then, so when the request fits the smallest context window and output cap
    among them, the chat candidates are the ones that can take it, without a check per target (a
    route of dozens of candidates spent most of its planning in those checks)."""

    ok: tuple[tuple[int, str, list[Target]], ...]  # candidates with their chat (or unknown) targets
    skipped: tuple[str, ...]  # "candidate: reason" of the targets that do not chat
    window: int | None  # the smallest context window among the chat targets (None: no bound)
    max_output: int | None  # the smallest output cap among them (None: no cap)

    @classmethod
    def of(cls, expanded: list[tuple[str, list[Target]]]) -> _ChatCandidates:
        ok, skipped, windows, caps = [], [], [], []
        for idx, (cand, targets) in enumerate(expanded):
            keep = []
            for t in targets:
                if t.info is not None and t.info.kind != "chat":
                    skipped.append(f"{cand}: an {t.info.kind} model, which does not chat")
                    continue
                keep.append(t)
                if t.info is not None:
                    windows.append(t.info.context_window)
                    caps.extend([t.info.max_output] if t.info.max_output else [])
            if keep:
                ok.append((idx, cand, keep))
        return cls(tuple(ok), tuple(skipped), min(windows, default=None), min(caps, default=None))

    def roomy(self, needs: Needs) -> bool:
        """By its token bound, the prompt and the answer expected after it fit every window."""
        return self.window is None or needs.prompt_bound + needs.expected_output <= self.window

    def fit(self, needs: Needs) -> bool:
        """The request fits every chat target's output cap and, by its token bound, every window."""
        out = needs.max_output
        if out is not None and self.max_output is not None and out > self.max_output:
            return False
        return self.window is None or needs.prompt_bound + (out or 0) <= self.window


def _with_room(
    ok: list[tuple[int, str, list[Target]]], skipped: list[str], needs: Needs
) -> tuple[list[tuple[int, str, list[Target]]], list[str]]:
    """A request without max_tokens may go to a model whose window holds its prompt but not the
    answer expected after it: the answer would stop at the window. Such targets are dropped while
    others remain (a window that holds the prompt alone is still better than none)."""
    roomy, lacking = [], []
    for idx, cand, targets in ok:
        keep = [
            t
            for t in targets
            if t.info is None or context_overflow(t.info, needs, needs.expected_output) is None
        ]
        if keep:
            roomy.append((idx, cand, keep))
        if len(keep) < len(targets):
            lacking.append(f"{cand}: no room for an answer after the prompt")
    if not roomy:
        return ok, skipped
    return roomy, skipped + lacking


class Planner:
    def __init__(
        self,
        directory: ModelDirectory,
        reliability: Reliability,
        rng: random.Random | None = None,
        learner: Learner | None = None,
        affinity: Affinity | None = None,
    ) -> None:
        self.learner = learner
        # How long each model's answers run, learned from the gateway's answered calls: prices
        # the candidates (`lengths.py`).
        self.lengths = OutputLengths()
        # Which candidate answered each conversation turn, for the turns that continue it.
        self.affinity = affinity if affinity is not None else Affinity()
        self.directory = directory
        self.reliability = reliability
        self.rng = rng or random.Random()
        self._auto: dict[str, AutoRouter] = {}
        # Routes are expanded once: candidate name -> its targets.
        self._expanded: dict[str, list[tuple[str, list[Target]]]] = {}
        # ... and each deployment -> the candidate name it serves (for the online learner)
        self._candidate_of: dict[str, dict[tuple[str, str], str]] = {}
        self._baselines: dict[str, ModelInfo | None] = {}
        self._chat: dict[str, _ChatCandidates] = {}
        for name, route in directory.routes.items():
            expanded = []
            for cand in route.candidates:
                try:
                    expanded.append((cand, directory.targets(cand)))
                except ModelNotFound:
                    continue  # not servable with this configuration; `satisfice check` reports it
            self._expanded[name] = expanded
            self._candidate_of[name] = {
                (t.dep.provider, t.dep.model): cand for cand, targets in expanded for t in targets
            }
            self._baselines[name] = self._baseline(route, expanded)
            self._chat[name] = _ChatCandidates.of(expanded)
            if route.strategy in CHOOSING:
                self._auto.setdefault(route.router, AutoRouter(route.router))

    def warm(self) -> None:
        """Load the quality predictors the routes use (start-up, off the event loop)."""
        for router in self._auto.values():
            router.warm()

    def _baseline(self, route: RouteSettings, expanded: list[tuple[str, list[Target]]]) -> ModelInfo | None:
        if route.baseline:
            found = self.directory.catalog.lookup(route.baseline)
            if not found:  # a typo here would silently zero every saving the ledger reports
                raise ConfigError(
                    f"routes.{route.name}.baseline", f"{route.baseline!r} is not a catalog model id or alias"
                )
            return found[0]
        infos = [t.info for _, ts in expanded for t in ts if t.info is not None]
        return max(infos, key=lambda i: i.input_per_mtok + i.output_per_mtok, default=None)

    def servable_candidates(self, route: str) -> list[str]:
        """The route's candidates that a configured provider serves."""
        return [cand for cand, _ in self._expanded.get(route, [])]

    def route_for(self, model: str) -> tuple[RouteSettings | None, str | None]:
        """The route a model name asks for, and the knob of a `route:knob` name."""
        route = self.directory.route(model)
        if route is None and ":" in model:
            name, _, suffix = model.partition(":")
            route = self.directory.route(name)
            if route is not None:
                return route, suffix
        return route, None

    def largest_context(self, route: str) -> int | None:
        """The largest context window among a route's servable candidates (None: unknown)."""
        windows = [t.info.context_window for _, ts in self._expanded.get(route, []) for t in ts if t.info]
        return max(windows, default=None)

    def plan(self, model: str, needs: Needs, knob: str | None = None) -> Plan:
        """`knob` comes from the request's x-satisfice-knob header (empty: not set); a model suffix
        (`auto:0.9`) wins over it, and either wins over the route's own knob. An empty suffix
        (`auto:`) is a malformed knob, not an absent one: it would override the header unseen."""
        route, suffix = self.route_for(model)
        if knob:  # checked even where a suffix overrides it, or nothing reads it: it is the client's bug
            parse_knob(knob, param=KNOB_HEADER)
        if route is None:
            return self._direct(model, needs)
        if suffix is not None:
            return self._route(route, needs, suffix, "model")
        return self._route(route, needs, knob or None, KNOB_HEADER)

    def _direct(self, model: str, needs: Needs) -> Plan:
        targets = self.directory.targets(model)
        infos = [t.info for t in targets]
        if infos and all(i is not None for i in infos):
            overflow = [(i, context_overflow(i, needs)) for i in infos if i is not None]
            if all(o is not None for _, o in overflow):
                info, need = overflow[0]
                raise ContextWindowExceeded(
                    f"This model's maximum context length is {info.context_window} tokens. However, you "
                    f"requested {need} tokens (prompt plus max_tokens). "
                    "Please reduce the length of the messages "
                    "or max_tokens.",
                    param="messages",
                )
            targets = [t for t, (_, o) in zip(targets, overflow, strict=True) if o is None]
        carried = [t for t in targets if uncarried(t.dep.dialect, needs) is None]
        if targets and not carried:  # asked of this model by name: say so rather than drop the field
            gap = uncarried(targets[0].dep.dialect, needs)
            assert gap is not None
            raise InvalidRequest(f"'{model}': the {gap.reason} (field '{gap.param}').", param=gap.param)
        targets = carried
        return Plan(model, "direct", list(targets), "requested model", targets[0].info, self.reliability)

    def _route(
        self, route: RouteSettings, needs: Needs, knob_text: str | None = None, knob_param: str = "model"
    ) -> Plan:
        """`knob_text` overrides the route's knob; `knob_param` names where it came from in errors."""
        expanded = self._expanded[route.name]
        if not expanded:
            raise ModelNotFound(
                f"No candidate of route '{route.name}' is served by a configured provider.", param="model"
            )
        ok: list[tuple[int, str, list[Target]]] = []
        skipped: list[str] = []
        context_only = True
        params: set[str | None] = set()  # the request fields that asked for what candidates lack
        sizes = self._chat[route.name]
        if needs.plain and sizes.fit(needs):  # every chat candidate can take it: `unmet` in bulk
            ok, skipped = list(sizes.ok), list(sizes.skipped)
            expanded = []
            if skipped:  # as `unmet` judges them: a model that does not chat, asked for by `model`
                context_only = False
                params.add("model")
        for idx, (cand, targets) in enumerate(expanded):
            keep = []
            for t in targets:
                why = unmet(t.info, t.dep.dialect, needs)
                if why is None:
                    keep.append(t)
                else:
                    context_only = context_only and why.reason.startswith("prompt does not fit")
                    params.add(why.param)
                    skipped.append(f"{cand}: {why.reason}")
            if keep:
                ok.append((idx, cand, keep))
        if not ok:
            err = ContextWindowExceeded if context_only else InvalidRequest
            raise err(
                f"No candidate of route '{route.name}' can take this request "
                f"({'; '.join(sorted(set(skipped)))}).",
                param=params.pop() if len(params) == 1 else None,
                code="context_length_exceeded" if context_only else "no_capable_candidate",
            )
        if needs.max_output is None and not sizes.roomy(needs):
            ok, skipped = _with_room(ok, skipped, needs)
        predicted: float | None = None
        knob: str | None = None
        scores: dict[str, tuple[float, float]] | None = None
        steps: list[list[Target]] | None = None
        decision: Decision | None = None
        names = [cand for _, cand, _ in ok]
        if knob_text is not None and route.strategy not in CHOOSING:
            # Read all the same: a knob the route has no use for must still be one (a typo is a
            # 400, as it is on a route that chooses), and a valid one is ignored, as documented.
            parse_knob(knob_text, param=knob_param)
        if route.strategy in CHOOSING:
            parsed = parse_knob(
                route.knob if knob_text is None else knob_text,
                param="knob" if knob_text is None else knob_param,
            )
            # Candidates the catalog does not know get the neutral prior of a mid-range model.
            infos = [ts[0].info or _UNKNOWN for _, _, ts in ok]
            decision = self._auto[route.router].decide(
                infos,
                needs,
                parsed,
                self._adjuster(route.name, names),
                trivial_to_cheapest=route.strategy == "auto" and route.trivial_to_cheapest,
                lengths=self.lengths,
            )
            if route.explore > 0.0 and decision.trivial is None:  # a rule's pick is never learned from
                decision = explore(decision, route.explore, self.rng)
            if route.strategy == "auto":
                decision = self._keep_turn(route, needs, names, decision)
            q, c = decision.quality, decision.cost
            scores = dict(zip(names, zip(q, c, strict=True), strict=True))
            if route.strategy == "auto":
                reason, predicted = self._auto_order(decision, names, ok)
            else:
                reason, predicted, steps = self._cascade_steps(route, decision, names, ok)
            knob = str(parsed)
        else:
            reason = self._order(route, ok, needs)
        if skipped:
            reason += f"; skipped {', '.join(sorted(set(skipped)))}"
        targets = [t for _, _, ts in ok for t in ts]
        candidate_of = self._candidate_of[route.name] if decision is not None else None
        return Plan(
            route.name,
            route.strategy,
            targets,
            reason,
            self._baselines[route.name],
            route.reliability,
            predicted,
            knob,
            scores,
            steps,
            route.cascade,
            route.hedge,
            decision,
            names if decision is not None else None,
            candidate_of,
        )

    def _keep_turn(
        self, route: RouteSettings, needs: Needs, names: list[str], decision: Decision
    ) -> Decision:
        """The candidate that answered the turn this request continues, when it can take it
        (`affinity.py`); else the decision as it is."""
        kept = self.affinity.recall(route.name, route.affinity, needs.body.get("messages") or [])
        if kept is None or kept not in names:
            return decision
        what = "conversation" if route.affinity == "conversation" else "tool loop"
        index = names.index(kept)
        return replace(decision, index=index, kept=what, explored_from=None, propensity=1.0, trivial=None)

    @staticmethod
    def _auto_order(
        decision: Decision, names: list[str], ok: list[tuple[int, str, list[Target]]]
    ) -> tuple[str, float]:
        """Chosen candidate first, then the fallback order: the knob's next choices (the next
        cheapest that meets its target, ...), so a provider's outage does not send every request
        to the dearest candidate; after a trivial prompt's cheapest, the next cheapest."""
        q, c = decision.quality, decision.cost
        if decision.trivial is not None:
            rest = sorted(range(len(q)), key=c.__getitem__)
        else:
            rest = preference(q, c, decision.knob, decision.target, decision.strong)
        rest.remove(decision.index)
        ok[:] = [ok[i] for i in [decision.index, *rest]]
        return decision.reason(names), decision.quality[decision.index]

    def _adjuster(self, route: str, names: list[str]) -> Adjuster | None:
        learner = self.learner
        if learner is None:
            return None
        return lambda cluster, raw: learner.adjust(route, cluster, names, raw)

    @staticmethod
    def _cascade_steps(
        route: RouteSettings, decision: Decision, names: list[str], ok: list[tuple[int, str, list[Target]]]
    ) -> tuple[str, float, list[list[Target]]]:
        """The ladder: the cheapest candidate that is plausible (predicted within the margin of the
        knob's target), then ever better candidates by cost, ending with the best. Learning picks
        the first rung; the rungs above it follow the predictor's own (raw) quality, so what the
        cascade escalates to does not drift with statistics that see a model only as a first rung."""
        assert route.cascade is not None
        q, c = decision.quality, decision.cost
        raw = decision.raw_quality or q
        target = decision.target if decision.target is not None else q[decision.index]
        plausible = [i for i in range(len(ok)) if q[i] >= target - route.cascade.plausible_margin]

        def above(i: int) -> list[int]:
            """The rungs above i: ever better (raw) candidates, cheapest first."""
            return sorted((j for j in range(len(ok)) if raw[j] > raw[i]), key=lambda j: (c[j], -raw[j]))

        def start_cost(i: int) -> float:
            # An agreement cascade asks the next rung on every request: starting at i costs both.
            partner = above(i)[:1] if route.cascade is not None and route.cascade.agreement else []
            return c[i] + sum(c[j] for j in partner)

        first = min(plausible, key=lambda i: (start_cost(i), -q[i])) if plausible else decision.index
        better = above(first)
        top = first_best(raw)
        if route.strategy == "speculative":
            ladder = [first, top] if top != first else [first]  # race the cheap one against the best
        else:
            ladder = [first, *better][: route.cascade.max_escalations + 1]
            if top not in ladder and len(ladder) > 1:
                ladder[-1] = top  # the last resort is the best predicted candidate
            # (max_escalations 0: the first rung alone, verified and logged, never escalated)
        joiner = " vs " if route.strategy == "speculative" else " -> "
        reason = f"{route.strategy} ({decision.knob}): " + joiner.join(
            f"{names[i]} {q[i]:.2f}" for i in ladder
        )
        steps = [ok[i][2] for i in ladder]
        ok[:] = [ok[i] for i in ladder]
        return reason, float(q[first]), steps

    def _order(self, route: RouteSettings, ok: list[tuple[int, str, list[Target]]], needs: Needs) -> str:
        if route.strategy == "cheapest":
            infos = [e[2][0].info for e in ok]
            priced = estimated_costs([i or _UNKNOWN for i in infos], needs, self.lengths)
            unpriced = float("inf")  # a model the catalog does not know comes last
            order = sorted(range(len(ok)), key=lambda k: priced[k] if infos[k] is not None else unpriced)
            ok[:] = [ok[k] for k in order]
            return f"cheapest candidate meeting the request's needs ({ok[0][1]})"
        if route.strategy == "weighted":
            weights = [route.weights[idx] for idx, _, _ in ok]
            total = sum(weights)
            if total > 0:
                pick = self.rng.choices(range(len(ok)), weights=weights)[0]
                ok.insert(0, ok.pop(pick))
                return f"weighted pick ({ok[0][1]}, weight {weights[pick] / total:.2f})"
            return f"weighted: all remaining weights 0, first candidate ({ok[0][1]})"
        return f"first candidate meeting the request's needs ({ok[0][1]})"
