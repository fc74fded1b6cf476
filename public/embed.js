// ImageChat loader: the one script a site includes.
//   <script type="module" src="https://HOST/embed.js"></script>
//   <img src="..." data-image-chat data-tenant="your-tenant" data-url-id="optional-stable-id">
// It starts PyScript on a Python runtime served by HOST (never a CDN) and runs the Python widget,
// which mounts on every marked image. It defines one global, `window.ImageChat`.
// The runtime: Pyodide (CPython) by default; `data-runtime="micropython"` on the script tag picks
// MicroPython instead, about 30 times smaller and started in a few hundred milliseconds.
//
// While the runtime loads, each marked image is already wrapped in its <image-chat> element with a
// small "Loading comments…" pill over its corner (styled inline: nothing moves when the widget's
// stylesheet or Python arrive); if the runtime cannot start, the pill says comments are unavailable.

// Where the runtime and the widget's files are, relative to this file. The server rewrites the JSON
// between the markers with versioned paths (cached for good): every such URL is built from it.
const ASSETS = /*assets*/{"pyscript":"vendor/pyscript/","pyodide":"vendor/pyodide/","micropython":"vendor/micropython/","widget":"widget/"}/*assets*/;

const base = new URL(".", import.meta.url);
const at = (path) => new URL(path, base).href;
const MARKED = "img[data-image-chat]";

// The widget's Python modules, copied into the interpreter's file system by PyScript.
// `protocol.py` is the server's own definition of the wire protocol, served under the same path.
const WIDGET_MODULES = [
  "__init__.py", "compat.py", "protocol.py", "messages.py", "state.py", "backoff.py", "timefmt.py",
  "browser.py", "identity.py", "api.py", "connection.py", "tabs.py", "links.py", "a11y.py", "view.py", "events.py", "widget.py",
];

// Per runtime: PyScript's script type, the interpreter's module, and the files it goes on to load,
// fetched from the start (preload hints) instead of after PyScript's own chain of imports.
// `preloadWidget`: the widget's Python files too. Not with Pyodide: they would wait seconds for the
// interpreter to compile, and the browser warns about preloads left unused that long.
const RUNTIMES = {
  pyodide: {
    type: "py",
    otherType: "mpy",
    // Our starter of Pyodide: from a snapshot of an earlier visit's memory when there is one.
    interpreter: ASSETS.widget + "start-pyodide.mjs",
    modules: [ASSETS.widget + "start-pyodide.mjs", ASSETS.pyodide + "pyodide.mjs", ASSETS.pyodide + "pyodide.asm.mjs"],
    fetched: [ASSETS.pyodide + "pyodide.asm.wasm", ASSETS.pyodide + "python_stdlib.zip",
              ASSETS.pyodide + "pyodide-lock.json"],
    preloadWidget: false,
  },
  micropython: {
    type: "mpy",
    otherType: "py",
    interpreter: ASSETS.micropython + "micropython.mjs",
    modules: [ASSETS.micropython + "micropython.mjs"],
    fetched: [ASSETS.micropython + "micropython.wasm"],
    preloadWidget: true,
  },
};
const DEFAULT_RUNTIME = "pyodide";

// PyScript's plugins the widget does not use (editor, terminal, game, worker helper, deprecation
// notices): never fetched. "!error": Python errors go to the console, never as red blocks into the
// host page. PyScript reads a configuration for each of its two script types and loads the plugins
// of both: the type not used gets one too (an <X-config> element) that only turns them off.
const PLUGINS_OFF = [
  "!error", "!py-editor", "!py-terminal", "!py-game", "!donkey", "!deprecations-manager", "!codemirror",
];

