"""Plans from routes and direct model names, with the hard constraints of the request."""

import random
import time
from typing import Any

import pytest

from satisfice import tokens
from satisfice.catalog import load_catalog
from satisfice.config import ConfigError, parse_settings
from satisfice.errors import ContextWindowExceeded, InvalidRequest, ModelNotFound
from satisfice.learn import Decision as LoggedDecision
from satisfice.learn import Learner, MemoryLearnStore
from satisfice.routing.constraints import needs_of
from satisfice.routing.directory import ModelDirectory
from satisfice.routing.planner import Planner

ENV = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}


def planner(routes: dict[str, Any], seed: int = 0) -> Planner:
    s = parse_settings({"routes": routes}, ENV)
    return Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(seed))


def cascade(candidates: list[str], knob: str = "quality=0.8", **settings: Any) -> dict[str, Any]:
    """A cascade route whose ladder is known in advance (router: prior ranks by the catalog's prior)."""
    return {
        "strategy": "cascade",
        "router": "prior",
        "knob": knob,
        "candidates": candidates,
        "cascade": settings,
    }


def ladder(plan: Any) -> list[str]:
    assert plan.steps is not None
    return [st[0].dep.model for st in plan.steps]


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": "user", "content": "hello"}], **kw}


def test_first_keeps_order_and_cheapest_sorts_by_price() -> None:
    p = planner(
        {
            "f": {"candidates": ["gpt-4o", "gpt-4o-mini"]},
            "c": {"strategy": "cheapest", "candidates": ["gpt-4o", "claude-3-5-haiku", "gpt-4o-mini"]},
        }
    )
    assert [t.dep.model for t in p.plan("f", needs_of(body())).targets] == ["gpt-4o", "gpt-4o-mini"]
    plan = p.plan("c", needs_of(body()))
    assert [t.dep.model for t in plan.targets] == ["gpt-4o-mini", "claude-3-5-haiku", "gpt-4o"]
    assert plan.baseline is not None and plan.baseline.id == "gpt-4o"


def test_a_knob_suffix_on_a_route_that_does_not_choose_is_still_checked() -> None:
    """`steady:garbage` on a `first` route was answered; a malformed knob is the client's bug."""
    p = planner({"steady": {"candidates": ["gpt-4o-mini"]}})
    with pytest.raises(InvalidRequest) as bad:
        p.plan("steady:garbage", needs_of(body()))
    assert bad.value.param == "model"
    assert [t.dep.model for t in p.plan("steady:0.9", needs_of(body())).targets] == ["gpt-4o-mini"]


def test_auto_is_never_passed_through_as_a_model_name() -> None:
    """With only a passthrough provider (a local server no catalog model is served by), the implied
    `auto` route is left out: "auto" then went to the server as a model name."""
    from satisfice.wiring import build_catalog, effective_settings

    raw = {
        "providers": [
            {"name": "local", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "passthrough": True}
        ]
    }
    s = parse_settings(raw, {})
    s = effective_settings(s, build_catalog(s))
    p = Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(0))
    for name in ("auto", "auto:0.9"):
        with pytest.raises(ModelNotFound, match="There is no route 'auto'"):
            p.plan(name, needs_of(body()))
    assert [t.dep.upstream_model for t in p.plan("my-local-model", needs_of(body())).targets] == [
        "my-local-model"
    ]


def test_an_embedding_model_is_never_a_chat_candidate() -> None:
    """`cheapest` picked text-embedding-3-small (its output price is 0) for chat requests."""
    p = planner({"c": {"strategy": "cheapest", "candidates": ["text-embedding-3-small", "gpt-4o-mini"]}})
    assert [t.dep.model for t in p.plan("c", needs_of(body())).targets] == ["gpt-4o-mini"]


def test_weighted_follows_the_weights() -> None:
    p = planner(
        {"w": {"strategy": "weighted", "candidates": ["gpt-4o", "gpt-4o-mini"], "weights": [1, 3]}}, seed=1
    )
    firsts = [p.plan("w", needs_of(body())).targets[0].dep.model for _ in range(2000)]
    share = firsts.count("gpt-4o-mini") / len(firsts)
    assert 0.70 < share < 0.80  # 3:1 weights, 2000 draws
    # The other candidate stays as the fallback.
    assert len(p.plan("w", needs_of(body())).targets) == 2


def test_constraints_skip_candidates_that_cannot_take_the_request() -> None:
    p = planner({"r": {"candidates": ["gpt-3.5-turbo-1106", "gpt-4o-mini"]}})
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
    plan = p.plan("r", needs_of(body(messages=[image])))
    assert [t.dep.model for t in plan.targets] == ["gpt-4o-mini"] and "no image input" in plan.reason
    long_prompt = body(messages=[{"role": "user", "content": "word " * 20000}])
    plan = p.plan("r", needs_of(long_prompt))  # ~20k tokens: beyond gpt-3.5-turbo-1106's 16k window
    assert [t.dep.model for t in plan.targets] == ["gpt-4o-mini"]


