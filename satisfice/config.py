"""One config file (YAML or JSON) → validated, frozen settings. Errors name the bad key.

Secrets are written as environment references (`${OPENAI_API_KEY}` or `env:OPENAI_API_KEY`) and
resolved here; the resolved values live only in `ProviderSettings.api_key` (never printed).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from satisfice.cache.settings import CachePolicy, CacheStoreSettings, policy_from_config, store_from_config
from satisfice.errors import GatewayError
from satisfice.keys import KeySettings, keys_from_config
from satisfice.providers.presets import PRESETS, Preset
from satisfice.ratelimit.settings import RateLimitSettings, rate_limits_from_config

STRATEGIES = ("first", "cheapest", "weighted", "auto", "cascade", "speculative")
ROUTERS = ("learned", "heuristic", "random", "prior")
IMPLIED_ROUTE = "auto"  # the route a config gets when it names none (wiring.effective_settings)
AFFINITY_MODES = ("none", "tools", "conversation")  # routes.*.affinity (routing/affinity.py)
CHOOSING = ("auto", "cascade", "speculative")  # strategies that choose by predicted quality (a knob)
DEFAULT_KNOB = "loss=0.05"
DIALECTS = ("openai", "azure", "anthropic", "gemini", "simulated", "replay")
LOCAL_DIALECTS = ("simulated", "replay")  # answered in-process, no base URL
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^env:([A-Za-z_][A-Za-z0-9_]*)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class ConfigError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Reliability:
    timeout_s: float = 60.0  # one attempt, until the whole answer (or a stream's first token)
    deadline_s: float = 300.0  # the whole request, all attempts and waits included
    retries: int = 1  # extra attempts on the same deployment before failing over
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_wait_s: float = 5.0  # a longer Retry-After moves to the next candidate instead
    breaker_failures: int = 5  # failures within the window that open a deployment's breaker
    breaker_window_s: float = 30.0
    breaker_cooldown_s: float = 30.0  # open this long, then one half-open probe
    stream_idle_timeout_s: float = 120.0  # gap allowed between two complete stream events
    # Server-wide limits of what one upstream answer may hold (the one HTTP runner's): a larger one
    # is a bad_response, failed over. A stream's event: OpenAI's largest are a tool call's whole
    # arguments or a logprobs chunk (kilobytes); 8 MiB leaves room for a base64 image in an event.
    max_event_bytes: int = 8 * 1024 * 1024
    # A non-streaming body, decompressed: the largest legit ones are embeddings (2048 inputs of 3072
    # dimensions are 32 MiB in base64, several times that as JSON floats).
    max_response_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    dialect: str
    base_url: str = field(repr=False)  # may hold credentials: printable_url shows it
    catalog_provider: str  # which catalog entries this provider serves
    api_key: str | None = field(default=None, repr=False)
    key_source: str = ""  # where the key came from (an env var name), safe to print
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold secrets
    unset_headers: tuple[str, ...] = ()  # headers whose ${VAR} is unset: not sent (`check` warns)
    options: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()  # explicit model list ("" = every catalog model of catalog_provider)
    passthrough: bool = False  # forward model names the catalog does not know
    model_map: tuple[tuple[str, str], ...] = ()  # public id -> upstream id (Azure deployments)


@dataclass(frozen=True, slots=True)
class CascadeSettings:
    """Strategy cascade: try a cheap plausible candidate, verify its answer, escalate on failure."""

    max_escalations: int = 2
    escalate_on_unsure: bool = False  # unsure verdicts keep the cheap answer unless this is set
    plausible_margin: float = 0.1  # the first try may be predicted this far below the knob's target
    escalation_budget_pct: float = 100.0  # failed attempts' spend may reach this % of the route's spend
    hold_tokens: int = 48  # streams: tokens held back and checked before any byte is released
    judge_model: str | None = None  # a cheap model asked when the verifiers are unsure (verify.judge)
    # Verify each rung by asking the next one too: the cheaper answer stands when both agree
    # (short answers: numbers, choices); on disagreement the next rung's answer is already there.
    agreement: bool = False
    # strategy speculative: the cheap answer must arrive this soon after both requests started
    speculative_deadline_ms: float = 200.0
    verify: Any = None  # satisfice.verify.VerifySettings (kept Any: config must not import verify eagerly)


@dataclass(frozen=True, slots=True)
class HedgeSettings:
    """Start the next candidate when the primary is slower than this percentile of its history."""

    percentile: float = 90.0
    min_samples: int = 20  # no hedging before the primary has this much history
    budget_pct: float = 10.0  # hedge spend may reach this % of the route's spend


@dataclass(frozen=True, slots=True)
class RouteSettings:
    name: str
    strategy: str
    candidates: tuple[str, ...]
    weights: tuple[float, ...] = ()
    baseline: str | None = None
    reliability: Reliability = Reliability()
    knob: str = DEFAULT_KNOB  # strategy auto: the default cost/quality knob (see routing/knob.py)
    router: str = "learned"  # strategy auto: which quality predictor
    cascade: CascadeSettings | None = None  # strategy cascade only
    hedge: HedgeSettings | None = None  # latency hedge (strategies other than cascade/speculative)
    cache: CachePolicy | None = None  # None: the top-level cache policy
    trim: Any = None  # satisfice.trim.TrimSettings (opt-in prompt trimming); None: off
    explore: float = 0.0  # strategy auto: share of decisions that try a neighbour (routing/explore.py)
    # strategy auto: a greeting, thanks or a sum of small numbers goes to the cheapest candidate
    # (routing/trivial.py: a hand-set rule, since the router's data has no such prompts)
    trivial_to_cheapest: bool = True
    # strategy auto: which follow-up turns go to the candidate that answered the turn before
    # (routing/affinity.py): "tools" (a tool loop's next step), "conversation" (any), "none"
    affinity: str = "tools"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout_s: float = 30.0  # a request body must arrive whole within this (else 408)
    upstream_connections: int = 1000  # upstream calls in flight at once, per process; more wait for one
    ledger_path: str = "satisfice-ledger.db"
    ledger_enabled: bool = True
    ledger_retention_days: float = 0.0  # rows older than this are deleted (0: kept for good)
    providers: tuple[ProviderSettings, ...] = ()
    routes: tuple[RouteSettings, ...] = ()
    models: tuple[Mapping[str, Any], ...] = ()  # catalog overrides / additions
    reliability: Reliability = Reliability()
    embedding_model: str | None = None
    learn_path: str = "satisfice-learn.db"  # online learning statistics (SQLite)
    learn_enabled: bool = True
    learn_half_life_s: float = 7 * 86400.0
    learn_gate_interval_s: float = 1800.0  # how often the promotion gate checks new statistics
    learn_feedback_window_s: float = 7 * 86400.0  # a decision no outcome reached by then is forgotten
    simulated: bool = False  # no provider configured: serve the built-in simulated provider
    cache_store: CacheStoreSettings = field(default_factory=CacheStoreSettings)
    cache_policy: CachePolicy = field(default_factory=CachePolicy)  # the default; routes may override it
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    keys: tuple[KeySettings, ...] = ()  # per-key settings (satisfice/keys.py)
    source: str = "defaults"


# --- small typed readers that name the key on error ---------------------------------------------


_EXPONENT = re.compile(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+")  # "1e5": YAML 1.1 (PyYAML) reads it as a string


def _get(obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in obj or obj[key] is None:
        return default
    val = obj[key]
    if kind is float and isinstance(val, str) and _EXPONENT.fullmatch(val.strip()):
        val = float(val)
    if kind is float and isinstance(val, int) and not isinstance(val, bool):
        return float(val)
    if kind is float and isinstance(val, float) and not math.isfinite(val):
        raise ConfigError(f"{where}.{key}", f"expected a finite number, got {val}")
    if isinstance(val, bool) and kind in (int, float):
        raise ConfigError(f"{where}.{key}", f"expected a number, got {val!r}")
    if not isinstance(val, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key}", f"expected {names}, got {type(val).__name__} {val!r}")
    return val


def _path(val: str, key: str) -> str:
    if not val.strip():
        raise ConfigError(key, "expected a file path (an empty one would keep the data in a temporary file)")
    return val


def _positive(val: float, key: str, *, allow_zero: bool = False) -> float:
    if val < 0 or (val == 0 and not allow_zero):
        raise ConfigError(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {val}")
    return val


def _check_keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def config_section(obj: Any, where: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    """A config section as a mapping (None: empty) with only `allowed` keys; ConfigError naming
    the key otherwise. Sections parsed outside this module (verify, trim, cache) use it too."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(obj).__name__}")
    _check_keys(obj, set(allowed), where)
    return obj


