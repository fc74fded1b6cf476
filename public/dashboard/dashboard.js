// ImageChat usage dashboard: signs in with a tenant id and its API secret, then shows
// GET /api/v1/tenants/{tenant}/usage?minutes=N as totals, a uPlot chart (served from /vendor/uplot,
// never a CDN) and a table. Data from the API reaches the DOM through textContent and attributes only.
/* global uPlot */

// Every word of the page, in each language it speaks: the HTML's [data-i18n], [data-i18n-placeholder]
// and [data-i18n-aria-label] elements name theirs. A language is chosen as the widget's is (README,
// "Languages"): `?lang=`, else the browser's languages, else English.
export const CATALOGUES = {
  en: {
    "page.title": "ImageChat — usage dashboard", "page.tenant_title": "{name} — ImageChat usage",
    "signin.title": "Usage dashboard",
    "signin.intro": "See the live traffic of your site: messages, bandwidth, connections and the images people discuss most.",
    "signin.tenant": "Tenant id", "signin.tenant_example": "e.g. acme-design", "signin.secret": "API secret",
    "signin.printed_by": "Printed by", "signin.or": "or", "signin.stays": "It stays in this browser tab only.",
    "signin.submit": "Show usage", "signin.checking": "Checking…",
    "signin.need_tenant": "enter your tenant id", "signin.need_secret": "enter the tenant's API secret",
    "top.usage": "Usage", "top.signout": "Sign out", "head.tenant": "Tenant",
    "period.label": "Period", "period.button_60": "Last hour", "period.button_1440": "24 hours", "period.button_10080": "7 days",
    "period.60": "Last hour", "period.1440": "Last 24 hours", "period.10080": "Last 7 days",
    "refresh.every": "Auto-refresh every 10 s", "refresh.updated": "· Updated {time}",
    "kpi.label": "Totals for the period",
    "kpi.messages": "Messages sent", "kpi.messages_note": ": WebSocket frames sent to viewers",
    "kpi.bandwidth": "Bandwidth", "kpi.bandwidth_note": ": bytes sent",
    "kpi.connections": "Connections opened", "kpi.connections_note": "Live WebSocket connections from viewers",
    "kpi.markers": "Markers created", "kpi.markers_note": "New threads pinned on images",
    "chart.title_minute": "Messages per minute and bandwidth", "chart.title_hour": "Messages per hour and bandwidth",
    "chart.hint_minute": "Point at the chart for one minute; click a series to hide it",
    "chart.hint_hour": "Point at the chart for one hour; click a series to hide it",
    "chart.empty": "No live traffic in this period yet",
    "chart.label": "Messages and bandwidth; the legend reads out the values under the pointer",
    "series.time": "Time", "series.messages": "Messages", "series.bandwidth": "Bandwidth",
    "series.connections": "Connections", "series.markers": "Markers",
    "bytes.B": "B", "bytes.KB": "KB", "bytes.MB": "MB", "bytes.GB": "GB", "bytes.title": "{count} bytes",
    "busiest.title": "Busiest images", "busiest.note": "Live events per image in this period",
    "busiest.image": "Image", "busiest.events": "Events", "busiest.none": "No image had live events in this period.",
    "error.0": "could not reach the ImageChat server: check your connection",
    "error.401": "the API secret does not match this tenant", "error.404": "no tenant has this id",
    "error.429": "too many requests: try again in a few seconds",
    "error.status": "the server answered {status}: try again in a moment",
    "error.unreadable": "the server sent an answer this page cannot read",
    "notice.busy": "Too many requests right now", "notice.failed": "Couldn't load usage: {reason}",
    "notice.retrying": "{problem}. Retrying in {seconds} s.",
    "notice.retrying_last": "{problem}. Showing the last figures; retrying in {seconds} s.",
  },
  fr: {
    "page.title": "ImageChat — tableau de bord d'utilisation", "page.tenant_title": "{name} — utilisation d'ImageChat",
    "signin.title": "Tableau de bord d'utilisation",
    "signin.intro": "Le trafic en direct de votre site : messages, bande passante, connexions et les images les plus commentées.",
    "signin.tenant": "Identifiant du compte", "signin.tenant_example": "ex. acme-design", "signin.secret": "Secret d'API",
    "signin.printed_by": "Affiché par", "signin.or": "ou", "signin.stays": "Il reste dans cet onglet du navigateur uniquement.",
    "signin.submit": "Voir l'utilisation", "signin.checking": "Vérification…",
    "signin.need_tenant": "saisissez l'identifiant de votre compte", "signin.need_secret": "saisissez le secret d'API du compte",
    "top.usage": "Utilisation", "top.signout": "Se déconnecter", "head.tenant": "Compte",
    "period.label": "Période", "period.button_60": "Dernière heure", "period.button_1440": "24 heures", "period.button_10080": "7 jours",
    "period.60": "Dernière heure", "period.1440": "Dernières 24 heures", "period.10080": "7 derniers jours",
    "refresh.every": "Actualisation toutes les 10 s", "refresh.updated": "· Mis à jour à {time}",
    "kpi.label": "Totaux de la période",
    "kpi.messages": "Messages envoyés", "kpi.messages_note": " : trames WebSocket envoyées aux lecteurs",
    "kpi.bandwidth": "Bande passante", "kpi.bandwidth_note": " : octets envoyés",
    "kpi.connections": "Connexions ouvertes", "kpi.connections_note": "Connexions WebSocket en direct des lecteurs",
    "kpi.markers": "Marqueurs créés", "kpi.markers_note": "Nouvelles discussions épinglées sur les images",
    "chart.title_minute": "Messages par minute et bande passante", "chart.title_hour": "Messages par heure et bande passante",
    "chart.hint_minute": "Pointez le graphique pour une minute ; cliquez sur une série pour la masquer",
    "chart.hint_hour": "Pointez le graphique pour une heure ; cliquez sur une série pour la masquer",
    "chart.empty": "Pas encore de trafic en direct sur cette période",
    "chart.label": "Messages et bande passante ; la légende donne les valeurs sous le pointeur",
    "series.time": "Heure", "series.messages": "Messages", "series.bandwidth": "Bande passante",
    "series.connections": "Connexions", "series.markers": "Marqueurs",
    "bytes.B": "o", "bytes.KB": "Ko", "bytes.MB": "Mo", "bytes.GB": "Go", "bytes.title": "{count} octets",
    "busiest.title": "Images les plus actives", "busiest.note": "Événements en direct par image sur cette période",
    "busiest.image": "Image", "busiest.events": "Événements", "busiest.none": "Aucune image n'a eu d'événement en direct sur cette période.",
    "error.0": "impossible de joindre le serveur ImageChat : vérifiez votre connexion",
    "error.401": "le secret d'API ne correspond pas à ce compte", "error.404": "aucun compte n'a cet identifiant",
    "error.429": "trop de requêtes : réessayez dans quelques secondes",
    "error.status": "le serveur a répondu {status} : réessayez dans un instant",
    "error.unreadable": "le serveur a envoyé une réponse que cette page ne sait pas lire",
    "notice.busy": "Trop de requêtes en ce moment", "notice.failed": "Impossible de charger l'utilisation : {reason}",
    "notice.retrying": "{problem}. Nouvel essai dans {seconds} s.",
    "notice.retrying_last": "{problem}. Derniers chiffres affichés ; nouvel essai dans {seconds} s.",
  },
};
const LOCALE = chooseLocale([new URLSearchParams(location.search).get("lang"), ...navigator.languages]);
const t = (key, values = {}) => CATALOGUES[LOCALE][key].replace(/\{(\w+)\}/g, (_, name) => values[name]);

