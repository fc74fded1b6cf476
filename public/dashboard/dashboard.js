// ImageChat usage dashboard: signs in with a tenant id and its API secret, then shows
// GET /api/v1/tenants/{tenant}/usage?minutes=N as totals, a uPlot chart (served from /vendor/uplot,
// never a CDN) and a table. Data from the API reaches the DOM through textContent and attributes only.
/* global uPlot */

const KEYS = { tenant: "imagechat.dashboard.tenant", secret: "imagechat.dashboard.secret", minutes: "imagechat.dashboard.minutes" };
const PERIODS = { 60: "Last hour", 1440: "Last 24 hours", 10080: "Last 7 days" };
const METRICS = ["pubSubMessageCount", "pubSubBandwidth", "connections", "markersCreated"];
const REFRESH_MS = 10_000;
const MESSAGES = { 0: "could not reach the ImageChat server: check your connection", 401: "the API secret does not match this tenant",
  404: "no tenant has this id", 429: "too many requests: try again in a few seconds" };
const $ = (id) => document.getElementById(id);
const form = $("signin-form");
const [tenantInput, secretInput, submit] = ["[name=tenant]", "[name=secret]", "button"].map((s) => form.querySelector(s));
const periodButtons = [...document.querySelectorAll(".period button")];
const number = (n) => new Intl.NumberFormat().format(n);
const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayClock = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric" });
const formatRange = (from, to, format) => format.formatRange?.(from, to) ?? `${format.format(from)} – ${format.format(to)}`;
const state = { tenant: "", secret: "", minutes: 60, usage: null, chart: null, timer: 0, controller: null, loadedAt: 0 };

// The tenant id is remembered in this browser, the secret only in this tab (sessionStorage).
const store = (key) => (key === "secret" ? sessionStorage : localStorage);
const read = (key) => { try { return store(key).getItem(KEYS[key]) || ""; } catch { return ""; } };
const write = (key, value) => { try { store(key).setItem(KEYS[key], value); } catch { /* private mode */ } };
const forget = (key) => { try { store(key).removeItem(KEYS[key]); } catch { /* private mode */ } };

async function fetchUsage(tenant, secret, minutes, signal) {
  const fail = (status, message, retryAfter = 0) => Object.assign(new Error(message), { status, retryAfter, isAuth: status === 401 || status === 404 });
  const response = await fetch(`/api/v1/tenants/${encodeURIComponent(tenant)}/usage?minutes=${minutes}`, {
    headers: { Authorization: `Secret ${secret}`, Accept: "application/json" }, cache: "no-store", signal,
  }).catch((error) => { throw error.name === "AbortError" ? error : fail(0, MESSAGES[0]); });
  const body = await response.json().catch(() => null);
  const message = body?.message || MESSAGES[response.status] || `the server answered ${response.status}: try again in a moment`;
  if (!response.ok) throw fail(response.status, message, Number.parseInt(response.headers.get("Retry-After"), 10) || 0);
  if (!body?.totals || !Array.isArray(body.series)) throw fail(response.status, "the server sent an answer this page cannot read");
  return { ...body, minutes, tenant: body.tenant || tenant, busiest: body.busiestImages || [] };
}

const units = [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024], ["B", 1]];
const unitOf = (bytes) => units.find(([, size]) => bytes >= size) || units[3];
const formatBytes = (bytes, [unit, size] = unitOf(bytes)) => `${number(+(bytes / size).toFixed(size === 1 || bytes / size >= 100 ? 0 : 1))} ${unit}`;

/** The smallest "nice" step (a factor × 10^k) that covers `max` in `intervals` intervals. */
function niceStep(max, intervals, factors) {
  const raw = Math.max(max, 1e-9) / intervals;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return Number((factors.find((f) => f * magnitude >= raw * (1 - 1e-9)) * magnitude).toPrecision(6));
}

/** Per-minute buckets for the last hour, per hour (on the local clock) beyond; gaps hold zeros. */
function buckets(usage) {
  const size = usage.minutes > 60 ? 3_600_000 : 60_000;
  const start = size > 60_000 ? new Date(usage.from).setMinutes(0, 0, 0) : usage.from;
  const n = Math.max(1, Math.ceil((usage.to - start) / size));
  const data = [Array.from({ length: n }, (_, i) => (start + (i + 0.5) * size) / 1000), ...METRICS.map(() => new Array(n).fill(0))];
  for (const row of usage.series) {
    const i = Math.floor((row.minute - start) / size);
    if (i >= 0 && i < n) METRICS.forEach((m, k) => { data[k + 1][i] += row[m] || 0; });
  }
  return { size, data };
}

