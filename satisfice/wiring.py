"""Builds the object graph from settings: the only place that does."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from satisfice.cache.layer import ResponseCache
from satisfice.catalog import Catalog, load_catalog
from satisfice.config import CHOOSING, ConfigError, ProviderSettings, Settings
from satisfice.gateway import Gateway
from satisfice.ledger.record import LedgerSink, NullLedger
from satisfice.ledger.sqlite import SQLiteLedger
from satisfice.providers.results import LocalUpstream
from satisfice.providers.runner import HTTPRunner
from satisfice.providers.simulated import SIMULATED_MODELS, SimulatedUpstream
from satisfice.ratelimit import build_limiter
from satisfice.routing.affinity import Affinity
from satisfice.routing.breaker import BreakerBoard
from satisfice.routing.directory import ModelDirectory
from satisfice.routing.executor import Executor
from satisfice.routing.planner import Planner

log = logging.getLogger("satisfice")


@dataclass(slots=True)
class Parts:
    settings: Settings
    catalog: Catalog
    directory: ModelDirectory
    planner: Planner
    gateway: Gateway
    ledger: LedgerSink


def simulated_provider(catalog: Catalog) -> ProviderSettings:
    models = tuple(m for m in SIMULATED_MODELS if catalog.lookup(m))
    return ProviderSettings(
        name="simulated", dialect="simulated", base_url="", catalog_provider="*", models=models
    )


def effective_settings(settings: Settings, catalog: Catalog) -> Settings:
    """Add what the settings imply: the simulated provider when nothing real is configured, a
    default `auto` route when the config defines none, and the candidates of every route that
    chooses by quality without listing them: every servable chat model.

    Such a route's default baseline is the candidate with the best quality prior (what a team would
    otherwise send everything to), not the priciest: among dozens of models the priciest is often
    a niche one, and savings against it would flatter us."""
    from satisfice.config import IMPLIED_ROUTE, RouteSettings

    if settings.simulated and not any(p.dialect == "simulated" for p in settings.providers):
        settings = replace(settings, providers=(*settings.providers, simulated_provider(catalog)))
    routes = settings.routes
    if not any(r.name == IMPLIED_ROUTE for r in routes):
        routes = (*routes, RouteSettings(IMPLIED_ROUTE, "auto", (), reliability=settings.reliability))
    if all(r.candidates for r in routes):
        return settings
    directory = ModelDirectory(settings, catalog, settings.providers)
    infos = [
        t.info
        for t in directory.servable()
        if t.info is not None and t.info.kind == "chat" and not t.info.deprecated
    ]
    every = tuple(dict.fromkeys(i.id for i in infos))
    best = (
        max(infos, key=lambda i: (i.quality_prior, -(i.input_per_mtok + i.output_per_mtok)))
        if infos
        else None
    )
    filled = []
    for r in routes:
        if r.candidates:
            filled.append(r)
        elif best is not None:
            filled.append(replace(r, candidates=every, baseline=r.baseline or best.id))
        elif r in settings.routes:  # the implied `auto` route is simply left out
            raise ConfigError(
                f"routes.{r.name}.candidates",
                "left out, but no provider serves a catalog chat model to choose among: list the candidates",
            )
    return replace(settings, routes=tuple(filled))


def build_catalog(settings: Settings) -> Catalog:
    catalog = load_catalog()
    return catalog.with_overrides(settings.models) if settings.models else catalog


def local_upstreams(settings: Settings) -> tuple[Settings, dict[str, LocalUpstream]]:
    """In-process providers by provider name; a replay provider serves its dataset's models."""
    local: dict[str, LocalUpstream] = {}
    providers = []
    for p in settings.providers:
        if p.dialect == "simulated":
            local[p.name] = SimulatedUpstream()
        elif p.dialect == "replay":
            from satisfice.providers.replay import ReplayUpstream

            replay = ReplayUpstream.load(dict(p.options)["dataset"])
            local[p.name] = replay
            if not p.models:
                p = replace(p, models=tuple(replay.models))
        providers.append(p)
    return replace(settings, providers=tuple(providers)), local


def build_cache(settings: Settings) -> ResponseCache:
    from satisfice.cache.entry import CacheStore
    from satisfice.cache.memory import MemoryStore

    conf = settings.cache_store
    store: CacheStore
    if conf.backend == "sqlite":
        from satisfice.cache.sqlite_store import SQLiteStore

        store = opened("cache.path", conf.path, functools.partial(SQLiteStore, max_entries=conf.max_entries))
    else:
        store = MemoryStore(conf.max_entries)
    return ResponseCache(store, settings.cache_policy, {r.name: r.cache for r in settings.routes})


T = TypeVar("T")


def opened(key: str, path: str, open_store: Callable[[str], T]) -> T:
    """A SQLite-backed store, or a ConfigError naming the setting when its file cannot serve as one
    (unwritable, a directory, not a database, corrupt)."""
    try:
        return open_store(path)
    except (sqlite3.Error, OSError) as e:
        raise ConfigError(key, f"cannot use {path!r} as its SQLite file: {e}") from None


def build(settings: Settings, *, with_ledger: bool = True) -> Parts:
    catalog = build_catalog(settings)
    settings = effective_settings(settings, catalog)
    settings, local = local_upstreams(settings)
    directory = ModelDirectory(settings, catalog, settings.providers)
    rel = settings.reliability
    breakers = BreakerBoard(rel.breaker_failures, rel.breaker_window_s, rel.breaker_cooldown_s)
    learner, affinity = None, None
    if with_ledger and settings.learn_enabled and any(r.strategy in CHOOSING for r in settings.routes):
        from satisfice.learn import Learner, SQLiteLearnStore
        from satisfice.routing.turns_sqlite import SQLiteTurnStore

        store = opened("learning.path", settings.learn_path, SQLiteLearnStore)
        learner = Learner(
            store, half_life_s=settings.learn_half_life_s, feedback_window_s=settings.learn_feedback_window_s
        )
        # The learning file also keeps the turns conversation affinity remembers: every worker sees them.
        affinity = Affinity(opened("learning.path", settings.learn_path, SQLiteTurnStore))
    planner = Planner(directory, rel, learner=learner, affinity=affinity)
    ledger: LedgerSink = (
        opened(
            "ledger.path",
            settings.ledger_path,
            functools.partial(SQLiteLedger, retention_days=settings.ledger_retention_days),
        )
        if with_ledger and settings.ledger_enabled
        else NullLedger()
    )
    runner = HTTPRunner(
        settings.upstream_connections,
        max_response_bytes=settings.reliability.max_response_bytes,
        max_event_bytes=settings.reliability.max_event_bytes,
    )
    cache = build_cache(settings) if with_ledger else None
    limiter = build_limiter(settings.rate_limits) if with_ledger else None
    gateway = Gateway(planner, Executor(breakers), runner, ledger, local, cache, limiter)
    return Parts(settings, catalog, directory, planner, gateway, ledger)
