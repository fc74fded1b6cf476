// Starts Pyodide for PyScript (embed.js names this module as PyScript's `interpreter`): from a
// memory snapshot of an earlier visit when the browser keeps one, else as Pyodide starts itself.
//
// Starting CPython inside Pyodide takes 1.5-4 s on a 2-core machine even with every file in the
// browser's cache; restoring the memory it had right after that start takes about 0.3 s. The
// first visit makes the snapshot (31 MB) right after Pyodide started, before
// any of PyScript's or the widget's code ran, and keeps it in the page's IndexedDB under the
// runtime's versioned URL; a new Pyodide version makes a new one. Anything that goes wrong here
// (no IndexedDB, a full disk, a snapshot that does not restore) means a normal start. A site that
// would rather not use its visitors' storage so writes data-snapshot="off" on embed.js's tag.

const { pyodideModule } = globalThis.ImageChat;
const pyodide = await import(pyodideModule);
export const version = pyodide.version; // PyScript reads it beside loadPyodide
// PyScript takes the runtime's folder to be this module's: it is Pyodide's own.
const indexURL = pyodideModule.slice(0, pyodideModule.lastIndexOf("/") + 1);

const DATABASE = "imagechat-runtime";
const STORE = "snapshots";
// A snapshot is kept per Pyodide version and per way of starting it: one made with JSPI on would
// not restore right with it off (its C side keeps the answer), so the key names the way.
const KEY = pyodideModule + "#no-jspi";

// Pyodide without JSPI (WebAssembly's JavaScript Promise Integration, stack switching): with it,
// Pyodide runs Python on V8's secondary stacks, and Chromium's allocation-sampling heap profiler
// (on in a random share of renderers) then walks the frame pointers past the end of such a stack
// into its guard page: the renderer dies of SIGSEGV (seen here: 3 minidumps, all at the same
// instruction, all on a secondary stack; with and without the snapshot). The widget never
// suspends Python on a promise (no run_sync), so it loses nothing. Pyodide looks for
// WebAssembly.Suspending once, synchronously, as its module factory starts: hidden for that one
// synchronous call only, so no other script of the page can see it gone.
const { default: createPyodideModuleWithJspi } = await import(indexURL + "pyodide.asm.mjs");
function createPyodideModule(settings) {
  const hidden = [];
  for (const name of ["Suspending", "Suspender"]) {
    const property = Object.getOwnPropertyDescriptor(WebAssembly, name);
    if (property && property.configurable) {
      hidden.push([name, property]);
      delete WebAssembly[name];
    }
  }
  try {
    return createPyodideModuleWithJspi(settings);
  } finally {
    for (const [name, property] of hidden) Object.defineProperty(WebAssembly, name, property);
  }
}

function request(action) {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DATABASE, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const database = opening.result;
      const done = action(database.transaction(STORE, "readwrite").objectStore(STORE));
      done.onsuccess = () => { database.close(); resolve(done.result); };
      done.onerror = () => { database.close(); reject(done.error); };
    };
  });
}

// The compiled Python of PyScript's package and of the widget, kept beside the snapshot. PyScript
// writes their source into the file system after the interpreter starts, and Python compiled it
// again on every visit: a quarter of a warm start. Kept as unchecked hash-based .pyc files (PEP
// 552), which Python loads without reading the source, so they are kept per version of both (the
// versioned folders they come from) and of Pyodide (the key's first part).
const BYTECODE_KEY = KEY + "#bytecode";
const BYTECODE_OF = globalThis.ImageChat.compiledFrom.join(" ");
// Every module imported from outside Pyodide's own files (/lib): PyScript's and the widget's.
const COMPILE = `
def _imagechat_compiled():
    import importlib.util, sys
    from importlib._bootstrap_external import _code_to_hash_pyc
    compiled = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.endswith(".py") and not path.startswith("/lib/"):
            with open(path, "rb") as file:
                source = file.read()
            code = compile(source, path, "exec", dont_inherit=True)
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(source), False)
            compiled[importlib.util.cache_from_source(path)] = pyc
    return compiled
_imagechat_compiled()
`;

async function savedBytecode() {
  const kept = await request((store) => store.get(BYTECODE_KEY));
  return kept && kept.of === BYTECODE_OF && kept.files ? kept.files : null;
}

