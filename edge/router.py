"""Public model name -> a plan: the stages of routes that may answer it, in the order to try.

Stage 0 is the model's own routes; then each of its ``fallbacks`` (and theirs, depth first) is a
further stage. A model with ``escalate`` carries the plans of its ``from`` and ``to`` models. Any
``<provider>/<upstream model>`` name routes straight to that provider when ``allow_passthrough``
is on. An explicit table, never substring matching; the order inside a stage is decided per
request by the stage's strategy (edge.routing.strategy).

A passthrough name is checked against what the provider's adapter declares a valid upstream
model name (``Adapter.model_names``) before it routes: a bad one is a 400 naming ``model`` and
never reaches an upstream, so ``gem/gemini-2.5-flash/../gemini-ultra`` can neither climb the
upstream's URL path nor slip past a key allowed ``gem/gemini-2.5-flash*`` (the allow-list
matches the name that was checked, which is the name that is sent).
"""

from __future__ import annotations

import random
from typing import NamedTuple

from .config import Config, ModelConfig
from .errors import InvalidRequest, ModelNotFound
from .providers import Provider, Providers
from .routing.windows import known_window

__all__ = ["Escalation", "Resolution", "Router", "Stage", "Target"]


class Target(NamedTuple):
    provider: Provider
    upstream_model: str
    weight: float = 1.0
    max_concurrency: int | None = None

    @property
    def route(self) -> str:
        return f"{self.provider.name}/{self.upstream_model}"


class Stage(NamedTuple):
    model: str
    targets: tuple[Target, ...]
    strategy: str = "weighted"
    context_window: int | None = None


class Escalation(NamedTuple):
    source: "Resolution"
    target: "Resolution"
    when: tuple[str, ...]


class Resolution(NamedTuple):
    public_model: str
    stages: tuple[Stage, ...]
    escalation: Escalation | None = None

    @property
    def targets(self) -> tuple[Target, ...]:
        return self.stages[0].targets if self.stages else ()

    def ordered(self, rng: random.Random) -> "Resolution":
        """The plan to execute (kept for callers that predate stages; ordering is per attempt)."""
        return self


class Router:
    def __init__(self, config: Config, providers: Providers) -> None:
        self._allow_passthrough = config.allow_passthrough
        self._providers = providers
        self._config = config
        self._models: dict[str, Resolution] = {name: self._plan(name) for name in config.models}
        self._passthrough: dict[str, Resolution] = {}
        self.rng = random.Random()

    def _stage(self, name: str, model: ModelConfig) -> Stage:
        targets = tuple(Target(self._providers[r.provider], r.model, r.weight, r.max_concurrency) for r in model.route)
        window = model.context_window
        if window is None and targets:
            windows = [known_window(t.upstream_model) for t in targets]
            window = min(windows) if all(w is not None for w in windows) else None  # type: ignore[type-var]
        return Stage(name, targets, model.strategy, window)

    def _plan(self, name: str) -> Resolution:
        models = self._config.models
        model = models[name]
        if model.escalate is not None:
            source, target = self._plan(model.escalate.from_), self._plan(model.escalate.to)
            return Resolution(name, source.stages, Escalation(source, target, tuple(model.escalate.when)))
        stages: list[Stage] = []
        seen: set[str] = set()

        def visit(current: str) -> None:
            if current in seen:
                return
            seen.add(current)
            config = models[current]
            if config.escalate is not None:  # an escalating fallback contributes its answering routes
                visit(config.escalate.from_)
                return
            stages.append(self._stage(current, config))
            for other in config.fallbacks:
                visit(other)

        visit(name)
        return Resolution(name, tuple(stages))

    @property
    def public_models(self) -> tuple[str, ...]:
        return tuple(self._models)

    def resolve(self, name: str) -> Resolution:
        found = self._models.get(name) or self._passthrough.get(name)
        if found is not None:
            return found
        provider_name, sep, upstream = name.partition("/")
        if sep and upstream and self._allow_passthrough and provider_name in self._providers:
            provider = self._providers[provider_name]
            _check_model_name(provider, upstream)
            target = Target(provider, upstream)
            found = Resolution(name, (Stage(name, (target,), "weighted", known_window(upstream)),))
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


def _check_model_name(provider: Provider, upstream: str) -> None:
    """400 for a name the provider's dialect cannot carry as one model name."""
    adapter = provider.adapter
    problem = adapter.model_names.problem(upstream) if adapter is not None else None
    if problem is not None:
        shown = upstream if len(upstream) <= 80 else upstream[:77] + "..."
        raise InvalidRequest(
            f"Invalid model name {shown!r} for provider '{provider.name}' (kind {provider.kind}): {problem}.",
            param="model",
            code="invalid_model",
        )
