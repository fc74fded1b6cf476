// ImageChat usage dashboard: signs in with a tenant id and its API secret (kept in sessionStorage
// only), then shows GET /api/v1/tenants/{tenant}/usage?minutes=N as KPI cards, an SVG chart and a
// table. Everything that comes from the API reaches the DOM through textContent / attributes.

const STORAGE = {
  tenant: "imagechat.dashboard.tenant",
  secret: "imagechat.dashboard.secret",
  minutes: "imagechat.dashboard.minutes",
};
const PERIODS = [60, 1440, 10080];
const REFRESH_MS = 10_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const METRICS = ["pubSubMessageCount", "pubSubBandwidth", "connections", "markersCreated"];
// The SVG namespace, taken from the HTML parser so that these files hold no URL at all.
const SVG_NS = new DOMParser().parseFromString("<svg></svg>", "text/html").body.firstElementChild.namespaceURI;

const $ = (selector, root = document) => root.querySelector(selector);

const numberFormat = new Intl.NumberFormat(undefined);
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const clockSecondsFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" });
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
});

// ---------------------------------------------------------------------------------------------
// State

const state = {
  tenant: "",
  secret: "",
  minutes: 60,
  signedIn: false,
  usage: null,        // the last good answer, normalised
  buckets: null,      // its chart buckets
  timer: 0,
  controller: null,   // AbortController of the request in flight
  inFlight: false,
  lastLoadedAt: 0,
};

function readStorage(key) {
  try { return sessionStorage.getItem(key); } catch { return null; }
}

function writeStorage(key, value) {
  try { sessionStorage.setItem(key, value); } catch { /* private mode: keep it in memory only */ }
}

function clearStorage() {
  for (const key of Object.values(STORAGE)) {
    try { sessionStorage.removeItem(key); } catch { /* ignore */ }
  }
}

// ---------------------------------------------------------------------------------------------
// API

class UsageError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** The secret or the tenant is wrong: only signing in again helps. */
  get isAuth() {
    return this.status === 401 || this.status === 404;
  }
}

const DEFAULT_MESSAGES = {
  0: "could not reach the ImageChat server: check your connection",
  401: "the API secret does not match this tenant",
  404: "no tenant has this id",
  429: "too many requests: try again in a few seconds",
};

async function fetchUsage(tenant, secret, minutes, signal) {
  const url = `/api/v1/tenants/${encodeURIComponent(tenant)}/usage?minutes=${minutes}`;
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Secret ${secret}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new UsageError(0, "network", DEFAULT_MESSAGES[0]);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10) || 0;
    const message = body && typeof body.message === "string" && body.message.trim()
      ? body.message
      : DEFAULT_MESSAGES[response.status] || `the server answered ${response.status}: try again in a moment`;
    const code = body && typeof body.error === "string" ? body.error : "http_error";
    throw new UsageError(response.status, code, message, retryAfter);
  }
  if (!body || typeof body !== "object") {
    throw new UsageError(response.status, "bad_response", "the server sent an answer this page cannot read");
  }
  return normalise(body, tenant, minutes);
}

const count = (value) => {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : 0;
};

/** Coerces the answer into the shape the page draws, whatever is missing or malformed. */
function normalise(body, tenant, minutes) {
  const to = Number.isFinite(Number(body.to)) && Number(body.to) > 0 ? Number(body.to) : Date.now();
  const from = Number.isFinite(Number(body.from)) && Number(body.from) < to ? Number(body.from) : to - minutes * MINUTE;
  const totals = {};
  for (const metric of METRICS) totals[metric] = count(body.totals && body.totals[metric]);
  const series = Array.isArray(body.series) ? body.series.filter((row) => row && Number.isFinite(Number(row.minute))) : [];
  const busiest = Array.isArray(body.busiestImages)
    ? body.busiestImages
      .filter((row) => row && row.urlId !== undefined && row.urlId !== null)
      .map((row) => ({ urlId: String(row.urlId), events: count(row.events) }))
    : [];
  return {
    tenant: typeof body.tenant === "string" && body.tenant ? body.tenant : tenant,
    name: typeof body.name === "string" ? body.name : "",
    from,
    to,
    minutes,
    bucketSeconds: count(body.bucketSeconds) || 60,
    totals,
    series,
    busiest,
  };
}

