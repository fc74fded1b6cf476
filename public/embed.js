// ImageChat loader: the one script a site includes.
//   <script type="module" src="https://HOST/embed.js"></script>
//   <img src="..." data-image-chat data-tenant="your-tenant" data-url-id="optional-stable-id">
// It starts PyScript on the Pyodide served by HOST (never a CDN) and runs the Python widget,
// which mounts on every marked image. It defines one global, `window.ImageChat`.

const base = new URL(".", import.meta.url);
const at = (path) => new URL(path, base).href;
const MARKED = "img[data-image-chat]";

// The widget's Python modules, copied into the interpreter's file system by PyScript.
// `protocol.py` is the server's own definition of the wire protocol, served under the same path.
const WIDGET_MODULES = [
  "__init__.py", "protocol.py", "state.py", "backoff.py", "timefmt.py",
  "browser.py", "identity.py", "api.py", "connection.py", "tabs.py", "view.py", "widget.py",
];

function startPython() {
  const files = {};
  for (const name of WIDGET_MODULES) files[at(`widget/imagechat_widget/${name}`)] = `./imagechat_widget/${name}`;
  const script = document.createElement("script");
  script.type = "py";
  script.src = at("widget/main.py");
  // "!error": Python errors go to the console, never as red blocks into the host page.
  const config = { interpreter: at("vendor/pyodide/pyodide.mjs"), files, plugins: ["!error"] };
  script.setAttribute("config", JSON.stringify(config));
  script.hidden = true;
  document.body.append(script); // before core.js loads, or PyScript ignores its config
  import(at("vendor/pyscript/core.js"));
}

function start() {
  if (window.ImageChat) return; // included twice: one widget per image is enough
  window.ImageChat = { baseUrl: base.href, stylesheet: at("widget.css") };
  if (document.querySelector(MARKED)) {
    startPython();
    return;
  }
  // No marked image yet (a single-page app may render one later): load Python only when one comes.
  const watcher = new MutationObserver(() => {
    if (!document.querySelector(MARKED)) return;
    watcher.disconnect();
    startPython();
  });
  watcher.observe(document.documentElement, { childList: true, subtree: true });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();
