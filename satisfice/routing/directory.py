"""Which deployments can serve a model name: catalog ids, provider-qualified ids, passthrough.

Built once at start-up from settings and the catalog; lookups are dict reads on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from satisfice.catalog import Catalog, ModelInfo
from satisfice.config import IMPLIED_ROUTE, ProviderSettings, RouteSettings, Settings
from satisfice.errors import ModelNotFound
from satisfice.providers.base import Deployment
from satisfice.providers.openai_compat import openai_plain_model, openai_reasoning_model


@dataclass(frozen=True, slots=True)
class Target:
    """A deployment plus what the catalog knows of its model (None: unpriced passthrough)."""

    dep: Deployment
    info: ModelInfo | None


class ModelDirectory:
    def __init__(self, settings: Settings, catalog: Catalog, providers: tuple[ProviderSettings, ...]) -> None:
        self.catalog = catalog
        self.providers = {p.name: p for p in providers}
        self.routes: dict[str, RouteSettings] = {r.name: r for r in settings.routes}
        self._served: dict[str, list[Target]] = {}  # public name -> targets, precomputed
        self._passthrough = [p for p in providers if p.passthrough]
        for p in providers:
            for info in self._models_of(p):
                target = self._target(p, info.id, info)
                # A provider that plays every provider's models (simulated) answers to their
                # prefixes too, so "anthropic/claude-3-5-haiku" works before any key is set.
                prefixes = dict.fromkeys((p.name, info.provider) if p.catalog_provider == "*" else (p.name,))
                for name in (info.id, *info.aliases):
                    self._served.setdefault(name, []).append(target)
                    for prefix in prefixes:
                        self._served.setdefault(f"{prefix}/{name}", []).append(target)

    def _models_of(self, p: ProviderSettings) -> list[ModelInfo]:
        if not p.models:
            return list(self.catalog.by_provider(p.catalog_provider))
        out = []
        for name in p.models:
            if p.catalog_provider == "*":  # the simulated provider plays models of every provider
                found = self.catalog.lookup(name)
                info = found[0] if found else None
            else:
                info = self.catalog.get(p.catalog_provider, name)
            if info is None:
                # Declared by the user but unknown to the catalog: served unpriced under its own name.
                self._served.setdefault(name, []).append(self._target(p, name, None))
                self._served.setdefault(f"{p.name}/{name}", []).append(self._target(p, name, None))
            else:
                out.append(info)
        return out

    @staticmethod
    def _target(p: ProviderSettings, public: str, info: ModelInfo | None) -> Target:
        mapped = dict(p.model_map)
        upstream = mapped.get(public) or (info.upstream_id if info else public)
        return Target(
            Deployment(
                provider=p.name,
                model=public,
                upstream_model=upstream,
                base_url=p.base_url,
                dialect=p.dialect,
                api_key=p.api_key,
                headers=p.headers,
                options=p.options,
                openai_reasoning=openai_reasoning_model(info, p.dialect, upstream),
                openai_plain=openai_plain_model(info),
                max_output=info.max_output if info is not None and info.max_output else None,
                tools=info.tools if info is not None else True,
            ),
            info,
        )

    def route(self, name: str) -> RouteSettings | None:
        return self.routes.get(name)

    def targets(self, name: str) -> list[Target]:
        """Deployments for a model name, in provider order; ModelNotFound when none."""
        found = self._served.get(name)
        if found:
            return found
        prov, sep, rest = name.partition("/")
        if sep and prov in self.providers and rest:
            p = self.providers[prov]
            if p.passthrough:
                return [self._target(p, rest, self.catalog.get(p.catalog_provider, rest))]
        if name.partition(":")[0] == IMPLIED_ROUTE:  # never a model to pass through: the route's name
            raise ModelNotFound(
                f"There is no route '{IMPLIED_ROUTE}': no configured provider serves a catalog chat model "
                f"for the implied one to choose among. Name a model, or give the config a route "
                f"'{IMPLIED_ROUTE}' that lists its candidates.",
                param="model",
            )
        if self._passthrough:
            p = self._passthrough[0]
            return [self._target(p, name, self.catalog.get(p.catalog_provider, name))]
        raise ModelNotFound(self._not_found_message(name), param="model")

    def names_exactly(self, name: str) -> bool:
        """Whether a configured provider serves this name as written: a listed model, a
        provider-qualified one, or a name under a passthrough provider's prefix; not the catch-all
        passthrough, which takes any name."""
        if name in self._served:
            return True
        prov, sep, rest = name.partition("/")
        return bool(sep and rest) and prov in self.providers and self.providers[prov].passthrough

    def _not_found_message(self, name: str) -> str:
        known = self.catalog.lookup(name)
        if known:
            provs = sorted({m.provider for m in known})
            return (
                f"The model '{name}' is in the catalog (provider {', '.join(provs)}) "
                "but no configured provider "
                "serves it: add the provider to the config or set its API key in the environment."
            )
        return f"The model '{name}' does not exist or is not served by this gateway (see GET /v1/models)."

    def servable(self) -> list[Target]:
        """Every (provider, model) pair once, for /v1/models and `satisfice models`."""
        seen: set[tuple[str, str]] = set()
        out = []
        for targets in self._served.values():
            for t in targets:
                k = (t.dep.provider, t.dep.model)
                if k not in seen:
                    seen.add(k)
                    out.append(t)
        return out