/**
 * The chart's buckets from `from` to `to`, gaps filled with zeros: minutes for the last hour,
 * hours (aligned on the local clock) for 24 hours and 7 days.
 */
function buildBuckets(usage) {
  const hourly = usage.minutes > 60;
  const size = hourly ? HOUR : Math.max(MINUTE, usage.bucketSeconds * 1000);
  let start;
  if (hourly) {
    const date = new Date(usage.from);
    date.setMinutes(0, 0, 0);
    start = date.getTime();
  } else {
    start = Math.floor(usage.from / size) * size;
  }
  // `to` may be the end of the period (from + minutes) or the start of its last, current minute
  // (then from + minutes is one minute after it): cover both, and whatever rows come just after.
  const end = Math.max(usage.to, usage.from + usage.minutes * MINUTE);
  let n = Math.max(1, Math.ceil((end - start) / size));
  const indexOf = (minute) => Math.floor((minute - start) / size);
  for (const row of usage.series) {
    if (indexOf(Number(row.minute)) === n) n += 1;
  }
  const buckets = Array.from({ length: n }, (_, i) => ({
    start: start + i * size,
    end: start + (i + 1) * size,
    pubSubMessageCount: 0,
    pubSubBandwidth: 0,
    connections: 0,
    markersCreated: 0,
  }));
  for (const row of usage.series) {
    const bucket = buckets[indexOf(Number(row.minute))];
    if (!bucket) continue;
    for (const metric of METRICS) bucket[metric] += count(row[metric]);
  }
  return { hourly, size, buckets };
}

// ---------------------------------------------------------------------------------------------
// Formatting

function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = count(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${numberFormat.format(value)} B`;
  const digits = value >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value)} ${units[unit]}`;
}

function formatRange(from, to, format) {
  if (typeof format.formatRange === "function") {
    try { return format.formatRange(from, to); } catch { /* fall through */ }
  }
  return `${format.format(from)} – ${format.format(to)}`;
}

function bucketLabel(bucket, hourly) {
  if (hourly) {
    return `${dateFormat.format(bucket.start)}, ${formatRange(bucket.start, bucket.end, hourFormat)}`;
  }
  return formatRange(bucket.start, bucket.end, clockFormat);
}

