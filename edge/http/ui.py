"""GET /ui (the dashboard) and GET /ui/assets/{name}: files shipped inside the package.

The page is a static shell; its script (static/dashboard.js) asks for the admin key in a sign-in
form, keeps it in the tab's sessionStorage (gone when the tab closes, never in a URL, a cookie
or a log) and sends it as ``Authorization: Bearer`` to the JSON endpoints (GET /v1/usage,
/v1/usage/series, /v1/usage/routes, /v1/routes, /v1/budgets, /v1/keys), which check it as
every admin endpoint does. Charts are drawn by uPlot, vendored at a pinned version (see
static/VENDORED.md), so nothing is fetched from the network at run time.

Pages go out with a strict Content-Security-Policy (scripts, styles and connections to this
origin only, no inline script, no framing) because the page holds the admin key: a script
injected through a model name or a tag could otherwise read it. The script never writes
received text as HTML either. Assets are read once, when the app is built, and carry an ETag.

``ui.enabled: false`` leaves /ui out (404) and serves only the stylesheet the catalog page uses;
the JSON endpoints stay.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import web

from edge.errors import NotFound

__all__ = ["ASSETS", "CATALOG_ASSETS", "PAGE_HEADERS", "UI_ASSETS", "Assets", "asset", "dashboard_page"]

# File name -> content type. Only these are served; the names carry the vendored version.
ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "edge.css": "text/css; charset=utf-8",
    "uPlot-1.6.32.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot-1.6.32.min.css": "text/css; charset=utf-8",
    "uPlot-LICENSE.txt": "text/plain; charset=utf-8",
}

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


# The catalog page (GET /models) needs only the stylesheet; with the dashboard off, only it is served.
CATALOG_ASSETS = ("edge.css",)


class Assets:
    """The static files, read from the installed package once (``names``: the ones to serve)."""

    def __init__(self, names: tuple[str, ...] = tuple(ASSETS)) -> None:
        folder = resources.files("edge.http").joinpath("static")
        self.files: dict[str, tuple[bytes, str]] = {}
        for name in names:
            body = folder.joinpath(name).read_bytes()
            self.files[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def response(self, request: web.Request, name: str) -> web.Response:
        found = self.files.get(name)
        if found is None:
            raise NotFound(f"No dashboard asset named '{name}'.", param="name")
        body, etag = found
        headers = {**PAGE_HEADERS, "etag": etag, "content-type": ASSETS[name]}
        if etag in request.headers.get("if-none-match", ""):
            return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "content-type"})
        return web.Response(body=body, headers=headers)


UI_ASSETS = web.AppKey("edge_ui_assets", Assets)


async def dashboard_page(request: web.Request) -> web.Response:
    return request.app[UI_ASSETS].response(request, "dashboard.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "dashboard.html":  # the page itself lives at /ui
        raise NotFound(f"No dashboard asset named '{name}'.", param="name")
    return request.app[UI_ASSETS].response(request, name)