function chooseLocale(tags) {
  for (const tag of tags) {
    const language = (tag || "").trim().toLowerCase().split(/[-_]/)[0];
    if (Object.hasOwn(CATALOGUES, language)) return language;
  }
  return "en";
}

function translatePage() {
  document.documentElement.lang = LOCALE;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attribute of ["placeholder", "aria-label"]) {
    for (const el of document.querySelectorAll(`[data-i18n-${attribute}]`)) {
      el.setAttribute(attribute, t(el.getAttribute(`data-i18n-${attribute}`)));
    }
  }
}

const KEYS = { tenant: "imagechat.dashboard.tenant", secret: "imagechat.dashboard.secret", minutes: "imagechat.dashboard.minutes" };
const PERIODS = [60, 1440, 10080];
const METRICS = ["pubSubMessageCount", "pubSubBandwidth", "connections", "markersCreated"];
const REFRESH_MS = 10_000;
const MESSAGES = [0, 401, 404, 429]; // the answers worded by status (error.STATUS)
const messageFor = (status) => (MESSAGES.includes(status) ? t(`error.${status}`) : t("error.status", { status }));
const $ = (id) => document.getElementById(id);
const form = $("signin-form");
const [tenantInput, secretInput, submit] = ["[name=tenant]", "[name=secret]", "button"].map((s) => form.querySelector(s));
const periodButtons = [...document.querySelectorAll(".period button")];
const number = (n) => new Intl.NumberFormat(LOCALE).format(n);
const clock = new Intl.DateTimeFormat(LOCALE, { hour: "numeric", minute: "2-digit" });
const dayClock = new Intl.DateTimeFormat(LOCALE, { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const day = new Intl.DateTimeFormat(LOCALE, { weekday: "short", day: "numeric" });
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
  }).catch((error) => { throw error.name === "AbortError" ? error : fail(0, messageFor(0)); });
  const body = await response.json().catch(() => null);
  // Worded here by its status, in the reader's language (the server's message is English).
  if (!response.ok) throw fail(response.status, messageFor(response.status), Number.parseInt(response.headers.get("Retry-After"), 10) || 0);
  if (!body?.totals || !Array.isArray(body.series)) throw fail(response.status, t("error.unreadable"));
  return { ...body, minutes, tenant: body.tenant || tenant, busiest: body.busiestImages || [] };
}