def resolve_env(value: str, key: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """`${VAR}` / `env:VAR` → (value or None when unset, "VAR"); a literal → (literal, "config")."""
    m = _ENV_REF.match(value.strip())
    if not m:
        return value, "config"
    var = m.group(1) or m.group(2)
    return env.get(var) or None, var


# Limits of the process's one HTTP runner, so not a route's to change.
_SERVER_WIDE = ("max_event_bytes", "max_response_bytes")


def _reliability(obj: Any, where: str, base: Reliability, *, route: bool = False) -> Reliability:
    if obj is None:
        return base
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(obj).__name__}")
    fields = {f: getattr(base, f) for f in Reliability.__dataclass_fields__}
    _check_keys(obj, set(fields), where)
    for name in _SERVER_WIDE if route else ():
        if name in obj:
            raise ConfigError(f"{where}.{name}", "server-wide: set it in the top-level reliability block")
    for name, current in fields.items():
        kind: type = int if isinstance(current, int) else float
        val = _get(obj, name, where, kind, current)
        fields[name] = _positive(val, f"{where}.{name}", allow_zero=name in ("retries", "backoff_base_s"))
    if fields["breaker_failures"] < 1:
        raise ConfigError(f"{where}.breaker_failures", "must be >= 1")
    return Reliability(**fields)