// The host element's box and the status pill, applied with the element itself: the image keeps its
// place from the first frame on, and the pill never enters the page's flow. The rest of the widget's
// look is in widget.css.
// The theme is here too, for the pill's sake: the palette and the branding (README, "Themes and
// branding"), as custom properties that a site's own rules on `image-chat` override. Each colour is
// `light-dark(light, dark)`, picked by `color-scheme`: the system's, or the image's `data-theme`
// (copied onto the host element by hostOf).
const HOST_CSS = `
:host {
  position: relative; display: inline-block; max-width: 100%; line-height: 0; vertical-align: top;
  color-scheme: light dark;
  --imagechat-font: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  --imagechat-accent: light-dark(#4f5bd5, #9aa4ff);
  --imagechat-on-accent: light-dark(#fff, #141622);
  --imagechat-marker: #d12c55;
  --imagechat-marker-size: 28px;
  --imagechat-surface: light-dark(#fff, #1e212b);
  --imagechat-text: light-dark(#1f2330, #e8eaf0);
  --imagechat-muted: light-dark(#646978, #a7adbb);
  --imagechat-border: light-dark(#d4d7e0, #454b5b);
  --imagechat-hover: light-dark(#f1f2f6, #2c303c);
  --imagechat-field: light-dark(#fff, #15171f);
  --imagechat-danger: light-dark(#c0283c, #ff8d9c);
  --imagechat-success: light-dark(#1e7a45, #6fd89a);
  --imagechat-error-bg: light-dark(#fdecee, #3d1c24);
  --imagechat-error-text: light-dark(#a01d2e, #ffb8c1);
  --imagechat-glass: light-dark(rgba(255, 255, 255, .94), rgba(30, 33, 43, .94));
}
:host([data-theme="light"]) { color-scheme: light; }
:host([data-theme="dark"]) { color-scheme: dark; }
::slotted(img) { display: block; max-width: 100%; height: auto; }
.status {
  position: absolute; right: 8px; bottom: 8px; z-index: 1;
  display: flex; align-items: center; gap: 6px;
  padding: 3px 9px 3px 7px; border-radius: 999px;
  background: var(--imagechat-glass); box-shadow: 0 1px 4px rgba(0, 0, 0, .3);
  font: 12px/1.45 var(--imagechat-font);
  color: var(--imagechat-text); letter-spacing: normal; text-align: left; white-space: nowrap; pointer-events: none;
}
.status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #9aa0b0; }
.status[data-state="loading"]::before { animation: imagechat-loading 1s ease-in-out infinite alternate; }
.status[data-state="unavailable"] { color: var(--imagechat-muted); }
.status[data-state="connected"]::before { background: #23a55a; }
.status[data-state="connecting"]::before, .status[data-state="reconnecting"]::before { background: #e5a50a; }
.status[data-state="offline"]::before { background: #d1343a; }
@keyframes imagechat-loading { from { opacity: 1; } to { opacity: .25; } }
@media (prefers-reduced-motion: reduce) { .status::before { animation: none !important; } }
`;
// The pill's words in the widget's languages (the widget's own are in its messages.py).
const STATUS_TEXT = {
  en: { loading: "Loading comments…", unavailable: "Comments unavailable" },
  fr: { loading: "Chargement des commentaires…", unavailable: "Commentaires indisponibles" },
};

let phase = "loading"; // -> "started" (the Python widget runs and shows its own states) or "unavailable"
const hosts = new Set();
// Each image's snapshot (its markers), asked for while the runtime loads, by the URL the widget's
// `Api.snapshot_url` makes: the widgets mounted at the start take the answer (ImageChat.takeEarly,
// a copy each) instead of asking again. Work that needs no Python, done while Python starts.
const early = new Map();

function askEarly(img) {
  const tenant = encodeURIComponent(img.getAttribute("data-tenant"));
  const urlId = encodeURIComponent(img.getAttribute("data-url-id") || img.src.split("#")[0]);
  const url = `${base.href}api/v1/tenants/${tenant}/snapshot?urlId=${urlId}`;
  if (early.has(url)) return;
  const answer = fetch(url);
  answer.catch(() => {}); // a failure is the widget's to handle, if it ever takes the answer
  early.set(url, answer);
}

function takeEarly(url) {
  return early.get(url)?.then((response) => response.clone()) ?? null;
}

// The tag that loaded this module (a module script has no document.currentScript).
function scriptTag() {
  const scripts = [...document.querySelectorAll("script[src]")];
  return scripts.find((s) => s.src === import.meta.url) || scripts.find((s) => /\/embed\.js(\?|$)/.test(s.src));
}

function chosenRuntime() {
  return knownRuntime(scriptTag()?.dataset.runtime || DEFAULT_RUNTIME);
}

