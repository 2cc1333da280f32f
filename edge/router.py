"""Public model name -> the ordered upstream targets that may answer it.

Configured models map to their routes (weighted order; more strategies, retries and cooldowns
come with the routing work); any ``<provider>/<upstream model>`` name routes straight to that
provider when ``allow_passthrough`` is on. An explicit table, never substring matching.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from .config import Config
from .errors import ModelNotFound
from .providers import Provider, Providers

__all__ = ["Resolution", "Router", "Target"]


class Target(NamedTuple):
    provider: Provider
    upstream_model: str
    weight: float = 1.0

    @property
    def route(self) -> str:
        return f"{self.provider.name}/{self.upstream_model}"


class Resolution(NamedTuple):
    public_model: str
    targets: tuple[Target, ...]

    def ordered(self, rng: random.Random) -> tuple[Target, ...]:
        """Targets in the order to try: the first drawn by weight, then the rest by weight."""
        targets = self.targets
        if len(targets) < 2:
            return targets
        pool = list(targets)
        order = []
        while pool:
            weights = [t.weight for t in pool]
            pick = rng.choices(range(len(pool)), weights=weights)[0] if sum(weights) > 0 else 0
            order.append(pool.pop(pick))
        return tuple(order)


class Router:
    def __init__(self, config: Config, providers: Providers) -> None:
        self._allow_passthrough = config.allow_passthrough
        self._providers = providers
        self._models: dict[str, Resolution] = {}
        for name, model in config.models.items():
            source = model
            if not model.route and model.escalate is not None:
                # Escalation checks come with the routing work; until then such a model answers
                # with its `from` model.
                source = config.models[model.escalate.from_]
            targets = tuple(Target(providers[r.provider], r.model, r.weight) for r in source.route)
            self._models[name] = Resolution(name, targets)
        self._passthrough: dict[str, Resolution] = {}
        self.rng = random.Random()

    @property
    def public_models(self) -> tuple[str, ...]:
        return tuple(self._models)

    def resolve(self, name: str) -> Resolution:
        found = self._models.get(name) or self._passthrough.get(name)
        if found is not None:
            return found
        provider_name, sep, upstream = name.partition("/")
        if sep and upstream and self._allow_passthrough and provider_name in self._providers:
            found = Resolution(name, (Target(self._providers[provider_name], upstream),))
            if len(self._passthrough) < 4096:  # bounded: names come from clients
                self._passthrough[name] = found
            return found
        raise ModelNotFound(self._not_found_message(name), param="model")

    def _not_found_message(self, name: str) -> str:
        message = f"The model '{name}' does not exist on this gateway."
        provider_name, sep, _ = name.partition("/")
        if sep and not self._allow_passthrough:
            message += " '<provider>/<model>' names are disabled (allow_passthrough: false)."
        elif sep:
            message += f" There is no provider named '{provider_name}'; configured providers: {', '.join(sorted(self._providers)) or 'none'}."
        if self._models:
            message += f" Configured models: {', '.join(sorted(self._models))}."
        return message