const units = [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024], ["B", 1]];
const unitOf = (bytes) => units.find(([, size]) => bytes >= size) || units[3];
const formatBytes = (bytes, [unit, size] = unitOf(bytes)) => `${number(+(bytes / size).toFixed(size === 1 || bytes / size >= 100 ? 0 : 1))} ${t(`bytes.${unit}`)}`;

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
  [$("chart-title").textContent, $("chart-hint").textContent] = hourly
    ? [t("chart.title_hour"), t("chart.hint_hour")] : [t("chart.title_minute"), t("chart.hint_minute")];

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
      { label: t("series.time"), value: (u, v, s, idx) => (idx == null ? t(`period.${usage.minutes}`)
        : formatRange(v * 1000 - size / 2, v * 1000 + size / 2, hourly ? dayClock : clock)) },
      { label: t("series.messages"), scale: "messages", fill: color("--accent"), stroke: color("--accent"), width: 0, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.7, 40], radius: 0.15 }), value: value("pubSubMessageCount", number) },
      { label: t("series.bandwidth"), scale: "bytes", stroke: color("--bandwidth"), fill: color("--bandwidth-soft"), width: 2,
        points: { show: false }, value: value("pubSubBandwidth", formatBytes) },
      { label: t("series.connections"), ...quiet, value: value("connections", number) },
      { label: t("series.markers"), ...quiet, value: value("markersCreated", number) },
    ],
    axes: [
      { ...axis, size: 32, grid: { show: false }, values: (u, ticks) => ticks.map((t) => timeLabel(new Date(t * 1000))) },
      { ...axis, scale: "messages", splits: splits(topMessages), values: (u, ticks) => ticks.map(number) },
      { ...axis, scale: "bytes", side: 1, grid: { show: false }, splits: splits(topBytes),
        values: (u, ticks) => ticks.map((v) => (v ? `${number(+(v / unitSize).toFixed(2))} ${t(`bytes.${unit}`)}` : "0")) },
    ],
  }, data, $("chart"));
  Object.assign(state.chart.root.dataset, { buckets: data[0].length, messages: data[1].reduce((a, b) => a + b, 0) });
  Object.assign(state.chart.root.querySelector(".u-over"), { role: "img", ariaLabel: t("chart.label") });
}

function render(usage) {
  Object.assign(state, { usage, loadedAt: Date.now() });
  $("tenant-id").textContent = usage.tenant;
  $("tenant-name").textContent = usage.name || usage.tenant;
  document.title = t("page.tenant_title", { name: usage.name || usage.tenant });
  $("range").textContent = formatRange(usage.from, usage.to, usage.minutes > 60 ? dayClock : clock);
  for (const metric of METRICS) {
    const el = document.querySelector(`[data-metric="${metric}"]`);
    const value = Number(usage.totals[metric]) || 0;
    const bytes = metric === "pubSubBandwidth";
    Object.assign(el, { textContent: bytes ? formatBytes(value) : number(value), title: bytes ? t("bytes.title", { count: number(value) }) : "" });
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
  $("refresh-time").textContent = t("refresh.updated", { time: new Date().toLocaleTimeString(LOCALE) });
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
  [$("dashboard").hidden, $("signin").hidden, document.title] = [true, false, t("page.title")];
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
    const problem = error.status === 429 ? t("notice.busy") : t("notice.failed", { reason: error.message });
    setNotice(t(state.usage ? "notice.retrying_last" : "notice.retrying", { problem, seconds: retryIn / 1000 }));
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
  const problem = !tenant ? t("signin.need_tenant") : !secret ? t("signin.need_secret") : /^[\x21-\x7e]+$/.test(secret) ? "" : messageFor(401);
  setSigninError(problem);
  if (problem) return (tenant ? secretInput : tenantInput).focus();
  Object.assign(submit, { disabled: true, textContent: t("signin.checking") });
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
    Object.assign(submit, { disabled: false, textContent: t("signin.submit") });
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

translatePage();
// Straight to the dashboard when this tab already holds the secret of the tenant asked for.
const urlTenant = (new URLSearchParams(location.search).get("tenant") || "").trim();
state.tenant = urlTenant || read("tenant");
state.minutes = PERIODS.includes(Number(read("minutes"))) ? Number(read("minutes")) : 60;
submit.disabled = false;
if (read("secret") && (!urlTenant || urlTenant === read("tenant"))) {
  state.secret = read("secret");
  showDashboard();
  load();
} else {
  showSignin();
}