// The reader's language, chosen as the widget does (messages.choose_locale): the image's
// data-locale, the script tag's, the page's lang, the browser's languages; else English.
function localeOf(img) {
  const tags = [img?.getAttribute("data-locale"), scriptTag()?.dataset.locale, document.documentElement.lang,
                ...navigator.languages];
  for (const tag of tags) {
    const language = (tag || "").trim().toLowerCase().split(/[-_]/)[0];
    if (Object.hasOwn(STATUS_TEXT, language)) return language;
  }
  return "en";
}

function knownRuntime(name) {
  if (name in RUNTIMES) return name;
  console.warn(`ImageChat: unknown runtime "${name}" (pyodide or micropython): using ${DEFAULT_RUNTIME}`);
  return DEFAULT_RUNTIME;
}

// What the runtimes need of the browser; without it nothing is fetched and the pill says so.
function capable() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiateStreaming === "function"
    && typeof BigInt === "function";
}

function setStatus(host, state) {
  const status = host.shadowRoot.querySelector(".status");
  status.setAttribute("data-state", state);
  status.textContent = STATUS_TEXT[localeOf(host.querySelector("img"))][state];
}

// The image's `data-theme` ("light" or "dark"; none: the system's) on its host element, where the
// widget's styles see it (:host([data-theme])), now and whenever the site changes it.
function followTheme(img, host) {
  const copy = () => {
    const theme = img.getAttribute("data-theme");
    if (theme) host.setAttribute("data-theme", theme);
    else host.removeAttribute("data-theme");
  };
  copy();
  new MutationObserver(copy).observe(img, { attributes: true, attributeFilter: ["data-theme"] });
}

// The <image-chat> element around a marked image (made once): its shadow root holds the widget.
// The Python widget takes over the one made here, status pill included (window.ImageChat.host).
function hostOf(img) {
  const parent = img.parentElement;
  if (parent && parent.localName === "image-chat" && parent.shadowRoot) return parent;
  const host = document.createElement("image-chat");
  img.replaceWith(host);
  host.append(img);
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = HOST_CSS;
  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = at(`${ASSETS.widget}widget.css`);
  const status = document.createElement("div");
  status.className = "status";
  status.setAttribute("role", "status");
  root.append(style, sheet, document.createElement("slot"), status);
  followTheme(img, host);
  if (phase !== "started") setStatus(host, phase);
  hosts.add(host);
  return host;
}

function unavailable(reason) {
  if (phase !== "loading") return;
  phase = "unavailable";
  console.error(`ImageChat: comments are unavailable: ${reason}`);
  for (const host of hosts) setStatus(host, "unavailable");
}

function hint(rel, href) {
  const link = document.createElement("link");
  link.rel = rel;
  link.href = href;
  if (rel === "preload") {
    link.as = "fetch";
    link.crossOrigin = "anonymous"; // as the runtime's own fetch() asks for it: the preload is reused
  }
  // A runtime file that cannot be fetched (blocked, missing): the runtime will not start.
  link.onerror = () => unavailable(`could not load ${href}`);
  document.head.append(link);
}

function startPython(runtime) {
  const { type, otherType, interpreter, modules, fetched, preloadWidget } = RUNTIMES[runtime];
  const files = {};
  for (const name of WIDGET_MODULES) {
    files[at(`${ASSETS.widget}imagechat_widget/${name}`)] = `./imagechat_widget/${name}`;
  }
  const main = at(`${ASSETS.widget}main.py`);
  const script = document.createElement("script");
  script.type = type;
  script.src = main;
  script.setAttribute("config", JSON.stringify({ interpreter: at(interpreter), files, plugins: PLUGINS_OFF }));
  script.hidden = true;
  const other = document.createElement(`${otherType}-config`);
  other.textContent = JSON.stringify({ plugins: PLUGINS_OFF });
  other.hidden = true;
  document.body.append(script, other); // before core.js loads, or PyScript ignores them
  import(at(`${ASSETS.pyscript}core.js`)).catch((error) => unavailable(`could not load PyScript (${error})`));
  // What the runtime will ask for once PyScript has loaded it, asked for now and in parallel
  // (PyScript's own chain of imports first: it is the longest path).
  for (const path of modules) hint("modulepreload", at(path));
  for (const url of fetched.map(at)) hint("preload", url);
  if (preloadWidget) for (const url of [...Object.keys(files), main]) hint("preload", url);
}

