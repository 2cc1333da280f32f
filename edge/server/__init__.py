"""edge.server: the hot endpoints on a server of the project's own (uvloop + httptools).

aiohttp's server costs more per request than the gateway's own work on a chat completion; this
one parses with the same llhttp, keeps aiohttp's caps and behaviours (edge.server.protocol), runs
the same handlers and middleware (edge.server.site), and hands every other endpoint to aiohttp
(edge.server.handoff). ``server.lean_path: false`` serves everything through aiohttp.
"""

from __future__ import annotations

# Nothing is imported here: edge.http's stream sinks import edge.server.request, and the site
# imports edge.http's handlers (import edge.server.site for LeanSite).
