/* The llm-edge dashboard (GET /ui): signs in with the admin key, reads the admin JSON endpoints
 * (documented in /openapi.json) and draws them; charts by uPlot (vendored, see VENDORED.md).
 *
 * The admin key lives in this tab's sessionStorage only and travels as an Authorization header
 * to this origin. Text from the server (model names, tags, key names, error messages) is only
 * ever set as textContent, never as HTML. */
"use strict";

(function () {
  const KEY_SLOT = "edge.admin_key";
  const COLORS = ["#2f6fdf", "#e4572e", "#29a35a", "#a259d9", "#f0a202", "#17a2b8", "#d63384", "#6c757d", "#8c564b", "#7f7f00"];
  const REFRESH_MS = 60000;
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let timer = null;
  let keyNames = {};
  let loads = 0; // a newer load wins: an older answer that arrives late is dropped

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function cell(text, cls) {
    return el("td", { class: cls || "", text: text });
  }

  function usd(value, digits) {
    if (value === null || value === undefined) return "-";
    const places = digits !== undefined ? digits : Math.abs(value) >= 1 ? 2 : 4;
    return "$" + value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  function count(value) {
    return value === null || value === undefined ? "-" : Number(value).toLocaleString("en-US");
  }

  function ms(value) {
    if (value === null || value === undefined) return "-";
    return value >= 1000 ? (value / 1000).toFixed(2) + " s" : value.toFixed(1) + " ms";
  }

  function when(ts) {
    return ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "-";
  }

  function span(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds % 3600 === 0) return seconds / 3600 + " h";
    return seconds / 60 + " min";
  }

  function fill(table, rows, empty) {
    const body = table.tBodies[0];
    body.replaceChildren(...rows);
    if (!rows.length) {
      const columns = table.tHead.rows[0].cells.length;
      body.append(el("tr", { class: "empty" }, el("td", { colSpan: columns, text: empty })));
    }
  }

  // ---- the API -------------------------------------------------------------------------------

  class SignedOut extends Error {}

  async function api(path, options) {
    const key = sessionStorage.getItem(KEY_SLOT);
    if (!key) throw new SignedOut("Signed out.");
    const init = Object.assign({ cache: "no-store" }, options || {});
    init.headers = Object.assign({ authorization: "Bearer " + key }, init.headers || {});
    const response = await fetch(path, init);
    let body = null;
    try {
      body = await response.json();
    } catch (ignored) {
      body = null;
    }
    if (response.status === 401 || response.status === 403) {
      throw new SignedOut(body && body.error ? body.error.message : "HTTP " + response.status);
    }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : "HTTP " + response.status;
      throw new Error(path.split("?")[0] + ": " + message);
    }
    return body;
  }

  function query() {
    const since = $("period").value;
    const group = $("group").value === "tag" ? "tag:" + ($("tag").value.trim() || "customer") : $("group").value;
    return { since: since, group_by: group };
  }

  // ---- sections ------------------------------------------------------------------------------

  function groupName(group, groupBy) {
    if (groupBy === "key") return keyNames[group] ? keyNames[group] + " (" + group + ")" : group;
    return group;
  }

  function drawChart(id, series, buckets, field, groupBy, format, axisFormat) {
    const holder = $(id);
    if (charts[id]) charts[id].destroy();
    holder.replaceChildren();
    const data = [buckets];
    const lines = [{}];
    series.forEach((s, i) => {
      data.push(field(s));
      lines.push({
        label: groupName(s.group, groupBy),
        stroke: COLORS[i % COLORS.length],
        width: 2,
        points: { show: buckets.length < 80 },
        value: (u, v) => (v === null ? "-" : format(v)),
      });
    });
    const options = {
      width: Math.max(holder.clientWidth, 320),
      height: 220,
      series: lines,
      scales: { x: { time: true } },
      axes: [{}, { values: (u, ticks) => ticks.map(axisFormat || format), size: 70 }],
      legend: { show: true },
    };
    charts[id] = new uPlot(options, data, holder);
  }

  function renderSpend(report, series) {
    const total = report.total;
    const spend = $("total-spend");
    spend.textContent = usd(total.cost_usd);
    spend.dataset.usd = String(total.cost_usd);
    spend.title = usd(total.cost_usd, 6);
    $("total-tokens").textContent = count(total.prompt_tokens + total.completion_tokens);
    $("total-requests").textContent = count(total.requests);
    $("total-errors").textContent = count(total.errors);
    for (const label of document.querySelectorAll(".bucket-label")) label.textContent = span(series.bucket_s);
    drawChart("chart-spend", series.series, series.buckets, (s) => s.cost_usd, series.group_by, (v) => usd(v), (v) => usd(v, 2));
    drawChart("chart-tokens", series.series, series.buckets, (s) => s.prompt_tokens.map((p, i) => p + s.completion_tokens[i]), series.group_by, count);
    $("group-heading").textContent = report.group_by;
    fill($("groups-table"), report.rows.map((row) => el("tr", { "data-group": row.group },
      cell(groupName(row.group, report.group_by)), cell(count(row.requests), "num"), cell(count(row.errors), "num"),
      cell(count(row.prompt_tokens), "num"), cell(count(row.completion_tokens), "num"), cell(count(row.cached_tokens), "num"),
      cell(count(row.reasoning_tokens), "num"), cell(usd(row.cost_usd), "num"))), "No requests in this period.");
  }

  function renderTraffic(doc) {
    fill($("traffic-table"), doc.data.map((row) => {
      const types = Object.entries(row.errors_by_type).map(([type, n]) => type + ": " + n).join(", ");
      return el("tr", { "data-model": row.model, "data-route": row.route },
        cell(row.model), cell(row.route), cell(count(row.requests), "num"), cell(count(row.errors), row.errors ? "num bad" : "num"),
        cell(types || "-"), cell(ms(row.p50_ms), "num"), cell(ms(row.p99_ms), "num"));
    }), "No requests in this period.");
  }

  function renderRoutes(doc) {
    const c = doc.cooldown;
    $("cooldown-config").textContent = "A route is ejected after " + c.consecutive_failures + " failed requests in a row, or when " +
      c.failure_percent + "% of at least " + c.min_requests + " requests in " + c.window_s + " s failed (retries that recovered do not count); it is skipped for " +
      c.base_ejection_s + " s times its ejections in a row (at most " + c.max_ejection_s + " s), then probed with one request; at most " +
      c.max_ejection_percent + "% of a model's routes at once. Cooldowns as seen by " + doc.scope + ".";
    fill($("routes-table"), doc.data.map((row) => el("tr", { "data-route": row.route, class: row.cooling_down ? "cooling" : "" },
      cell(row.route), cell(row.public_models.join(", ") || "-"),
      el("td", {}, el("span", { class: "state state-" + row.state, text: row.state.replace("_", "-") })),
      cell(row.retry_in_s ? row.retry_in_s.toFixed(0) + " s" : "-", "num"), cell(count(row.in_flight), "num"),
      cell(row.reason || (Object.keys(row.recent_failures).length ? "recent failures: " + Object.entries(row.recent_failures).map(([k, n]) => n + " x " + k).join(", ") : "-")))),
      "No routes configured.");
  }

  function renderBudgets(doc) {
    fill($("budgets-table"), doc.data.map((row) => {
      const used = Math.min(row.used, 1);
      return el("tr", { "data-budget": row.scope + ":" + row.name, class: row.used >= 1 ? "spent" : "" },
        cell(row.scope + (row.source === "config" ? " (config)" : "")), cell(row.name), cell(row.period + " from " + when(row.period_start)),
        cell(usd(row.usd, 2), "num"), cell(usd(row.spent_usd), "num"),
        el("td", {}, el("meter", { min: 0, max: 1, low: 0.75, high: 0.9, optimum: 0, value: used }), " " + (row.used * 100).toFixed(1) + "%"));
    }), "No budgets: set budget_usd on a key or budgets in the config.");
  }

  function renderKeys(doc) {
    const showRevoked = $("show-revoked").checked;
    keyNames = {};
    for (const key of doc.data) keyNames[key.id] = key.name;
    const rows = doc.data.filter((key) => showRevoked || !key.revoked).map((key) => {
      const tags = key.tags ? Object.entries(key.tags).map(([k, v]) => k + "=" + v).join(", ") : "-";
      const action = key.revoked ? el("span", { class: "muted", text: "revoked" })
        : el("button", { type: "button", class: "revoke", text: "Revoke", onclick: () => revoke(key) });
      return el("tr", { "data-key-id": key.id, "data-key-name": key.name, class: key.revoked ? "revoked" : "" },
        cell(key.name), cell(key.id), cell(key.prefix), cell(key.models ? key.models.join(", ") : "all"),
        cell(count(key.rpm), "num"), cell(count(key.tpm), "num"),
        cell(key.budget_usd === null ? "-" : usd(key.budget_usd, 2) + "/" + key.period, "num"), cell(tags),
        cell(when(key.created_at)), cell(when(key.expires_at)), el("td", {}, action));
    });
    fill($("keys-table"), rows, "No keys yet.");
  }

  // ---- loading -------------------------------------------------------------------------------

  async function load() {
    const mine = ++loads;
    const q = query();
    const params = "since=" + encodeURIComponent(q.since) + "&group_by=" + encodeURIComponent(q.group_by);
    try {
      const [keys, report, series, traffic, routes, budgets] = await Promise.all([
        api("/v1/keys"), api("/v1/usage?" + params), api("/v1/usage/series?" + params),
        api("/v1/usage/routes?since=" + encodeURIComponent(q.since)), api("/v1/routes"), api("/v1/budgets"),
      ]);
      if (mine !== loads) return;
      renderKeys(keys);
      renderSpend(report, series);
      renderTraffic(traffic);
      renderRoutes(routes);
      renderBudgets(budgets);
      $("error").hidden = true;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = String(mine);
    } catch (error) {
      if (mine !== loads) return;
      if (error instanceof SignedOut) return signOut(error.message);
      $("error").textContent = error.message;
      $("error").hidden = false;
    }
  }

  async function revoke(key) {
    if (!window.confirm("Revoke the key '" + key.name + "'? Requests with it fail within a second.")) return;
    try {
      await api("/v1/keys/" + encodeURIComponent(key.id), { method: "DELETE" });
    } catch (error) {
      if (error instanceof SignedOut) return signOut(error.message);
      $("key-error").textContent = error.message;
    }
    await load();
  }

  function keySpec(form) {
    const data = new FormData(form);
    const spec = { name: data.get("name").trim(), period: data.get("period") };
    const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
    const models = list(data.get("models"));
    if (models.length) spec.models = models;
    for (const field of ["rpm", "tpm"]) if (data.get(field)) spec[field] = parseInt(data.get(field), 10);
    if (data.get("budget_usd")) spec.budget_usd = parseFloat(data.get("budget_usd"));
    const tags = {};
    for (const pair of list(data.get("tags"))) {
      const at = pair.indexOf("=");
      if (at < 1 || at === pair.length - 1) throw new Error("Tags are name=value pairs separated by commas: '" + pair + "'.");
      tags[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
    if (Object.keys(tags).length) spec.tags = tags;
    if (data.get("expires").trim()) spec.expires = data.get("expires").trim();
    return spec;
  }

  async function createKey(event) {
    event.preventDefault();
    const form = event.target;
    $("key-error").textContent = "";
    try {
      const made = await api("/v1/keys", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(keySpec(form)) });
      $("new-key-name").textContent = made.name;
      $("new-key-value").textContent = made.key;
      $("new-key").hidden = false;
      form.reset();
    } catch (error) {
      if (error instanceof SignedOut) return signOut(error.message);
      $("key-error").textContent = error.message;
      return;
    }
    await load();
  }

  // ---- signing in and out --------------------------------------------------------------------

  function show(signedIn) {
    $("signin").hidden = signedIn;
    $("board").hidden = !signedIn;
    $("controls").hidden = !signedIn;
    clearInterval(timer);
    // Each load scans the period's ledger rows: refresh only while someone can see the page.
    timer = signedIn ? setInterval(() => { if (document.visibilityState === "visible") load(); }, REFRESH_MS) : null;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_SLOT);
    $("new-key").hidden = true;
    $("new-key-value").textContent = "";
    $("signin-error").textContent = message || "";
    show(false);
    $("admin-key").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const input = $("admin-key");
    sessionStorage.setItem(KEY_SLOT, input.value.trim());
    input.value = "";
    $("signin-error").textContent = "";
    try {
      await api("/v1/routes");
    } catch (error) {
      return signOut(error instanceof SignedOut ? "Not signed in: " + error.message : error.message);
    }
    show(true);
    await load();
  }

  function start() {
    $("signin-form").addEventListener("submit", signIn);
    $("controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    $("period").addEventListener("change", load);
    $("group").addEventListener("change", () => { $("tag-label").hidden = $("group").value !== "tag"; load(); });
    $("tag").addEventListener("change", load);
    $("signout").addEventListener("click", () => signOut("Signed out."));
    $("key-form").addEventListener("submit", createKey);
    $("show-revoked").addEventListener("change", load);
    $("new-key-copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("new-key-value").textContent));
    $("new-key-done").addEventListener("click", () => { $("new-key").hidden = true; $("new-key-value").textContent = ""; });
    window.addEventListener("resize", () => {
      for (const [id, chart] of Object.entries(charts)) chart.setSize({ width: Math.max($(id).clientWidth, 320), height: 220 });
    });
    if (sessionStorage.getItem(KEY_SLOT)) {
      show(true);
      load();
    } else {
      show(false);
    }
  }

  start();
})();