function start() {
  if (window.ImageChat) return; // included twice: one widget per image is enough
  if (typeof Element.prototype.attachShadow !== "function") { // a browser too old to hold the widget
    console.error("ImageChat: comments are unavailable: this browser has no shadow DOM");
    return;
  }
  let runtime = chosenRuntime();
  window.ImageChat = {
    baseUrl: base.href,
    runtime,
    locale: scriptTag()?.dataset.locale || null, // the script tag's data-locale, for every image
    host: hostOf,
    takeEarly,
    runningOn: null, // the interpreter the widget runs on, once it runs (as Python itself says)
    pyodideModule: at(`${ASSETS.pyodide}pyodide.mjs`), // for start-pyodide.mjs
    // Pyodide only: keep a snapshot of its memory in the page's storage for faster return visits,
    // unless the script tag says data-snapshot="off".
    keepSnapshot: scriptTag()?.dataset.snapshot !== "off",
    startedFrom: null, // Pyodide only: "snapshot" (an earlier visit's memory), "start" or "off"
    // Pyodide only: the versioned folders whose Python start-pyodide.mjs keeps compiled.
    compiledFrom: [at(ASSETS.pyscript), at(ASSETS.widget)],
    onStarted: [], // called once the widget runs (start-pyodide.mjs keeps its compiled Python then)
    // Called by the Python widget (widget/main.py): it runs, or it could not start.
    started: (interpreter) => {
      phase = "started";
      window.ImageChat.runningOn = interpreter;
      early.clear(); // taken by the widgets mounted at the start; later ones ask for their own
      for (const then of window.ImageChat.onStarted.splice(0)) {
        try { then(); } catch (error) { console.warn("ImageChat:", error); }
      }
    },
    unavailable,
  };
  let python = false;
  const mountAll = () => {
    const images = [];
    for (const img of document.querySelectorAll(`${MARKED}:not([data-image-chat-mounted])`)) {
      if (img.getAttribute("data-tenant")) {
        images.push(hostOf(img));
        if (phase === "loading") askEarly(img);
      } else { // as the Python widget does with such an image, once it runs
        console.warn("ImageChat: an <img data-image-chat> needs data-tenant");
        img.setAttribute("data-image-chat-mounted", "no");
      }
    }
    if (images.length && !python && phase === "loading") {
      python = true;
      startPython(runtime);
    }
  };
  // The JavaScript API (README, "JavaScript API"): the data- attributes, set by the site's script.
  // Before the runtime started, the loader mounts; after, the Python widget (ImageChat.scan).
  const OPTIONS = { tenant: "data-tenant", urlId: "data-url-id", sso: "data-sso", locale: "data-locale" };
  window.ImageChat.mount = (img, options = {}) => {
    if (!(img instanceof HTMLImageElement)) throw new TypeError("ImageChat.mount: not an <img> element");
    if (img.parentElement?.localName === "image-chat") window.ImageChat.unmount(img); // new options
    for (const [option, attribute] of Object.entries(OPTIONS)) {
      if (options[option] != null) img.setAttribute(attribute, String(options[option]));
    }
    if (options.readonly != null) img.toggleAttribute("data-readonly", Boolean(options.readonly));
    if (options.runtime && options.runtime !== runtime) {
      if (python) console.warn(`ImageChat: this page runs ${runtime} already; runtime "${options.runtime}" is ignored`);
      else window.ImageChat.runtime = runtime = knownRuntime(options.runtime); // one runtime per page
    }
    img.setAttribute("data-image-chat", "");
    if (phase === "started") window.ImageChat.scan();
    else mountAll();
  };
  window.ImageChat.unmount = (img) => {
    img.removeAttribute("data-image-chat");
    img.removeAttribute("data-image-chat-mounted");
    const host = img.parentElement;
    if (host?.localName === "image-chat" && hosts.delete(host)) {
      if (host.parentNode) host.replaceWith(img);
      else img.remove();
    }
    if (phase === "started") window.ImageChat.scan(); // its widget lets go now: the socket closes
  };
  if (!capable()) unavailable("this browser cannot run Python (no WebAssembly)");
  mountAll();
  // Images may come later (a single-page app changing views): the runtime loads only when one does.
  const watcher = new MutationObserver(() => {
    if (phase === "started") watcher.disconnect(); // the Python widget mounts later images itself
    else mountAll();
  });
  watcher.observe(document.documentElement, { childList: true, subtree: true });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();
