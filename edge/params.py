"""Holding a chat request to what each route's provider honours, before any upstream call.

Every provider kind declares what it does with each field of the chat request (its ``fields``
table, adapters/fields.py, after openai-openapi 2.3.0). ``prepare_chat`` reads the request
against the table of every route of the plan, once per request and kind:

- a route whose provider refuses a field of this request (it would change the answer and cannot
  be honoured) leaves the plan, so routing never sends it there; when no route is left, the
  request gets 400 ``unsupported_parameter`` naming the field (``param``), the provider and the
  model, and nothing is sent. A refusal is not an upstream failure: no attempt, no cooldown;
- when dropping is asked (header ``x-edge-drop-params: true``, ``models.<name>.drop_params`` or
  ``routing.drop_params``), refused fields are left out for that route instead, and named;
- ignored fields (bookkeeping that changes no output) are left out and named.

The names reach the client (``x-edge-dropped-params``), the ledger row (``dropped_params``)
and ``edge_dropped_params_total{provider,field}``, for the route that was called. Translating
the fields that stay is each adapter's job, as before. A route whose kind translates prompt-cache
hints also gets the automatic ones its model's config asks for (edge.prompt_cache).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from edge.adapters.fields import CACHE_CONTROL, TOOL_CACHE_CONTROL, UNKNOWN, FieldTable, Finding, assess, is_declared

from .config import Config
from .context import RequestContext
from .errors import InvalidRequest
from .gateway import Gateway
from .prompt_cache import with_auto_hints, without_hints
from .router import Resolution, Stage, Target

__all__ = ["DROPPED_HEADER", "DROP_HEADER", "Prepared", "UnsupportedParameter", "field_label", "prepare_chat", "flag_set"]

DROP_HEADER = "x-edge-drop-params"
DROPPED_HEADER = "x-edge-dropped-params"

# A vendor field's own name is shown (header, ledger) only when it is a plain identifier.
_PLAIN = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")

Prepared = Callable[[Target], dict[str, Any]]


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


def flag_set(value: str | None) -> bool:
    """A yes/no header (or gRPC metadata) value says yes: ``x-edge-drop-params: true``."""
    return value is not None and value.strip().lower() in ("1", "true", "yes")


def field_label(name: str) -> str:
    """How a dropped field is named in the header and the ledger."""
    return name if is_declared(name) or _PLAIN.match(name) else UNKNOWN


def _drops(config: Config, model: str) -> bool:
    found = config.models.get(model)
    if found is not None and found.drop_params is not None:
        return found.drop_params
    return config.routing.drop_params


def prepare_chat(gw: Gateway, ctx: RequestContext, plan: Resolution, body: dict[str, Any]) -> tuple[Resolution, Prepared]:
    """The plan without the routes that refuse this request, and the body each route gets.

    Raises UnsupportedParameter when every route refuses. Calling the returned function for a
    route also notes on the record what that route's body leaves out.
    """
    assessed: dict[int, list[Finding]] = {}  # by table: a kind is read once per request
    bodies: dict[Target, tuple[dict[str, Any], list[str]]] = {}
    stages: list[Stage] = []
    refusal: tuple[Target, list[Finding]] | None = None
    changed = False
    for stage in plan.stages:
        drop: bool | None = None
        kept: list[Target] = []
        model = gw.config.models.get(stage.model)
        auto = model.cache if model is not None and model.cache is not None and model.cache.auto else None
        for target in stage.targets:
            table = _table(target)
            if auto is not None and table is not None and target not in bodies and table.rules[CACHE_CONTROL].action == "translated":
                bodies[target] = (with_auto_hints(body, list(auto.auto), auto.auto_ttl), [])
            if table is None or table.passes_everything:
                kept.append(target)
                continue
            found = assessed.get(id(table))
            if found is None:
                found = assessed[id(table)] = assess(table, body)
            if not found:
                kept.append(target)
                continue
            refused = [f for f in found if f.action == "refused"]
            if refused:
                if drop is None:
                    drop = ctx.drop_params or _drops(gw.config, stage.model)
                if not drop:
                    refusal = refusal or (target, refused)
                    continue
            kept.append(target)
            if target not in bodies or not bodies[target][1]:
                base = bodies[target][0] if target in bodies else body
                bodies[target] = (_without(base, found), [field_label(f.name) for f in found])
        if len(kept) == len(stage.targets):
            stages.append(stage)
        else:
            changed = True
            if kept:
                stages.append(stage._replace(targets=tuple(kept)))
    if refusal is not None and not stages:
        raise _refused(*refusal)
    if changed:
        if refusal is not None and plan.stages and stages and stages[0].model != plan.stages[0].model and ctx.fallback_reason is None:
            target, refused = refusal
            ctx.fallback_reason = f"unsupported_parameter {refused[0].param} on {target.route}"
            gw.metrics.fallback(plan.public_model)
        plan = plan._replace(stages=tuple(stages))
    record = ctx.record

    def prepared(target: Target) -> dict[str, Any]:
        chosen = bodies.get(target)
        record.dropped_params = chosen[1] or None if chosen is not None else None
        return chosen[0] if chosen is not None else body

    return plan, prepared


def _table(target: Target) -> FieldTable | None:
    return target.provider.fields


def _without(body: dict[str, Any], found: list[Finding]) -> dict[str, Any]:
    """The body without its top-level refused or ignored fields (a refused value may keep a
    part: only the function tools of a list with custom tools) and without the prompt-cache
    hints when they are left out (an OpenAI-format upstream would get them as sent). Other fields
    inside messages are left as they are: no adapter sends them on."""
    out = dict(body)
    names = {f.name for f in found}
    if CACHE_CONTROL in names or TOOL_CACHE_CONTROL in names:
        out = without_hints(out, CACHE_CONTROL in names, TOOL_CACHE_CONTROL in names)
    for finding in found:
        if finding.name not in out:
            continue  # a field inside messages
        kept = finding.keep(out[finding.name]) if finding.keep is not None else None
        if kept is None:
            del out[finding.name]
        else:
            out[finding.name] = kept
    return out


def _refused(target: Target, refused: list[Finding]) -> UnsupportedParameter:
    first = refused[0]
    reasons = ", ".join(dict.fromkeys(f"{f.param} ({f.note})" for f in refused))
    provider = target.provider
    return UnsupportedParameter(
        f"Provider '{provider.name}' ({provider.kind}, model '{target.upstream_model}') cannot honour {reasons}. "
        f"Nothing was sent. To leave such fields out instead (named in {DROPPED_HEADER}), send the header {DROP_HEADER}: true "
        "or set routing.drop_params.",
        param=first.param,
    )