function plural(n, one, many) {
  return `${numberFormat.format(n)} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------------------------------------
// Views: sign-in and dashboard

const els = {};

function cacheElements() {
  els.signin = $("#signin");
  els.form = $("#signin-form");
  els.tenantInput = $("input[name=tenant]", els.form);
  els.secretInput = $("input[name=secret]", els.form);
  els.signinError = $(".signin-error", els.form);
  els.submit = $("button[type=submit]", els.form);
  els.dashboard = $("#dashboard");
  els.page = $("main.page", els.dashboard);
  els.tenantName = $("#tenant-name");
  els.tenantId = $("#tenant-id");
  els.range = $("#range");
  els.refresh = $("#refresh");
  els.refreshTime = $("#refresh-time");
  els.notice = $("#notice");
  els.periodButtons = [...document.querySelectorAll(".period button[data-minutes]")];
  els.legendBucket = $("#legend-bucket");
  els.chart = $("#chart");
  els.emptyState = $("#empty-state");
  els.tooltip = $("#chart-tooltip");
  els.busiestBody = $("#busiest-body");
  els.signout = $("#signout");
}

function showSignin({ error = "", tenant = state.tenant } = {}) {
  stopRefresh();
  state.signedIn = false;
  state.usage = null;
  state.buckets = null;
  els.page.classList.remove("is-loading");
  setNotice("");
  els.dashboard.hidden = true;
  els.signin.hidden = false;
  document.title = "ImageChat — usage dashboard";
  els.tenantInput.value = tenant || "";
  els.secretInput.value = "";
  setSigninError(error);
  setBusy(false);
  (els.tenantInput.value ? els.secretInput : els.tenantInput).focus();
}

function setSigninError(message) {
  els.signinError.textContent = message;
  els.signinError.hidden = !message;
  els.form.classList.toggle("has-error", Boolean(message));
  for (const input of [els.tenantInput, els.secretInput]) {
    if (message) input.setAttribute("aria-describedby", "signin-error");
    else input.removeAttribute("aria-describedby");
  }
}

function setBusy(busy) {
  els.submit.disabled = busy;
  els.submit.textContent = busy ? "Checking…" : "Show usage";
  els.form.setAttribute("aria-busy", String(busy));
}

function showDashboard() {
  els.signin.hidden = true;
  els.dashboard.hidden = false;
  state.signedIn = true;
  els.tenantId.textContent = state.tenant;
  if (!state.usage) {
    els.tenantName.textContent = state.tenant;
    els.range.textContent = "";
  }
  syncPeriodButtons();
}

function syncPeriodButtons() {
  for (const button of els.periodButtons) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.minutes) === state.minutes));
  }
}

function setNotice(message, kind = "warning") {
  els.notice.textContent = message;
  els.notice.hidden = !message;
  els.notice.dataset.kind = kind;
  els.refresh.classList.toggle("is-stale", Boolean(message));
}

// ---------------------------------------------------------------------------------------------
// Rendering the answer

function render(usage) {
  state.usage = usage;
  state.buckets = buildBuckets(usage);
  const name = usage.name || usage.tenant;
  els.tenantName.textContent = name;
  els.tenantId.textContent = usage.tenant;
  document.title = `${name} — ImageChat usage`;
  const rangeFormat = usage.minutes > 60 ? dateTimeFormat : clockFormat;
  els.range.textContent = formatRange(usage.from, usage.to, rangeFormat);
  renderKpis(usage.totals);
  renderChart();
  renderBusiest(usage.busiest);
  els.refreshTime.textContent = `Updated ${clockSecondsFormat.format(Date.now())}`;
}

function renderKpis(totals) {
  for (const metric of METRICS) {
    const el = document.querySelector(`.kpi-value[data-metric="${metric}"]`);
    const value = totals[metric];
    el.dataset.value = String(value);
    if (metric === "pubSubBandwidth") {
      el.textContent = formatBytes(value);
      el.title = `${numberFormat.format(value)} bytes`;
    } else {
      el.textContent = numberFormat.format(value);
    }
  }
}

function isEmpty(usage) {
  return usage.series.length === 0 && METRICS.every((metric) => usage.totals[metric] === 0);
}

function renderBusiest(rows) {
  const body = els.busiestBody;
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "busiest-empty";
    const td = document.createElement("td");
    td.colSpan = 3;
    td.textContent = "No image had live events in this period.";
    tr.append(td);
    body.append(tr);
    return;
  }
  const top = Math.max(...rows.map((row) => row.events), 1);
  rows.forEach((row, i) => {
    const tr = document.createElement("tr");
    const rank = document.createElement("td");
    rank.className = "col-rank";
    rank.textContent = String(i + 1);
    const image = document.createElement("td");
    image.className = "col-image";
    const urlId = document.createElement("span");
    urlId.className = "urlid";
    urlId.textContent = row.urlId;
    urlId.title = row.urlId;
    const share = document.createElement("span");
    share.className = "share";
    share.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "share-fill";
    fill.style.width = `${Math.max(2, Math.round((row.events / top) * 100))}%`;
    share.append(fill);
    image.append(urlId, share);
    const events = document.createElement("td");
    events.className = "col-events";
    events.textContent = numberFormat.format(row.events);
    events.dataset.value = String(row.events);
    tr.append(rank, image, events);
    body.append(tr);
  });
}

// ---------------------------------------------------------------------------------------------
// The chart (inline SVG)

function svgEl(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (parent) parent.append(el);
  return el;
}

/** A "nice" step (one of `factors` × 10^k) at least `raw`. */
function niceStep(raw, integer, factors = [1, 2, 2.5, 5, 10]) {
  if (!(raw > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normal = raw / magnitude;
  const factor = factors.find((f) => normal <= f + 1e-9) || 10;
  let step = Number((factor * magnitude).toPrecision(6));
  if (integer) step = Math.max(1, Math.ceil(step));
  return step;
}

/** Left axis: messages, about four intervals, integers. */
function messageScale(max) {
  const step = niceStep(Math.max(max, 1) / 4, true);
  const intervals = Math.max(1, Math.ceil(Math.max(max, 1) / step));
  return { step, intervals, top: step * intervals };
}

/** Right axis: bandwidth, with the same number of intervals as the left one so gridlines agree. */
function bandwidthScale(max, intervals) {
  const units = [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024], ["B", 1]];
  const [unit, factor] = units.find(([, size]) => max >= size) || units[units.length - 1];
  const step = niceStep(Math.max(max / factor, 1) / intervals, unit === "B", [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]);
  const digits = step % 1 === 0 ? 0 : step * 10 % 1 === 0 ? 1 : 2;
  const format = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return {
    top: step * intervals * factor,
    label: (i) => (i === 0 ? "0" : `${format.format(step * i)} ${unit}`),
  };
}

/** Ticks of the time axis: boundaries aligned on the local clock, far enough apart for a label. */
function timeTicks(buckets, size, plotWidth, span) {
  const first = buckets[0].start;
  const last = buckets[buckets.length - 1].end;
  const pxPerMs = plotWidth / (last - first);
  const clockWidth = Math.max(...[clockFormat.format(first), clockFormat.format(last)].map(textWidth));
  const candidates = span > 1440
    ? [6 * HOUR, 12 * HOUR, DAY, 2 * DAY]
    : span > 60
      ? [HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 12 * HOUR]
      : [5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 20 * MINUTE, 30 * MINUTE, HOUR];
  const labelWidth = span > 1440 ? Math.max(textWidth(dateFormat.format(first)), clockWidth) : clockWidth;
  const step = candidates.find((c) => c * pxPerMs >= labelWidth + 18) || candidates[candidates.length - 1];
  const aligned = (t) => {
    const date = new Date(t);
    if (step >= DAY) {
      if (date.getHours() !== 0 || date.getMinutes() !== 0) return false;
      const dayIndex = Math.round((t - new Date(date.getFullYear(), 0, 1).getTime()) / DAY);
      return dayIndex % (step / DAY) === 0;
    }
    if (step >= HOUR) return date.getMinutes() === 0 && date.getHours() % (step / HOUR) === 0;
    return date.getMinutes() % (step / MINUTE) === 0;
  };
  const ticks = [];
  for (let t = first; t <= last; t += Math.min(size, step)) {
    if (!aligned(t)) continue;
    const date = new Date(t);
    const midnight = date.getHours() === 0 && date.getMinutes() === 0;
    let label;
    if (span > 60 && midnight) label = dateFormat.format(t);
    else label = clockFormat.format(t);
    ticks.push({ t, x: (t - first) * pxPerMs, label, major: midnight && span > 60 });
  }
  return ticks;
}

/** Width of a label in the 12px axis font, estimated (the SVG is not measured before it is drawn). */
function textWidth(text) {
  let width = 0;
  for (const ch of String(text)) width += /[0-9]/.test(ch) ? 6.8 : /[\s.,:]/.test(ch) ? 3.4 : /[A-Z]/.test(ch) ? 8 : 6.6;
  return width;
}

function renderChart() {
  const container = els.chart;
  const old = $("svg.usage-chart", container);
  if (old) old.remove();
  hideTooltip();
  if (!state.usage || !state.buckets) return;

  const { buckets, size, hourly } = state.buckets;
  const usage = state.usage;
  const empty = isEmpty(usage);
  els.emptyState.hidden = !empty;
  els.legendBucket.textContent = hourly ? "per hour" : "per minute";

  const width = Math.max(280, Math.round(container.clientWidth || 640));
  const height = width < 560 ? 230 : 300;
  const maxMessages = Math.max(0, ...buckets.map((b) => b.pubSubMessageCount));
  const maxBandwidth = Math.max(0, ...buckets.map((b) => b.pubSubBandwidth));
  const left = messageScale(maxMessages);
  const right = bandwidthScale(maxBandwidth, left.intervals);
  const leftLabels = Array.from({ length: left.intervals + 1 }, (_, i) => numberFormat.format(left.step * i));
  const rightLabels = Array.from({ length: left.intervals + 1 }, (_, i) => right.label(i));

  const margin = {
    top: 12,
    right: Math.ceil(Math.max(...rightLabels.map(textWidth))) + 14,
    bottom: 30,
    left: Math.ceil(Math.max(...leftLabels.map(textWidth))) + 14,
  };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const band = plotWidth / buckets.length;
  const yMessages = (v) => margin.top + plotHeight - (v / left.top) * plotHeight;
  const yBandwidth = (v) => margin.top + plotHeight - (v / right.top) * plotHeight;
  const periodName = { 60: "last hour", 1440: "last 24 hours", 10080: "last 7 days" }[usage.minutes] || `last ${usage.minutes} minutes`;

  const svg = svgEl("svg", {
    class: "usage-chart",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": `Messages ${hourly ? "per hour" : "per minute"} and bandwidth, ${periodName}: `
      + `${plural(usage.totals.pubSubMessageCount, "message", "messages")}, ${formatBytes(usage.totals.pubSubBandwidth)}`,
  });
  svg.dataset.bucketSeconds = String(size / 1000);
  svg.dataset.buckets = String(buckets.length);

  // Gridlines and the two value axes.
  const grid = svgEl("g", { class: "grid" }, svg);
  const axisLeft = svgEl("g", { class: "axis axis-messages" }, svg);
  const axisRight = svgEl("g", { class: "axis axis-bandwidth" }, svg);
  for (let i = 0; i <= left.intervals; i += 1) {
    const y = Math.round(yMessages(left.step * i)) + 0.5;
    svgEl("line", { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: i === 0 ? "baseline" : "" }, grid);
    if (empty && i > 0) continue; // no scale to show: only the zero line
    const l = svgEl("text", { x: margin.left - 8, y, "text-anchor": "end", "dominant-baseline": "middle" }, axisLeft);
    l.textContent = leftLabels[i];
    const r = svgEl("text", { x: width - margin.right + 8, y, "text-anchor": "start", "dominant-baseline": "middle" }, axisRight);
    r.textContent = rightLabels[i];
  }

  // Time axis.
  const axisTime = svgEl("g", { class: "axis axis-time" }, svg);
  const baseline = margin.top + plotHeight;
  let lastRight = -Infinity;
  for (const tick of timeTicks(buckets, size, plotWidth, usage.minutes)) {
    const x = Math.round(margin.left + tick.x) + 0.5;
    const half = textWidth(tick.label) / 2;
    if (x - half < 2 || x + half > width - 2 || x - half < lastRight + 6) continue;
    lastRight = x + half;
    svgEl("line", { x1: x, x2: x, y1: baseline, y2: baseline + 5, class: "tick" }, axisTime);
    if (tick.major) svgEl("line", { x1: x, x2: x, y1: margin.top, y2: baseline, class: "day-line" }, grid);
    const text = svgEl("text", { x, y: baseline + 19, "text-anchor": "middle", class: tick.major ? "major" : "" }, axisTime);
    text.textContent = tick.label;
  }

  // Hover band (behind the bars).
  const hoverBand = svgEl("rect", {
    class: "hover-band", x: 0, y: margin.top, width: Math.max(1, band), height: plotHeight, visibility: "hidden",
  }, svg);

  // Bars: one per bucket with messages.
  const bars = svgEl("g", { class: "bars" }, svg);
  const gap = band >= 4 ? Math.min(band * 0.28, 8) : band >= 2.5 ? 0.8 : 0;
  const barWidth = Math.max(1, band - gap);
  buckets.forEach((bucket, i) => {
    if (bucket.pubSubMessageCount <= 0) return;
    const top = Math.min(yMessages(bucket.pubSubMessageCount), baseline - 2);
    const rect = svgEl("rect", {
      class: "bar",
      x: (margin.left + i * band + gap / 2).toFixed(2),
      y: top.toFixed(2),
      width: barWidth.toFixed(2),
      height: (baseline - top).toFixed(2),
      rx: barWidth >= 6 ? 2 : 0,
    }, bars);
    rect.dataset.start = String(bucket.start);
    rect.dataset.messages = String(bucket.pubSubMessageCount);
    rect.dataset.bandwidth = String(bucket.pubSubBandwidth);
    const title = svgEl("title", {}, rect);
    title.textContent = `${bucketLabel(bucket, hourly)}: ${plural(bucket.pubSubMessageCount, "message", "messages")}, ${formatBytes(bucket.pubSubBandwidth)}`;
  });

  // Bandwidth line (on every bucket, zeros included), with a soft area below.
  if (!empty) {
    const points = buckets.map((bucket, i) => [margin.left + (i + 0.5) * band, yBandwidth(bucket.pubSubBandwidth)]);
    const line = points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(2)},${y.toFixed(2)}`).join("");
    const area = `${line}L${points[points.length - 1][0].toFixed(2)},${baseline}L${points[0][0].toFixed(2)},${baseline}Z`;
    svgEl("path", { class: "bandwidth-area", d: area }, svg);
    svgEl("path", { class: "bandwidth-line", d: line, "stroke-width": band < 6 ? 1.5 : 2 }, svg);
  }
  const hoverDot = svgEl("circle", { class: "hover-dot", r: 4, cx: 0, cy: 0, visibility: "hidden" }, svg);

  // One transparent layer on top catches the pointer for the tooltip.
  const overlay = svgEl("rect", {
    class: "hit-area", x: margin.left, y: margin.top, width: plotWidth, height: plotHeight, fill: "transparent",
  }, svg);
  const onMove = (event) => {
    const box = svg.getBoundingClientRect();
    const scale = width / box.width;
    const x = (event.clientX - box.left) * scale;
    const i = Math.min(buckets.length - 1, Math.max(0, Math.floor((x - margin.left) / band)));
    const bucket = buckets[i];
    hoverBand.setAttribute("x", (margin.left + i * band).toFixed(2));
    hoverBand.setAttribute("visibility", "visible");
    if (!empty) {
      hoverDot.setAttribute("cx", (margin.left + (i + 0.5) * band).toFixed(2));
      hoverDot.setAttribute("cy", yBandwidth(bucket.pubSubBandwidth).toFixed(2));
      hoverDot.setAttribute("visibility", "visible");
    }
    showTooltip(bucket, hourly, (margin.left + (i + 0.5) * band) / scale, box);
  };
  const onLeave = () => {
    hoverBand.setAttribute("visibility", "hidden");
    hoverDot.setAttribute("visibility", "hidden");
    hideTooltip();
  };
  overlay.addEventListener("pointermove", onMove);
  overlay.addEventListener("pointerdown", onMove);
  overlay.addEventListener("pointerleave", onLeave);

  container.prepend(svg);
}

