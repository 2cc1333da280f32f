"""Usage reports from the ledger, shared by ``edge usage`` and GET /v1/usage.

``--since`` takes a span back from now (``30m``, ``24h``, ``7d``, ``2w``, ``90s``) or a UTC date
or time (``2025-01-31``, ``2025-01-31T12:00``, with an offset if one is given). Rows are
grouped by model, key, provider, UTC day or one tag (``tag:customer``), as edge.store does.
Beside tokens and cost, each row shows caching: cache reads (``cached_tokens``), cache writes by
TTL, response-cache hits and ``saved_usd``, what caching saved against uncached prices
(edge.prices: prompt caching, and the whole cost of each answer the response cache gave).
The same report renders as JSON (``{"since", "since_iso", "group_by", "rows", "total"}``) or as
an aligned markdown table with a total row; cost is USD to six decimals in the table, unrounded
in JSON.

Values in the ledger came from clients (a tag is whatever a request's ``metadata`` said), so
neither output may carry a character that a terminal acts on. In the table every character that
is not printable is shown escaped (a newline as backslash-n, ESC as backslash-x1b, U+202E as
backslash-u202e), a backslash is doubled (``terminal_text``) and a ``|``, which would open a
new column, is escaped too. JSON escapes only the control characters below U+0020; the rest
(DEL, C1 controls, bidi and other format characters, line separators) become JSON ``\\u``
escapes (``terminal_json``), which decode to the same strings.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Config
from .store import Store, UsageRow, check_grouping, open_store
from .store.sqlite import sqlite_path

__all__ = ["build_report", "ledger_store", "parse_since", "render_table", "report_from_config", "terminal_json", "terminal_text"]

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_COUNTS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_hits")
_HEADINGS = ("requests", "errors", "prompt", "completion", "cached", "reasoning", "cache_write_5m", "cache_write_1h", "cache_hits", "cost_usd", "saved_usd")


def parse_since(text: str, now: float | None = None) -> float:
    """Unix time for ``7d`` (back from ``now``) or an ISO date/time (UTC unless it says otherwise).

    Raises ValueError with a message fit to show as is.
    """
    now = time.time() if now is None else now
    span = _SPAN.match(text)
    if span:
        return now - float(span.group(1)) * _SECONDS[span.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"cannot read since={text!r}: use a span like 30m, 24h, 7d or a date like 2025-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _row_doc(row: UsageRow) -> dict[str, Any]:
    return {
        "group": row.group,
        "requests": row.requests,
        "errors": row.errors,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "cache_write_5m_tokens": row.cache_write_5m_tokens,
        "cache_write_1h_tokens": row.cache_write_1h_tokens,
        "cache_hits": row.cache_hits,
        "cost_usd": row.cost_usd,
        "saved_usd": row.saved_usd,
    }


def ledger_store(config: Config) -> Store:
    """The store behind ``state.ledger``; relative SQLite paths from the config file's folder.

    Raises FileNotFoundError when a SQLite ledger does not exist yet (a report should not
    create an empty database in the wrong place), ValueError for an unknown URL scheme.
    """
    base = Path(config.source).parent if config.source and not config.source.startswith("<") else Path.cwd()
    url = config.state.ledger
    if url.startswith("sqlite://"):
        path = sqlite_path(url, base)
        if not path.is_file():
            raise FileNotFoundError(f"no ledger at {path} (has the gateway run with this config?)")
    return open_store(url, base)


async def report_from_config(config: Config, since: float, group_by: str) -> dict[str, Any]:
    """Open the configured ledger, build the report, close it."""
    check_grouping(group_by)
    store = ledger_store(config)
    await store.start()
    try:
        return await build_report(store, since, group_by)
    finally:
        await store.close()


async def build_report(store: Store, since: float, group_by: str) -> dict[str, Any]:
    """The report as a JSON-ready dict; raises ValueError for a grouping the stores do not know."""
    check_grouping(group_by)
    rows = [_row_doc(row) for row in await store.usage(since, group_by)]
    total: dict[str, Any] = {name: sum(row[name] for row in rows) for name in _COUNTS}
    total["cost_usd"] = sum(row["cost_usd"] for row in rows)
    total["saved_usd"] = sum(row["saved_usd"] for row in rows)
    return {
        "since": since,
        "since_iso": datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds"),
        "group_by": group_by,
        "rows": rows,
        "total": total,
    }


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_text(value: object) -> str:
    """A ledger value as text for a terminal: nothing in it that a terminal would act on."""
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(ch) for ch in text)


def _cell(value: object) -> str:
    # A markdown table cell: a "|" in a value would open another column.
    return terminal_text(value).replace("|", "\\|")


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # RFC 8259 section 7: a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def terminal_json(data: bytes) -> str:
    """Compact JSON (jsonio.dumps) with every character that is not printable escaped; such
    characters can only stand inside strings, so the document means the same."""
    text = data.decode("utf-8")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def _cells(doc: dict[str, Any]) -> list[str]:
    return [str(doc[name]) for name in _COUNTS] + [f"{doc['cost_usd']:.6f}", f"{doc['saved_usd']:.6f}"]


def render_table(report: dict[str, Any]) -> str:
    """An aligned markdown table: one line per group, then the total."""
    body = [[_cell(row["group"]), *_cells(row)] for row in report["rows"]]
    body.append(["total", *_cells(report["total"])])
    head = [_cell(report["group_by"]), *_HEADINGS]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:]))
        return "| " + " | ".join((first, *rest)) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2), *(("-" * (w + 1)) + ":" for w in widths[1:])]) + "|"
    lines = [f"usage since {terminal_text(report['since_iso'])} by {head[0]}", "", line(head), rule]
    lines.extend(line(cells) for cells in body)
    return "\n".join(lines) + "\n"