@pytest.mark.parametrize(
    "request_fields",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"functions": [{"name": "f", "parameters": {}}]},  # the legacy form
        {  # no tools offered now, but the conversation holds a call and its result
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ]
        },
    ],
)
def test_a_request_that_uses_tools_never_goes_to_a_model_without_them(request_fields: dict[str, Any]) -> None:
    p = planner({"r": {"candidates": ["claude-instant-1.2", "gpt-4o-mini"]}})
    plan = p.plan("r", needs_of(body(**request_fields)))
    assert [t.dep.model for t in plan.targets] == ["gpt-4o-mini"] and "no tool calling" in plan.reason


AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
FUNCTION_TURN = [
    {"role": "user", "content": "time?"},
    {"role": "assistant", "content": None, "function_call": {"name": "now", "arguments": "{}"}},
    {"role": "function", "name": "now", "content": "12:00"},
]


@pytest.mark.parametrize(
    ("request_fields", "feature", "param"),
    [
        ({"n": 2}, "n", "n"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs", "logprobs"),
        (
            {"functions": [{"name": "f", "parameters": {}}], "function_call": {"name": "f"}},
            "functions",
            "functions",
        ),
        ({"messages": FUNCTION_TURN}, "functions", "functions"),  # legacy calls in the conversation
        (
            {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
            "audio output",
            "modalities",
        ),
        ({"messages": [{"role": "user", "content": [AUDIO_PART]}]}, "audio input", "messages"),
        ({"web_search_options": {}}, "web_search_options", "web_search_options"),
    ],
)
def test_a_feature_the_dialect_cannot_carry_skips_its_models(
    request_fields: dict[str, Any], feature: str, param: str
) -> None:
    """Translated for Anthropic these would be refused or silently dropped: such models are skipped
    like a model without tools, and a route left with none names the field."""
    p = planner(
        {"r": {"candidates": ["claude-3-5-haiku", "gpt-4o"]}, "claude": {"candidates": ["claude-3-5-haiku"]}}
    )
    plan = p.plan("r", needs_of(body(**request_fields)))
    assert [t.dep.model for t in plan.targets] == ["gpt-4o"]
    assert f"anthropic API cannot carry {feature}" in plan.reason
    with pytest.raises(InvalidRequest, match=f"anthropic API cannot carry {feature}") as err:
        p.plan("claude", needs_of(body(**request_fields)))
    assert err.value.param == param
    with pytest.raises(
        InvalidRequest, match=f"'claude-3-5-haiku': the anthropic API cannot carry {feature}"
    ) as err:
        p.plan("claude-3-5-haiku", needs_of(body(**request_fields)))  # asked for by name
    assert err.value.param == param


def test_gemini_carries_n_and_logprobs_but_not_legacy_functions() -> None:
    s = parse_settings(
        {"routes": {"g": {"candidates": ["gemini-2.0-flash", "gpt-4o"]}}}, {**ENV, "GEMINI_API_KEY": "k"}
    )
    p = Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(0))
    both = [t.dep.model for t in p.plan("g", needs_of(body(n=2, logprobs=True))).targets]
    assert both == ["gemini-2.0-flash", "gpt-4o"]
    legacy = p.plan("g", needs_of(body(functions=[{"name": "f", "parameters": {}}])))
    assert [t.dep.model for t in legacy.targets] == ["gpt-4o"]


def test_an_output_limit_no_candidate_allows_names_the_field() -> None:
    p = planner({"r": {"candidates": ["gpt-4o-mini", "gpt-4o"]}})
    for field in ("max_tokens", "max_completion_tokens"):
        with pytest.raises(InvalidRequest, match="max output") as err:
            p.plan("r", needs_of(body(**{field: 1_000_000})))
        assert err.value.param == field


def test_an_unknown_baseline_is_a_config_error() -> None:
    """A typo would otherwise zero every saving the ledger reports, silently."""
    with pytest.raises(ConfigError, match=r"routes\.r\.baseline: 'gpt-4o-typo' is not a catalog model"):
        planner({"r": {"candidates": ["gpt-4o-mini", "gpt-4o"], "baseline": "gpt-4o-typo"}})
    assert planner({"r": {"candidates": ["gpt-4o-mini"], "baseline": "gpt-4o"}})  # not a candidate: fine


def test_nothing_fits_is_a_clear_error() -> None:
    p = planner({"small": {"candidates": ["gpt-3.5-turbo-1106"]}})
    with pytest.raises(ContextWindowExceeded):
        p.plan("small", needs_of(body(messages=[{"role": "user", "content": "word " * 20000}])))
    with pytest.raises(InvalidRequest, match="no image input"):
        p.plan(
            "small",
            needs_of(
                body(
                    messages=[
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": "https://x"}}],
                        }
                    ]
                )
            ),
        )
    with pytest.raises(ContextWindowExceeded, match="maximum context length is 16385"):
        p.plan("gpt-3.5-turbo-1106", needs_of(body(messages=[{"role": "user", "content": "word " * 20000}])))