function showTooltip(bucket, hourly, xInSvg, box) {
  const tip = els.tooltip;
  tip.replaceChildren();
  const heading = document.createElement("p");
  heading.className = "tooltip-time";
  heading.textContent = bucketLabel(bucket, hourly);
  const list = document.createElement("dl");
  const rows = [
    ["Messages", numberFormat.format(bucket.pubSubMessageCount), "bar"],
    ["Bandwidth", formatBytes(bucket.pubSubBandwidth), "line"],
    ["Connections", numberFormat.format(bucket.connections), ""],
    ["Markers", numberFormat.format(bucket.markersCreated), ""],
  ];
  for (const [label, value, swatch] of rows) {
    const dt = document.createElement("dt");
    if (swatch) {
      const s = document.createElement("span");
      s.className = `swatch swatch-${swatch}`;
      dt.append(s);
    }
    dt.append(label);
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  tip.append(heading, list);
  tip.hidden = false;
  const chartBox = els.chart.getBoundingClientRect();
  const tipWidth = tip.offsetWidth;
  const anchor = box.left - chartBox.left + xInSvg;
  let leftPx = anchor + 14;
  if (leftPx + tipWidth > chartBox.width - 4) leftPx = anchor - 14 - tipWidth;
  tip.style.left = `${Math.max(4, leftPx)}px`;
  tip.style.top = "8px";
}

function hideTooltip() {
  if (els.tooltip) els.tooltip.hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Loading and auto-refresh

function stopRefresh() {
  clearTimeout(state.timer);
  state.timer = 0;
  if (state.controller) state.controller.abort();
  state.controller = null;
  state.inFlight = false;
}

function schedule(delay = REFRESH_MS) {
  clearTimeout(state.timer);
  state.timer = 0;
  if (!state.signedIn || document.hidden) return;
  state.timer = setTimeout(() => load({ background: true }), delay);
}

/** Loads the current period. A newer call (period change) aborts the one in flight. */
async function load({ background = false } = {}) {
  if (!state.signedIn) return;
  if (background && state.inFlight) return;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  state.inFlight = true;
  clearTimeout(state.timer);
  if (!background) els.page.classList.add("is-loading");
  let retryIn = REFRESH_MS;
  try {
    const usage = await fetchUsage(state.tenant, state.secret, state.minutes, controller.signal);
    if (controller.signal.aborted) return;
    state.lastLoadedAt = Date.now();
    setNotice("");
    render(usage);
  } catch (error) {
    if (controller.signal.aborted || (error && error.name === "AbortError")) return;
    if (error instanceof UsageError && error.isAuth) {
      // The secret was rotated or the tenant deleted: back to the sign-in card.
      clearStorage();
      showSignin({ error: error.message, tenant: state.tenant });
      return;
    }
    if (error instanceof UsageError && error.retryAfter) retryIn = Math.max(REFRESH_MS, error.retryAfter * 1000);
    const reason = error instanceof UsageError && error.status === 429
      ? "Too many requests right now"
      : `Couldn't load usage: ${error instanceof UsageError ? error.message : "something went wrong"}`;
    const retry = `retrying in ${Math.round(retryIn / 1000)} s`;
    setNotice(state.usage ? `${reason}. Showing the last figures; ${retry}.` : `${reason}. Retrying in ${Math.round(retryIn / 1000)} s.`);
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      state.inFlight = false;
      els.page.classList.remove("is-loading");
      schedule(retryIn);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Events

async function onSubmit(event) {
  event.preventDefault();
  const tenant = els.tenantInput.value.trim();
  const secret = els.secretInput.value.trim();
  if (!tenant) {
    setSigninError("enter your tenant id");
    els.tenantInput.focus();
    return;
  }
  if (!secret) {
    setSigninError("enter the tenant's API secret");
    els.secretInput.focus();
    return;
  }
  if (!/^[\x21-\x7e]+$/.test(secret)) {
    setSigninError("the API secret does not match this tenant");
    els.secretInput.select();
    return;
  }
  setSigninError("");
  setBusy(true);
  try {
    const usage = await fetchUsage(tenant, secret, state.minutes);
    state.tenant = tenant;
    state.secret = secret;
    writeStorage(STORAGE.tenant, tenant);
    writeStorage(STORAGE.secret, secret);
    writeStorage(STORAGE.minutes, String(state.minutes));
    els.secretInput.value = "";
    showDashboard();
    state.lastLoadedAt = Date.now();
    setNotice("");
    render(usage);
    schedule();
  } catch (error) {
    const message = error instanceof UsageError ? error.message : "something went wrong: try again";
    setSigninError(message);
    if (error instanceof UsageError && error.status === 401) els.secretInput.select();
    else if (error instanceof UsageError && error.status === 404) els.tenantInput.select();
  } finally {
    setBusy(false);
  }
}

function onPeriodClick(event) {
  const button = event.target.closest("button[data-minutes]");
  if (!button) return;
  const minutes = Number(button.dataset.minutes);
  if (!PERIODS.includes(minutes) || minutes === state.minutes) return;
  state.minutes = minutes;
  writeStorage(STORAGE.minutes, String(minutes));
  syncPeriodButtons();
  load();
}

function onSignout(event) {
  event.preventDefault();
  clearStorage();
  const tenant = state.tenant;
  state.secret = "";
  showSignin({ tenant });
}

function onVisibility() {
  if (!state.signedIn) return;
  if (document.hidden) {
    clearTimeout(state.timer);
    state.timer = 0;
    return;
  }
  const due = REFRESH_MS - (Date.now() - state.lastLoadedAt);
  if (due <= 0) load({ background: true });
  else schedule(due);
}

let lastChartWidth = 0;
function onResize() {
  const width = els.chart.clientWidth;
  if (!state.signedIn || !state.usage || Math.abs(width - lastChartWidth) < 2) return;
  lastChartWidth = width;
  renderChart();
}

function init() {
  cacheElements();
  els.form.addEventListener("submit", onSubmit);
  els.periodButtons.forEach((button) => button.addEventListener("click", onPeriodClick));
  els.signout.addEventListener("click", onSignout);
  document.addEventListener("visibilitychange", onVisibility);
  if (typeof ResizeObserver === "function") new ResizeObserver(onResize).observe(els.chart);
  else window.addEventListener("resize", onResize);

  const storedMinutes = Number(readStorage(STORAGE.minutes));
  if (PERIODS.includes(storedMinutes)) state.minutes = storedMinutes;
  syncPeriodButtons();

  const urlTenant = (new URLSearchParams(location.search).get("tenant") || "").trim();
  const storedTenant = readStorage(STORAGE.tenant) || "";
  const storedSecret = readStorage(STORAGE.secret) || "";
  els.submit.disabled = false;

  if (storedTenant && storedSecret && (!urlTenant || urlTenant === storedTenant)) {
    state.tenant = storedTenant;
    state.secret = storedSecret;
    showDashboard();
    load();
  } else {
    showSignin({ tenant: urlTenant || storedTenant });
  }
}

init();
