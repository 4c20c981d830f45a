"""Model aliases to deployments: weighted choice, then the rest, then fallback aliases."""

from __future__ import annotations

import random
from collections.abc import Iterable

from triops.core.errors import InvalidInput, NotFound
from triops.core.gateway_settings import RouteConfig, UpstreamConfig
from triops.llm.gateway.providers import provider_names
from triops.llm.gateway.transport import Target


class RouteTable:
    """An immutable snapshot of upstreams and routes; rebuilt, never mutated, on change."""

    def __init__(self, upstreams: Iterable[UpstreamConfig], routes: Iterable[RouteConfig],
                 default_timeout_s: float, rng: random.Random | None = None) -> None:
        self.upstreams = {u.name: u for u in upstreams}
        self.routes = {r.alias: r for r in routes}
        self.default_timeout_s = default_timeout_s
        self._rng = rng or random.Random()
        known = set(provider_names())
        for upstream in self.upstreams.values():
            if upstream.provider not in known:
                raise InvalidInput(f"upstream {upstream.name!r}: provider {upstream.provider!r} "
                                   f"is not one of {', '.join(sorted(known))}")
        for route in self.routes.values():
            for deployment in route.deployments:
                if deployment.upstream not in self.upstreams:
                    raise InvalidInput(f"route {route.alias!r} names upstream "
                                       f"{deployment.upstream!r}, which is not configured")
        owners: dict[str, set[str]] = {}
        for route in self.routes.values():
            for deployment in route.deployments:
                owners.setdefault(f"{deployment.upstream}/{deployment.model}", set()).add(
                    route.alias)
        self._owners = {name: frozenset(aliases) for name, aliases in owners.items()}
        self._governing = {alias: self._reach(alias) for alias in self.routes}

    def aliases(self) -> list[str]:
        return sorted(self.routes)

    def routes_for(self, model: str) -> frozenset[str]:
        """The names whose guardrail rules govern a request for ``model``: the name, every
        route it may fall back into, and for a deployment named directly
        (``<upstream>/<model>``) every route that serves that deployment, so that naming
        what a route serves does not step around the route's rules."""
        known = self._governing.get(model)
        return known if known is not None else self._reach(model)

    def _reach(self, model: str) -> frozenset[str]:
        seen: set[str] = set()
        owners: set[str] = set()
        pending = [model]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            route = self.routes.get(name)
            if route is not None:
                pending.extend(route.fallbacks)
            else:
                owners |= self._owners.get(name, frozenset())
        return frozenset(seen | owners)

    def _target(self, upstream: UpstreamConfig, model: str) -> Target:
        return Target(upstream=upstream, model=model,
                      timeout_s=upstream.timeout_s or self.default_timeout_s)

    def candidates(self, model: str) -> list[Target]:
        """Every target to try for ``model``, in order; NotFound when nothing serves it."""
        order: list[Target] = []
        seen_aliases: set[str] = set()
        self._expand(model, order, seen_aliases)
        if not order:
            raise NotFound(f"model {model!r} is not served here; GET /v1/models lists the "
                           "aliases, or name a deployment as '<upstream>/<model>'",
                           code="model_not_found")
        return order

    def _expand(self, alias: str, order: list[Target], seen: set[str]) -> None:
        if alias in seen:
            return  # fallback chains may loop; each alias is tried once
        seen.add(alias)
        route = self.routes.get(alias)
        if route is None:
            upstream_name, _, upstream_model = alias.partition("/")
            upstream = self.upstreams.get(upstream_name)
            if upstream is not None and upstream_model:
                order.append(self._target(upstream, upstream_model))
            return
        deployments = list(route.deployments)
        if len(deployments) > 1:
            first = self._rng.choices(deployments, weights=[d.weight for d in deployments])[0]
            deployments.remove(first)
            deployments.sort(key=lambda d: -d.weight)
            deployments.insert(0, first)
        for deployment in deployments:
            order.append(self._target(self.upstreams[deployment.upstream], deployment.model))
        for fallback in route.fallbacks:
            self._expand(fallback, order, seen)