def test_direct_names_resolve_by_id_alias_and_provider() -> None:
    p = planner({})
    assert p.plan("anthropic/claude-3-5-haiku", needs_of(body())).targets[0].dep.provider == "anthropic"
    assert (
        p.plan("claude-3-5-haiku", needs_of(body()))
        .targets[0]
        .dep.upstream_model.startswith("claude-3-5-haiku")
    )
    with pytest.raises(ModelNotFound, match="no configured provider"):
        p.plan("gemini-2.0-flash", needs_of(body()))
    with pytest.raises(ModelNotFound, match="does not exist"):
        p.plan("totally-unknown", needs_of(body()))


def test_one_word_answers_are_priced_as_short_outputs() -> None:
    from satisfice.routing.constraints import DEFAULT_EXPECTED_OUTPUT, SHORT_EXPECTED_OUTPUT

    mc = 'Which?\nA) x\nB) y\nPrint only a single choice from "A" or "B" without explanation.\nAnswer:'
    assert needs_of(body(messages=[{"role": "user", "content": mc}])).expected_output == SHORT_EXPECTED_OUTPUT
    assert (
        needs_of(body(messages=[{"role": "user", "content": "Answer yes or no: is it?"}])).expected_output
        == 8
    )
    essay = "Write an essay about the sea."
    assert (
        needs_of(body(messages=[{"role": "user", "content": essay}])).expected_output
        == DEFAULT_EXPECTED_OUTPUT
    )
    # max_tokens caps the expected answer; it is not the expectation itself.
    assert needs_of(body(messages=[{"role": "user", "content": mc}], max_tokens=50)).expected_output == 8
    assert needs_of(body(messages=[{"role": "user", "content": essay}], max_tokens=3)).expected_output == 3


def test_a_cascade_keeps_an_escalation_when_learning_rates_the_cheap_model_best() -> None:
    """Verified passes on easy prompts lift the cheap model; the strong one is only tried where the
    cheap one failed, so its record looks worse. Once promoted, the cheap model is predicted best,
    and the ladder must still escalate a failed answer (it used to be the cheap model alone)."""
    s = parse_settings({"routes": {"c": cascade(["gpt-4o-mini", "gpt-4o"])}}, ENV)
    learner = Learner(MemoryLearnStore())
    p = Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, learner=learner)
    assert ladder(p.plan("c", needs_of(body()))) == ["gpt-4o-mini", "gpt-4o"]
    names = ["gpt-4o-mini", "gpt-4o"]
    for i in range(30):
        learner.record_decision(
            LoggedDecision(f"r{i}", time.time(), "c", 0, names[0], 0.7, names, [0.7, 0.85], "quality=0.8")
        )
        learner.observe(f"r{i}", 1.0, "verify", model=names[0])
        learner.observe(f"r{i}", 0.0, "verify", model=names[1])
    assert learner.run_gate().promoted
    q = learner.adjust("c", 0, names, [0.7, 0.85])
    assert q[0] > q[1]  # the cheap model is now predicted best
    assert ladder(p.plan("c", needs_of(body()))) == ["gpt-4o-mini", "gpt-4o"]


def test_a_cascade_starting_on_the_best_model_has_no_rung_below_it() -> None:
    """A strict knob starts the cascade on the best candidate: there is nothing better to escalate
    to, and an agreement check must not ask a weaker model whose answer could replace it."""
    s = parse_settings(
        {"routes": {"c": cascade(["gpt-4o-mini", "gpt-4o"], "quality=0.99", agreement=True)}}, ENV
    )
    p = Planner(
        ModelDirectory(s, load_catalog(), s.providers), s.reliability, learner=Learner(MemoryLearnStore())
    )
    assert ladder(p.plan("c", needs_of(body()))) == ["gpt-4o"]