function renderChart() {
  state.chart?.destroy();
  state.chart = null;
  const { usage } = state;
  if (!usage || typeof uPlot !== "function") return;
  const { size, data } = buckets(usage);
  const hourly = size > 60_000;
  $("empty").hidden = data.slice(1).some((values) => values.some((v) => v > 0));
  [$("chart-unit").textContent, $("chart-bucket").textContent] = hourly ? ["per hour", "hour"] : ["per minute", "minute"];

  // Both value axes have the same number of intervals, so that one set of gridlines suits both.
  const step = Math.max(1, Math.ceil(niceStep(Math.max(1, ...data[1]), 4, [1, 2, 5, 10])));
  const intervals = Math.ceil(Math.max(1, ...data[1]) / step);
  const [unit, unitSize] = unitOf(Math.max(...data[2]));
  const bytesStep = Math.max(unitSize === 1 ? 1 : 0, niceStep(Math.max(1, ...data[2]) / unitSize, intervals, [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]));
  const [topMessages, topBytes] = [step * intervals, Math.ceil(bytesStep * intervals * unitSize)];
  const splits = (top) => () => Array.from({ length: intervals + 1 }, (_, i) => (top * i) / intervals);

  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const measure = Object.assign(document.createElement("canvas").getContext("2d"), { font: `12px ${getComputedStyle(document.body).fontFamily}` });
  const axis = {
    stroke: color("--muted"), font: measure.font, gap: 6, grid: { stroke: color("--grid"), width: 1 }, ticks: { show: false },
    size: (u, values) => Math.ceil(Math.max(24, ...(values || []).map((v) => measure.measureText(v).width))) + 14,
  };
  const timeLabel = (t) => (hourly && t.getHours() === 0 ? day.format(t) : clock.format(t));
  // The legend is the hover read-out; away from the chart it shows the period and its totals.
  const value = (metric, format) => (u, v, s, idx) => format(idx == null ? usage.totals[metric] : v ?? 0);
  const quiet = { scale: "messages", paths: () => null, points: { show: false } };
  state.chart = new uPlot({
    class: "usage-chart", width: Math.max(280, $("chart").clientWidth), height: $("chart").clientWidth < 560 ? 240 : 300,
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: true, range: () => [data[0][0] - size / 2000, data[0].at(-1) + size / 2000] },
      messages: { range: () => [0, topMessages] },
      bytes: { range: () => [0, topBytes] },
    },
    series: [
      { label: "Time", value: (u, v, s, idx) => (idx == null ? PERIODS[usage.minutes]
        : formatRange(v * 1000 - size / 2, v * 1000 + size / 2, hourly ? dayClock : clock)) },
      { label: "Messages", scale: "messages", fill: color("--accent"), stroke: color("--accent"), width: 0, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.7, 40], radius: 0.15 }), value: value("pubSubMessageCount", number) },
      { label: "Bandwidth", scale: "bytes", stroke: color("--bandwidth"), fill: color("--bandwidth-soft"), width: 2,
        points: { show: false }, value: value("pubSubBandwidth", formatBytes) },
      { label: "Connections", ...quiet, value: value("connections", number) },
      { label: "Markers", ...quiet, value: value("markersCreated", number) },
    ],
    axes: [
      { ...axis, size: 32, grid: { show: false }, values: (u, ticks) => ticks.map((t) => timeLabel(new Date(t * 1000))) },
      { ...axis, scale: "messages", splits: splits(topMessages), values: (u, ticks) => ticks.map(number) },
      { ...axis, scale: "bytes", side: 1, grid: { show: false }, splits: splits(topBytes),
        values: (u, ticks) => ticks.map((v) => (v ? `${+(v / unitSize).toFixed(2)} ${unit}` : "0")) },
    ],
  }, data, $("chart"));
  Object.assign(state.chart.root.dataset, { buckets: data[0].length, messages: data[1].reduce((a, b) => a + b, 0) });
  const label = "Messages and bandwidth; the legend reads out the values under the pointer";
  Object.assign(state.chart.root.querySelector(".u-over"), { role: "img", ariaLabel: label });
}

function render(usage) {
  Object.assign(state, { usage, loadedAt: Date.now() });
  $("tenant-id").textContent = usage.tenant;
  $("tenant-name").textContent = usage.name || usage.tenant;
  document.title = `${usage.name || usage.tenant} — ImageChat usage`;
  $("range").textContent = formatRange(usage.from, usage.to, usage.minutes > 60 ? dayClock : clock);
  for (const metric of METRICS) {
    const el = document.querySelector(`[data-metric="${metric}"]`);
    const value = Number(usage.totals[metric]) || 0;
    const bytes = metric === "pubSubBandwidth";
    Object.assign(el, { textContent: bytes ? formatBytes(value) : number(value), title: bytes ? `${number(value)} bytes` : "" });
    el.dataset.value = String(value);
  }
  renderChart();
  const rows = usage.busiest.map((row, i) => {
    const tr = $("busiest-row").content.firstElementChild.cloneNode(true);
    [tr.cells[0].textContent, tr.cells[2].textContent, tr.cells[2].dataset.value] = [i + 1, number(row.events), row.events];
    Object.assign(tr.querySelector(".urlid"), { textContent: row.urlId, title: row.urlId });
    tr.querySelector(".share span").style.width = `${Math.max(2, Math.round((100 * row.events) / Math.max(1, usage.busiest[0].events)))}%`;
    return tr;
  });
  $("busiest-body").replaceChildren(...rows);
  $("busiest-none").hidden = rows.length > 0;
  $("refresh-time").textContent = `· Updated ${new Date().toLocaleTimeString()}`;
}