// Once the widget runs, in an idle moment: compiling it all again takes a few tenths of a second.
function keepBytecode(interpreter) {
  const later = globalThis.requestIdleCallback ? (then) => requestIdleCallback(then) : (then) => setTimeout(then, 1000);
  globalThis.ImageChat.onStarted.push(() => later(() => {
    try {
      const namespace = interpreter.toPy({}); // not the page's __main__
      const compiled = interpreter.runPython(COMPILE, { globals: namespace });
      const files = compiled.toJs({ dict_converter: Object.fromEntries }); // path -> Uint8Array
      compiled.destroy();
      namespace.destroy();
      request((store) => store.put({ of: BYTECODE_OF, files }, BYTECODE_KEY))
        .catch((error) => console.info("ImageChat: the compiled widget was not kept", error));
    } catch (error) {
      console.info("ImageChat: the widget's Python was not compiled for later visits", error);
    }
  }));
}

// Each file is read back before it is written (marshal: far quicker than compiling): one that does
// not load (damaged, another Python's) is left out, and Python compiles that module's source.
const WRITE = `
def _imagechat_write(files):
    import importlib.util, marshal, os
    written = 0
    for path, data in files.object_entries():
        data = data.to_bytes()
        try:
            if data[:4] != importlib.util.MAGIC_NUMBER:
                continue
            marshal.loads(data[16:])
        except Exception:
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data)
        written += 1
    return written
`;

function writeBytecode(interpreter, files) {
  const namespace = interpreter.toPy({});
  try {
    interpreter.runPython(WRITE, { globals: namespace });
    globalThis.ImageChat.compiledFiles = namespace.get("_imagechat_write")(files);
  } catch (error) {
    console.info("ImageChat: the compiled widget was not used", error);
  } finally {
    namespace.destroy();
  }
}

async function saved() {
  const kept = await request((store) => store.get(KEY));
  return kept instanceof Blob ? new Uint8Array(await kept.arrayBuffer()) : null;
}

async function save(snapshot) {
  // As it is: compressing it (to a fifth) takes a second of a busy page, and a visitor who leaves
  // before it is written would never get one.
  await request((store) => store.clear()); // an older version's snapshot goes
  await request((store) => store.put(new Blob([snapshot]), KEY));
}

export async function loadPyodide(pyscriptOptions) {
  const started = await start(pyscriptOptions);
  globalThis.ImageChat.jspi = started._module.jspiSupported; // false: see createPyodideModule
  return started;
}

async function start(pyscriptOptions) {
  const options = { ...pyscriptOptions, indexURL, createPyodideModule };
  if (!globalThis.ImageChat.keepSnapshot) { // the site said data-snapshot="off"
    globalThis.ImageChat.startedFrom = "off";
    return pyodide.loadPyodide(options);
  }
  const snapshot = await saved().catch(() => null);
  if (snapshot) {
    try {
      const restored = await pyodide.loadPyodide({ ...options, _loadSnapshot: snapshot });
      globalThis.ImageChat.startedFrom = "snapshot";
      const bytecode = await savedBytecode().catch(() => null);
      if (bytecode) writeBytecode(restored, bytecode);
      else keepBytecode(restored);
      return restored;
    } catch (error) {
      console.warn("ImageChat: the runtime's snapshot did not restore; starting it afresh", error);
      request((store) => store.clear()).catch(() => {});
    }
  }
  // An instance that made a snapshot no longer reaches JavaScript's globals right: the page runs on
  // one restored from that snapshot (0.3 s more on a first visit), the same as every later visit.
  const first = await pyodide.loadPyodide({ ...options, _makeSnapshot: true });
  let made;
  try {
    made = first.makeMemorySnapshot();
  } catch (error) {
    console.info("ImageChat: no snapshot of the runtime", error);
    return pyodide.loadPyodide(options);
  }
  save(made).catch((error) => console.info("ImageChat: the runtime's snapshot was not kept", error));
  globalThis.ImageChat.startedFrom = "start";
  const restored = await pyodide.loadPyodide({ ...options, _loadSnapshot: made });
  keepBytecode(restored);
  return restored;
}