def test_an_agreement_cascade_starts_where_the_pair_it_asks_is_cheapest() -> None:
    """An agreement cascade asks the next rung on every request, so starting on a model costs that
    model and its partner. The cheapest plausible model alone (x, $1) would ask t ($20) each time;
    y ($2) asks x: $3 in all."""

    def model(name: str, price: float, prior: float) -> dict[str, Any]:
        return {
            "id": name, "provider": "openai", "input_per_mtok": price, "output_per_mtok": price,
            "context_window": 100_000, "quality_prior": prior,
        }  # fmt: skip

    def first_rungs(agreement: bool) -> list[str]:
        route = cascade(["x", "y", "t"], "quality=0.75", agreement=agreement)
        models = [model("x", 1, 0.80), model("y", 2, 0.78), model("t", 20, 0.90)]
        s = parse_settings({"models": models, "routes": {"c": route}}, ENV)
        p = Planner(ModelDirectory(s, load_catalog().with_overrides(s.models), s.providers), s.reliability)
        return ladder(p.plan("c", needs_of(body())))

    assert first_rungs(agreement=False) == ["x", "t"]  # verified alone: the cheapest plausible first
    assert first_rungs(agreement=True) == ["y", "x", "t"]  # y's partner is x; x's would be t


@pytest.mark.parametrize(("max_escalations", "rungs"), [(0, ["gpt-4o-mini"]), (1, ["gpt-4o-mini", "gpt-4o"])])
def test_max_escalations_caps_the_ladder_without_skipping_its_first_rung(
    max_escalations: int, rungs: list[str]
) -> None:
    """With no escalation allowed the cascade answers from its first rung (verified and logged);
    it used to replace that rung with the best model, sending every request there."""
    route = cascade(
        ["gpt-4o-mini", "claude-3-5-haiku", "gpt-4o"], "quality=0.5", max_escalations=max_escalations
    )
    assert ladder(planner({"c": route}).plan("c", needs_of(body()))) == rungs


def test_a_huge_prompt_can_be_counted_in_every_encoding_ahead_of_planning() -> None:
    """The gateway counts a huge prompt in a worker thread first (`Needs.count_every_encoding`), so
    the planner's context checks find the counts made and do not stall the event loop."""
    needs = needs_of(body(messages=[{"role": "user", "content": "word " * 30000}]))
    needs.count_every_encoding()
    assert needs._exact == {
        "cl100k_base": tokens.count_prompt(needs.body, "gpt-4-0613"),
        "o200k_base": tokens.count_prompt(needs.body, "gpt-4o"),
    }
    p = planner({"small": {"candidates": ["gpt-3.5-turbo-1106"]}})
    with pytest.raises(ContextWindowExceeded):  # decided from the counts already made
        p.plan("small", needs)


def test_plain_requests_skip_the_per_candidate_checks_and_plan_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request that asks for nothing but room is checked against the route's smallest window and
    output cap at once (`_ChatCandidates`); every plan must equal the per-candidate checks' plan."""
    from satisfice.routing import planner as planner_module

    cands = [
        "text-embedding-3-small",
        "gpt-4",
        "gpt-4o-mini",
        "claude-3-5-haiku",
        "claude-opus-4-6",
        "o3-mini",
    ]
    routes = {
        "a": {"candidates": cands},
        "c": {"strategy": "cheapest", "candidates": cands},
        "r": {"strategy": "auto", "router": "prior", "knob": "quality=0.8", "candidates": cands},
    }
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    bodies = [
        body(),
        body(max_tokens=9000),  # above gpt-4's output cap: gpt-4 is skipped
        {"model": "x", "messages": [{"role": "user", "content": "word " * 9000}]},  # beyond gpt-4's window
        body(tools=[tool]),
        body(response_format=schema),
        {
            "model": "x",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}],
        },
        body(logprobs=True),
    ]

    def plans(p: Planner) -> list[Any]:
        out: list[Any] = []
        for b in bodies:
            for route in routes:
                try:
                    plan = p.plan(route, needs_of(b))
                except InvalidRequest as e:
                    out.append(("error", e.message))
                    continue
                out.append(([(t.dep.provider, t.dep.model) for t in plan.targets], plan.reason, plan.scores))
        return out

    fast_fits: list[bool] = []
    fit = planner_module._ChatCandidates.fit

    def counting_fit(self: Any, needs: Any) -> bool:
        fast_fits.append(fit(self, needs))
        return fast_fits[-1]

    monkeypatch.setattr(planner_module._ChatCandidates, "fit", counting_fit)
    fast = plans(planner(routes))
    assert fast_fits.count(True) == 3 and fast_fits.count(False) == 6  # plain: 3 bodies x 3 routes
    monkeypatch.setattr(planner_module._ChatCandidates, "fit", lambda self, needs: False)
    assert fast == plans(planner(routes))
    assert any("text-embedding-3-small: an embedding model" in str(p) for p in fast)