function setNotice(message) {
  Object.assign($("notice"), { textContent: message, hidden: !message });
  $("refresh").classList.toggle("stale", Boolean(message));
}

function setSigninError(message) {
  Object.assign($("signin-error"), { textContent: message, hidden: !message });
  for (const input of [tenantInput, secretInput]) {
    input.toggleAttribute("aria-invalid", Boolean(message));
    input.setAttribute("aria-describedby", message ? "signin-error" : "");
  }
}

function showSignin(error = "") {
  stop();
  Object.assign(state, { secret: "", usage: null });
  renderChart(); // removes the chart
  setNotice("");
  [$("dashboard").hidden, $("signin").hidden, document.title] = [true, false, "ImageChat — usage dashboard"];
  [tenantInput.value, secretInput.value] = [state.tenant, ""];
  setSigninError(error);
  (tenantInput.value ? secretInput : tenantInput).focus();
}

function showDashboard() {
  [$("signin").hidden, $("dashboard").hidden] = [true, false];
  if (!state.usage) $("tenant-id").textContent = $("tenant-name").textContent = state.tenant;
  for (const b of periodButtons) b.setAttribute("aria-pressed", String(Number(b.dataset.minutes) === state.minutes));
}

function stop() {
  clearTimeout(state.timer);
  state.controller?.abort();
  state.controller = null;
}
function schedule(delay = REFRESH_MS) {
  clearTimeout(state.timer);
  if (state.secret && !document.hidden) state.timer = setTimeout(() => load(true), delay);
}

/** Loads the current period; a newer call (a period change) aborts the one in flight. */
async function load(background = false) {
  if (!state.secret || (background && state.controller)) return;
  stop();
  const controller = new AbortController();
  state.controller = controller;
  $("page").classList.toggle("loading", !background);
  let retryIn = REFRESH_MS;
  try {
    render(await fetchUsage(state.tenant, state.secret, state.minutes, controller.signal));
    setNotice("");
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error.isAuth) { // the secret was rotated or the tenant deleted: only signing in again helps
      forget("secret");
      return showSignin(error.message);
    }
    retryIn = Math.max(REFRESH_MS, (error.retryAfter || 0) * 1000);
    const reason = error.status === 429 ? "Too many requests right now" : `Couldn't load usage: ${error.message}`;
    setNotice(`${reason}. ${state.usage ? "Showing the last figures; retrying" : "Retrying"} in ${retryIn / 1000} s.`);
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      $("page").classList.remove("loading");
      schedule(retryIn);
    }
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const [tenant, secret] = [tenantInput.value.trim(), secretInput.value.trim()];
  const problem = !tenant ? "enter your tenant id" : !secret ? "enter the tenant's API secret" : /^[\x21-\x7e]+$/.test(secret) ? "" : MESSAGES[401];
  setSigninError(problem);
  if (problem) return (tenant ? secretInput : tenantInput).focus();
  Object.assign(submit, { disabled: true, textContent: "Checking…" });
  try {
    const usage = await fetchUsage(tenant, secret, state.minutes);
    Object.assign(state, { tenant, secret });
    write("tenant", tenant), write("secret", secret);
    showDashboard();
    render(usage);
    schedule();
  } catch (error) {
    setSigninError(error.message);
    (error.status === 404 ? tenantInput : secretInput).select();
  } finally {
    Object.assign(submit, { disabled: false, textContent: "Show usage" });
  }
});

for (const button of periodButtons) button.addEventListener("click", () => {
  state.minutes = Number(button.dataset.minutes);
  write("minutes", String(state.minutes));
  showDashboard();
  load();
});

$("signout").addEventListener("click", (event) => {
  event.preventDefault();
  forget("secret");
  showSignin();
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) clearTimeout(state.timer);
  else if (state.secret) schedule(Math.max(0, REFRESH_MS - (Date.now() - state.loadedAt)));
});
new ResizeObserver(() => {
  const width = $("chart").clientWidth;
  if (state.chart && Math.abs(width - state.chart.width) >= 2) state.chart.setSize({ width, height: width < 560 ? 240 : 300 });
}).observe($("chart"));
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", renderChart);

// Straight to the dashboard when this tab already holds the secret of the tenant asked for.
const urlTenant = (new URLSearchParams(location.search).get("tenant") || "").trim();
state.tenant = urlTenant || read("tenant");
state.minutes = Number(read("minutes")) in PERIODS ? Number(read("minutes")) : 60;
submit.disabled = false;
if (read("secret") && (!urlTenant || urlTenant === read("tenant"))) {
  state.secret = read("secret");
  showDashboard();
  load();
} else {
  showSignin();
}
