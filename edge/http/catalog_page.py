"""GET /models: the public model catalog page (HTML, no key, no script).

Every model the gateway answers (edge.catalog: the configured public models, then each
provider's listed ``<provider>/<model>`` names) with its routes, price per 1M input, output and
cached input tokens, context window and per-feature support, and how to call it with curl, the
openai SDK for Python and for Node, the Responses API (openai SDK) and the Anthropic Messages API
(anthropic SDK; Claude Code takes the same base URL). Rendered on the server with every value HTML-escaped; the
same figures are in GET /v1/models for programs. ``ui.catalog: false`` turns the page off (404).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from aiohttp import web

from edge import __version__
from edge.capabilities import FEATURES
from edge.catalog import CatalogEntry, Pricing, build_catalog
from edge.fastpath import jsonio

from .appkeys import GATEWAY
from .ui import PAGE_HEADERS

__all__ = ["models_page", "render_catalog"]

_E = html.escape
_SUPPORT_TEXT = {"yes": "yes", "no": "no", "partial": "some routes"}
_SNIPPET_TITLES = ("curl", "Python (openai SDK)", "Node (openai SDK)", "Responses API (openai SDK)", "Anthropic Messages API (anthropic SDK)")


def _price(value: float | None) -> str:
    """USD with as many decimals as the price has (up to six): $1.75, $0.175, $10."""
    if value is None:
        return "-"
    return "$" + f"{value:,.6f}".rstrip("0").rstrip(".")


def _window(tokens: int | None) -> str:
    return "unknown" if tokens is None else f"{tokens:,}"


def _price_cells(pricing: Pricing | None) -> str:
    if pricing is None:
        return '<td class="num" colspan="3">no known price</td>'
    return "".join(f'<td class="num">{_E(_price(v))}</td>' for v in (pricing.input, pricing.output, pricing.cached_input))


def _summary(entries: list[CatalogEntry]) -> str:
    rows = []
    for entry in entries:
        rows.append(
            f'<tr data-model="{_E(entry.id)}"><td><a href="#{_E(_anchor(entry.id))}">{_E(entry.id)}</a></td>'
            f'<td>{_E(", ".join(r.provider + "/" + r.model for r in entry.routes) or "-")}</td>'
            f"{_price_cells(entry.pricing)}"
            f'<td class="num">{_E(_window(entry.context_window))}</td></tr>'
        )
    return (
        '<table class="summary"><thead><tr><th>model</th><th>routes</th><th class="num">input</th>'
        '<th class="num">output</th><th class="num">cached input</th><th class="num">context window</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def _anchor(model_id: str) -> str:
    return "model-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)


def _features(entry: CatalogEntry) -> str:
    items = (
        f'<li class="support-{_E(entry.capabilities[f])}" data-feature="{_E(f)}">{_E(f)}: {_E(_SUPPORT_TEXT[entry.capabilities[f]])}</li>'
        for f in FEATURES
    )
    return f'<ul class="features">{"".join(items)}</ul>'


def _routes(entry: CatalogEntry) -> str:
    rows = []
    for route in entry.routes:
        price = route.pricing
        prices = "no known price" if price is None else f"in {_price(price.input)} / out {_price(price.output)} / cached {_price(price.cached_input)}"
        rows.append(f"<li><code>{_E(route.provider)}/{_E(route.model)}</code> ({_E(route.kind)}): {_E(prices)}, context {_E(_window(route.context_window))}</li>")
    return f'<ul class="routes">{"".join(rows)}</ul>' if rows else "<p>No routes of its own.</p>"


def _snippets(model_id: str, base_url: str) -> dict[str, str]:
    model = jsonio.dumps(model_id).decode()  # a JSON string literal, valid in Python and JS too
    body = jsonio.dumps({"model": model_id, "messages": [{"role": "user", "content": "Hello"}]}).decode()
    shell_body = body.replace("'", "'\\''")  # inside single quotes, for the shell
    return {
        "curl": (
            f"curl {base_url}/chat/completions \\\n"
            '  -H "Authorization: Bearer $EDGE_KEY" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{shell_body}'"
        ),
        "python": (
            "# pip install openai\n"
            "import os\n"
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base_url}", api_key=os.environ["EDGE_KEY"])\n'
            f'reply = client.chat.completions.create(model={model}, messages=[{{"role": "user", "content": "Hello"}}])\n'
            "print(reply.choices[0].message.content)"
        ),
        "node": (
            "// npm install openai\n"
            'import OpenAI from "openai";\n\n'
            f'const client = new OpenAI({{ baseURL: "{base_url}", apiKey: process.env.EDGE_KEY }});\n'
            f'const reply = await client.chat.completions.create({{ model: {model}, messages: [{{ role: "user", content: "Hello" }}] }});\n'
            "console.log(reply.choices[0].message.content);"
        ),
        "responses": (
            "# pip install openai\n"
            "import os\n"
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base_url}", api_key=os.environ["EDGE_KEY"])\n'
            f'reply = client.responses.create(model={model}, input="Hello")\n'
            "print(reply.output_text)"
        ),
        "messages": (
            "# pip install anthropic  (Claude Code: ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN, the same values)\n"
            "import os\n"
            "from anthropic import Anthropic\n\n"
            # The Anthropic SDKs add /v1/messages to the base URL themselves.
            f'client = Anthropic(base_url="{base_url.removesuffix("/v1")}", api_key=os.environ["EDGE_KEY"])\n'
            f'reply = client.messages.create(model={model}, max_tokens=1024, messages=[{{"role": "user", "content": "Hello"}}])\n'
            "print(reply.content[0].text)"
        ),
    }


def _card(entry: CatalogEntry, base_url: str) -> str:
    extra = []
    if entry.fallbacks:
        extra.append(f"<p>Falls back to: {_E(', '.join(entry.fallbacks))}</p>")
    if entry.escalates_to:
        extra.append(f"<p>Escalates to <code>{_E(entry.escalates_to)}</code> when an answer fails a check.</p>")
    snippets = "".join(
        f'<h4>{_E(title)}</h4><pre data-snippet="{name}"><code>{_E(text)}</code></pre>'
        for (name, text), title in zip(_snippets(entry.id, base_url).items(), _SNIPPET_TITLES)
    )
    kind = "public model" if entry.public else "provider model (passthrough)"
    return (
        f'<section class="model" id="{_E(_anchor(entry.id))}" data-model="{_E(entry.id)}">'
        f"<h3>{_E(entry.id)} <small>{_E(kind)}</small></h3>"
        f"<h4>Routes</h4>{_routes(entry)}{''.join(extra)}"
        f"<h4>Features</h4>{_features(entry)}"
        f"<details><summary>How to call it</summary>{snippets}</details>"
        "</section>"
    )


def render_catalog(entries: Iterable[CatalogEntry], base_url: str) -> str:
    listed = list(entries)
    public = [e for e in listed if e.public]
    direct = [e for e in listed if not e.public]
    cards = "".join(_card(e, base_url) for e in listed)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Models - llm-edge</title><link rel="stylesheet" href="/ui/assets/edge.css"></head>'
        '<body class="catalog"><header><h1>Models on this gateway</h1>'
        f'<p class="muted">llm-edge {_E(__version__)} - OpenAI-compatible endpoint <code>{_E(base_url)}</code> - '
        '<a href="/openapi.json">OpenAPI</a></p></header><main>'
        "<p>Prices are USD per 1M tokens, the providers' list prices (or this gateway's configured ones). "
        "A model with several routes shows the highest price of each kind: what a request can cost at most. "
        "Cached input is what a prompt token read from the provider's cache costs. Features are what each "
        "provider kind's adapter declares; <em>some routes</em> means the answer depends on the route taken. "
        "Send a gateway key as <code>Authorization: Bearer</code>; the examples read it from <code>EDGE_KEY</code>.</p>"
        f"<h2>Public models ({len(public)})</h2>{_summary(public) if public else '<p>None configured.</p>'}"
        + (f"<h2>Provider models ({len(direct)})</h2>{_summary(direct)}" if direct else "")
        + f"<h2>Details</h2>{cards}</main></body></html>"
    )


async def models_page(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    base_url = f"{request.scheme}://{request.host}/v1"
    page = render_catalog(await build_catalog(gw), base_url)
    return web.Response(body=page.encode(), headers={**PAGE_HEADERS, "content-type": "text/html; charset=utf-8"})