def printable_url(url: str) -> str:
    """A URL fit to print: credentials in it (user:password@, a query string) are masked."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def _preset_endpoint(preset: Preset, base_url: str | None, env: Mapping[str, str]) -> bool:
    """Is `base_url` the preset's own endpoint (its default, or its base-URL variable's value)?
    Only there does the preset's key variable apply: OPENAI_API_KEY is not for a local vLLM. A
    preset with no public endpoint (azure, vllm) and no endpoint variable set names a key meant for
    whatever endpoint the config gives it."""
    endpoint = env.get(preset.base_url_env) if preset.base_url_env else None
    if preset.base_url is None and not endpoint:
        return True
    own = {u.rstrip("/") for u in (preset.base_url, endpoint) if u}
    return (base_url or "").rstrip("/") in own


def _provider(obj: Any, where: str, env: Mapping[str, str]) -> ProviderSettings:
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(obj).__name__}")
    allowed = {
        "name",
        "type",
        "base_url",
        "api_key",
        "headers",
        "api_version",
        "models",
        "passthrough",
        "model_map",
        "catalog",
        "dataset",
    }
    _check_keys(obj, allowed, where)
    name = _get(obj, "name", where, str, None)
    if not name or not _NAME.match(name):
        raise ConfigError(f"{where}.name", "required: letters, digits, '_', '.', ':' or '-'")
    ptype = _get(obj, "type", where, str, name if name in PRESETS else None)
    if ptype is None:
        raise ConfigError(
            f"{where}.type",
            f"required for a provider not named after a preset ({', '.join(PRESETS)}), "
            "e.g. type: openai for any OpenAI-compatible endpoint",
        )
    preset = PRESETS.get(ptype)
    if preset is None and ptype not in DIALECTS:
        raise ConfigError(
            f"{where}.type", f"unknown provider type {ptype!r} (known: {', '.join([*PRESETS, 'simulated'])})"
        )
    dialect = preset.dialect if preset else ptype
    written = base_url = _get(obj, "base_url", where, str, None)
    if base_url is not None:
        base_url, _ = resolve_env(base_url, f"{where}.base_url", env)
    if base_url is None and preset is not None:
        base_url = (env.get(preset.base_url_env) if preset.base_url_env else None) or preset.base_url
    if base_url is None and dialect not in LOCAL_DIALECTS:
        raise ConfigError(f"{where}.base_url", f"required for provider type {ptype!r}")
    if base_url and not re.match(r"^https?://", base_url):
        shown = written if written is not None and written != base_url else printable_url(base_url)
        raise ConfigError(f"{where}.base_url", f"must start with http:// or https://, got {shown!r}")
    raw_key = _get(obj, "api_key", where, str, None)
    if raw_key is not None:
        api_key, source = resolve_env(raw_key, f"{where}.api_key", env)
    elif preset is not None and preset.key_env and _preset_endpoint(preset, base_url, env):
        api_key, source = env.get(preset.key_env) or None, preset.key_env
    else:  # a key is never sent to an endpoint it was not issued for (a local server, a proxy)
        api_key, source = None, ""
    headers = _get(obj, "headers", where, Mapping, {})
    for k, v in headers.items():
        if not isinstance(v, str):
            raise ConfigError(f"{where}.headers.{k}", "expected a string")
    resolved_headers, unset_headers = [], []
    for k, v in headers.items():
        hv, _ = resolve_env(v, f"{where}.headers.{k}", env)
        if hv is None:  # `${VAR}` with VAR unset: not sent (an empty header can be refused)
            unset_headers.append(str(k).lower())
        else:
            resolved_headers.append((str(k).lower(), hv))
    options = []
    if "api_version" in obj:
        options.append(("api_version", _get(obj, "api_version", where, str, "")))
    if dialect == "replay":
        dataset = _get(obj, "dataset", where, str, None)
        if not dataset:
            raise ConfigError(
                f"{where}.dataset", "required for type replay: a dataset name or canonical JSONL path"
            )
        options.append(("dataset", dataset))
    elif "dataset" in obj:
        raise ConfigError(f"{where}.dataset", "only used by type: replay")
    models = _get(obj, "models", where, list, [])
    for i, m in enumerate(models):
        if not isinstance(m, str) or not m:
            raise ConfigError(f"{where}.models[{i}]", "expected a model id string")
    model_map = _get(obj, "model_map", where, Mapping, {})
    for k, v in model_map.items():
        if not isinstance(v, str):
            raise ConfigError(f"{where}.model_map.{k}", "expected the upstream model id as a string")
    # A provider serves the catalog entries filed under its own name unless told otherwise
    # (e.g. a self-hosted proxy of OpenAI: `catalog: openai`).
    catalog = _get(obj, "catalog", where, str, "*" if dialect in LOCAL_DIALECTS else name)
    return ProviderSettings(
        name=name,
        dialect=dialect,
        base_url=(base_url or "").rstrip("/"),
        catalog_provider=catalog,
        api_key=api_key,
        key_source=source,
        headers=tuple(resolved_headers),
        unset_headers=tuple(unset_headers),
        options=tuple(options),
        models=tuple(models),
        passthrough=_get(obj, "passthrough", where, bool, False),
        model_map=tuple((str(k), v) for k, v in model_map.items()),
    )


def _route(name: str, obj: Any, where: str, base: Reliability, cache: CachePolicy) -> RouteSettings:
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(obj).__name__}")
    allowed = {
        "strategy",
        "candidates",
        "weights",
        "baseline",
        "reliability",
        "knob",
        "router",
        "cascade",
        "hedge",
        "cache",
        "trim",
        "explore",
        "trivial_to_cheapest",
        "affinity",
    }
    _check_keys(obj, allowed, where)
    if not _NAME.match(name) or "/" in name or ":" in name:
        raise ConfigError(where, "route names use letters, digits, '_', '.' or '-' (':' starts a knob)")
    strategy = _get(obj, "strategy", where, str, "first")
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"{where}.strategy", f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})"
        )
    candidates = _get(obj, "candidates", where, list, None)
    if candidates is None and strategy in CHOOSING:
        candidates = []  # every servable chat model, filled in by wiring.effective_settings
    elif not candidates:
        raise ConfigError(
            f"{where}.candidates",
            "required: a non-empty list of models (strategies auto, cascade and speculative may leave "
            "it out to choose among every servable chat model)",
        )
    for i, c in enumerate(candidates):
        if not isinstance(c, str) or not c:
            raise ConfigError(f"{where}.candidates[{i}]", "expected a model id string")
    weights = _get(obj, "weights", where, list, [])
    if strategy == "weighted":
        if len(weights) != len(candidates):
            raise ConfigError(
                f"{where}.weights", f"need one weight per candidate ({len(candidates)}), got {len(weights)}"
            )
        for i, w in enumerate(weights):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                raise ConfigError(f"{where}.weights[{i}]", f"expected a number >= 0, got {w!r}")
        if sum(weights) <= 0:
            raise ConfigError(f"{where}.weights", "at least one weight must be > 0")
    elif weights:
        raise ConfigError(f"{where}.weights", "only used by strategy: weighted")
    baseline = _get(obj, "baseline", where, str, None)
    knob = str(_get(obj, "knob", where, (str, int, float), DEFAULT_KNOB))
    try:
        from satisfice.routing.knob import parse_knob

        parse_knob(knob)
    except GatewayError as e:
        raise ConfigError(f"{where}.knob", e.message) from None
    explore = _get(obj, "explore", where, float, 0.0)
    if not 0.0 <= explore <= 0.5:
        raise ConfigError(f"{where}.explore", f"must be between 0 and 0.5 (a share of requests): {explore}")
    if explore and strategy != "auto":
        raise ConfigError(
            f"{where}.explore",
            "only strategy auto explores (a cascade already tries cheaper candidates and learns from them)",
        )
    trivial = _get(obj, "trivial_to_cheapest", where, bool, True)
    if "trivial_to_cheapest" in obj and strategy != "auto":
        raise ConfigError(f"{where}.trivial_to_cheapest", f"only strategy auto reads it, not {strategy}")
    affinity = _get(obj, "affinity", where, str, "tools")
    if affinity not in AFFINITY_MODES:
        raise ConfigError(f"{where}.affinity", f"one of {', '.join(AFFINITY_MODES)}, not {affinity!r}")
    if "affinity" in obj and strategy != "auto":
        raise ConfigError(f"{where}.affinity", f"only strategy auto reads it, not {strategy}")
    if "knob" in obj and strategy not in CHOOSING:
        raise ConfigError(
            f"{where}.knob", f"strategy {strategy} has no knob: auto, cascade and speculative do"
        )
    if "cascade" in obj and strategy not in ("cascade", "speculative"):
        raise ConfigError(
            f"{where}.cascade", f"only strategies cascade and speculative read it, not {strategy}"
        )
    router = _get(obj, "router", where, str, "learned")
    if router not in ROUTERS and not router.endswith(".npz"):
        raise ConfigError(
            f"{where}.router",
            f"unknown router {router!r} (known: {', '.join(ROUTERS)}, or a trained .npz artifact)",
        )
    return RouteSettings(
        name=name,
        strategy=strategy,
        candidates=tuple(candidates),
        weights=tuple(float(w) for w in weights),
        baseline=baseline,
        reliability=_reliability(obj.get("reliability"), f"{where}.reliability", base, route=True),
        knob=knob,
        router=router,
        cascade=(
            _cascade(obj.get("cascade"), f"{where}.cascade")
            if strategy in ("cascade", "speculative")
            else None
        ),
        hedge=_hedge(obj.get("hedge"), f"{where}.hedge", strategy),
        cache=None if obj.get("cache") is None else policy_from_config(obj["cache"], f"{where}.cache", cache),
        trim=_trim(obj.get("trim"), f"{where}.trim"),
        explore=explore,
        trivial_to_cheapest=trivial,
        affinity=affinity,
    )


def _trim(obj: Any, where: str) -> Any:
    if obj is None:
        return None
    from satisfice.trim import TrimSettings

    settings = TrimSettings.from_config(obj, where)
    return settings if settings.enabled else None


def _hedge(obj: Any, where: str, strategy: str) -> HedgeSettings | None:
    if obj is None or obj is False:
        return None
    if strategy in ("cascade", "speculative"):
        raise ConfigError(where, f"a latency hedge does not combine with strategy {strategy}")
    if obj is True:
        return HedgeSettings()
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping or true, got {type(obj).__name__}")
    _check_keys(obj, set(HedgeSettings.__dataclass_fields__), where)
    base = HedgeSettings()
    pct = _get(obj, "percentile", where, float, base.percentile)
    if not 0 < pct < 100:
        raise ConfigError(f"{where}.percentile", f"must be between 0 and 100, got {pct}")
    samples = _get(obj, "min_samples", where, int, base.min_samples)
    if samples < 1:
        raise ConfigError(f"{where}.min_samples", f"must be >= 1, got {samples}")
    budget = _positive(
        _get(obj, "budget_pct", where, float, base.budget_pct), f"{where}.budget_pct", allow_zero=True
    )
    return HedgeSettings(pct, samples, budget)


def _cascade(obj: Any, where: str) -> CascadeSettings:
    from satisfice.verify import VerifySettings

    if obj is None:
        return CascadeSettings(verify=VerifySettings())
    if not isinstance(obj, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(obj).__name__}")
    base = CascadeSettings()
    _check_keys(obj, set(CascadeSettings.__dataclass_fields__), where)
    max_esc = _get(obj, "max_escalations", where, int, base.max_escalations)
    if max_esc < 0:
        raise ConfigError(f"{where}.max_escalations", f"must be >= 0, got {max_esc}")
    hold = _get(obj, "hold_tokens", where, int, base.hold_tokens)
    if hold < 0:
        raise ConfigError(f"{where}.hold_tokens", f"must be >= 0, got {hold}")
    margin = _positive(
        _get(obj, "plausible_margin", where, float, base.plausible_margin),
        f"{where}.plausible_margin",
        allow_zero=True,
    )
    budget = _positive(
        _get(obj, "escalation_budget_pct", where, float, base.escalation_budget_pct),
        f"{where}.escalation_budget_pct",
        allow_zero=True,
    )
    spec_ms = _positive(
        _get(obj, "speculative_deadline_ms", where, float, base.speculative_deadline_ms),
        f"{where}.speculative_deadline_ms",
    )
    verify = _agreement_verify(
        VerifySettings.from_config(obj.get("verify"), f"{where}.verify"),
        _get(obj, "agreement", where, bool, False),
    )
    judge_model = _get(obj, "judge_model", where, str, None)
    if verify.judge and not judge_model:
        raise ConfigError(f"{where}.judge_model", "verify.judge is on: name the cheap model that judges")
    return CascadeSettings(
        max_escalations=max_esc,
        escalate_on_unsure=_get(obj, "escalate_on_unsure", where, bool, False),
        agreement=_get(obj, "agreement", where, bool, False),
        plausible_margin=margin,
        escalation_budget_pct=budget,
        hold_tokens=hold,
        judge_model=judge_model,
        speculative_deadline_ms=spec_ms,
        verify=verify,
    )


def _agreement_verify(settings: Any, agreement: bool) -> Any:
    """An agreement cascade compares two answers: the self-consistency verifier must run."""
    import dataclasses

    return dataclasses.replace(settings, self_consistency=True) if agreement else settings


def parse_settings(doc: Any, env: Mapping[str, str] | None = None, *, source: str = "config") -> Settings:
    env = os.environ if env is None else env
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError("(top level)", f"expected a mapping, got {type(doc).__name__}")
    sections = {
        "server",
        "ledger",
        "providers",
        "routes",
        "models",
        "reliability",
        "embeddings",
        "learning",
        "cache",
        "rate_limits",
        "keys",
    }
    _check_keys(doc, sections, "config")
    learning = _get(doc, "learning", "config", Mapping, {})
    _check_keys(
        learning, {"path", "enabled", "half_life_s", "gate_interval_s", "feedback_window_s"}, "learning"
    )
    server = _get(doc, "server", "config", Mapping, {})
    server_keys = {"host", "port", "max_body_bytes", "body_timeout_s", "upstream_connections"}
    _check_keys(server, server_keys, "server")
    port = _get(server, "port", "server", int, 8080)
    if not 0 <= port <= 65535:
        raise ConfigError("server.port", f"must be 0..65535, got {port}")
    max_body = int(
        _positive(_get(server, "max_body_bytes", "server", int, 10 * 1024 * 1024), "server.max_body_bytes")
    )
    body_timeout = _positive(_get(server, "body_timeout_s", "server", float, 30.0), "server.body_timeout_s")
    connections = int(
        _positive(_get(server, "upstream_connections", "server", int, 1000), "server.upstream_connections")
    )
    ledger = _get(doc, "ledger", "config", Mapping, {})
    _check_keys(ledger, {"path", "enabled", "retention_days"}, "ledger")
    reliability = _reliability(doc.get("reliability"), "reliability", Reliability())
    providers_raw = _get(doc, "providers", "config", list, None)
    providers = (
        tuple(_provider(p, f"providers[{i}]", env) for i, p in enumerate(providers_raw))
        if providers_raw is not None
        else providers_from_env(env)
    )
    names = [p.name for p in providers]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"providers[{i}].name", f"duplicate provider name {n!r}")
    routes_raw = _get(doc, "routes", "config", Mapping, {})
    cache_raw = doc.get("cache")
    cache_policy = policy_from_config(cache_raw, "cache", CachePolicy())
    cache_store = store_from_config(cache_raw, env.get("SATISFICE_CACHE", "satisfice-cache.db"))
    routes = tuple(_route(str(n), r, f"routes.{n}", reliability, cache_policy) for n, r in routes_raw.items())
    models = _get(doc, "models", "config", list, [])
    for i, m in enumerate(models):
        if not isinstance(m, Mapping):
            raise ConfigError(f"models[{i}]", "expected a mapping (a catalog entry)")
    embeddings = _get(doc, "embeddings", "config", Mapping, {})
    _check_keys(embeddings, {"model"}, "embeddings")
    real = [p for p in providers if p.dialect != "simulated"]  # a replay provider counts as real
    return Settings(
        host=_get(server, "host", "server", str, "127.0.0.1"),
        port=port,
        max_body_bytes=max_body,
        body_timeout_s=body_timeout,
        upstream_connections=connections,
        ledger_path=_path(
            _get(ledger, "path", "ledger", str, env.get("SATISFICE_LEDGER", "satisfice-ledger.db")),
            "ledger.path",
        ),
        ledger_enabled=_get(ledger, "enabled", "ledger", bool, True),
        ledger_retention_days=_positive(
            _get(ledger, "retention_days", "ledger", float, 0.0), "ledger.retention_days", allow_zero=True
        ),
        providers=providers,
        routes=routes,
        models=tuple(models),
        reliability=reliability,
        embedding_model=_get(embeddings, "model", "embeddings", str, None),
        learn_path=_path(
            _get(learning, "path", "learning", str, env.get("SATISFICE_LEARN", "satisfice-learn.db")),
            "learning.path",
        ),
        learn_enabled=_get(learning, "enabled", "learning", bool, True),
        learn_half_life_s=_positive(
            _get(learning, "half_life_s", "learning", float, 7 * 86400.0), "learning.half_life_s"
        ),
        learn_gate_interval_s=_positive(
            _get(learning, "gate_interval_s", "learning", float, 1800.0), "learning.gate_interval_s"
        ),
        learn_feedback_window_s=_positive(
            _get(learning, "feedback_window_s", "learning", float, 7 * 86400.0), "learning.feedback_window_s"
        ),
        simulated=not real,
        cache_store=cache_store,
        cache_policy=cache_policy,
        rate_limits=rate_limits_from_config(doc.get("rate_limits"), env),
        keys=keys_from_config(doc.get("keys"), env),
        source=source,
    )


def providers_from_env(env: Mapping[str, str]) -> tuple[ProviderSettings, ...]:
    """Providers the official SDKs would find in the environment (key set, or a base URL set)."""
    out = []
    for preset in PRESETS.values():
        key = env.get(preset.key_env) if preset.key_env else None
        base = env.get(preset.base_url_env) if preset.base_url_env else None
        if not key and not base:
            continue
        base = base or preset.base_url
        if base is None:
            continue  # Azure/vLLM need a base URL
        out.append(
            ProviderSettings(
                name=preset.name,
                dialect=preset.dialect,
                base_url=base.rstrip("/"),
                catalog_provider=preset.name,
                api_key=key or None,
                key_source=preset.key_env or "",
                # A custom base URL (a proxy, vLLM, a local server) may serve any model name.
                passthrough=bool(env.get(preset.base_url_env or "")) and preset.dialect == "openai",
            )
        )
    return tuple(out)


def load_settings(path: str | None, env: Mapping[str, str] | None = None) -> Settings:
    if path is None:
        return parse_settings({}, env, source="environment")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(str(path), f"cannot read config file: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(str(path), f"not valid YAML/JSON: {yaml_problem(e)}") from None
    return parse_settings(doc, env, source=str(p))


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line, with where it is (PyYAML's own text spans several lines and quotes
    the offending line of the file)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    what = f"{context}: {problem}" if context else str(problem)
    return f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else what
