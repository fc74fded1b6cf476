"""What a page loads to run the widget, and at which URLs: addresses that change with the content,
so that browsers keep every file for good, and a new release is loaded as soon as a page has the
new embed.js (which browsers keep for 5 minutes only: serving.py).

- The runtime, npm packages in public/node_modules (PyScript, Pyodide, MicroPython, uPlot), at
  `/vendor/<name>/<version>/...`, the version read from the package's own package.json.
- The widget's files (widget/main.py, widget/imagechat_widget/*.py, the server's protocol.py as
  imagechat_widget/protocol.py, widget.css) at `/widget/<hash>/...`, the hash made of all of them.
- embed.js, the one address a site writes down, holds a manifest of these folders between two
  `/*assets*/` markers; the server replaces it with the versioned folders (`with_manifest`).

Every file is also served at its plain address (`/vendor/pyodide/pyodide.mjs`, `/widget/main.py`)
for pages and tools that name it. How they are sent (compression, Cache-Control) is in serving.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# Runtime name (in URLs and in embed.js's manifest) -> its npm package, and the folder of that
# package that browsers load.
RUNTIME_PACKAGES = {
    "pyscript": ("@pyscript/core", "dist"),
    "pyodide": ("pyodide", ""),
    "micropython": ("@micropython/micropython-webassembly-pyscript", ""),
    "uplot": ("uplot", "dist"),
}
WIDGET_KEY = "widget"  # the manifest's key for the widget's folder
# embed.js: `const ASSETS = /*assets*/{...}/*assets*/;` the JSON between the markers is replaced.
MANIFEST = re.compile(r"/\*assets\*/(?P<json>.*?)/\*assets\*/", re.DOTALL)

log = logging.getLogger("imagechat")


@dataclass(frozen=True)
class Runtime:
    name: str
    folder: Path  # the files served
    version: str

    @property
    def url(self) -> str:
        """Its versioned folder, from the server's root (no leading slash: embed.js's manifest is relative)."""
        return f"vendor/{self.name}/{quote(self.version, safe='')}/"

    @property
    def plain_url(self) -> str:
        return f"vendor/{self.name}/"


def runtimes(node_modules: Path) -> list[Runtime]:
    """The runtime packages installed there (a checkout before `npm ci`, or a wheel without one, has fewer)."""
    found = []
    for name, (package, folder) in RUNTIME_PACKAGES.items():
        manifest = node_modules / package / "package.json"
        if manifest.is_file():
            version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
            found.append(Runtime(name, node_modules / package / folder, version))
    return found


@dataclass(frozen=True)
class Widget:
    files: dict[str, bytes]  # path under the widget's folder ("main.py", "imagechat_widget/state.py") -> content
    hash: str

    @property
    def url(self) -> str:
        return f"widget/{self.hash}/"


def widget(widget_dir: Path, protocol_file: Path, public_files: list[Path]) -> Widget:
    """The widget's files as they are now, read once: the hash is of exactly what is served.
    `public_files`: those of public/ served beside them (the stylesheet, Pyodide's starter)."""
    files = {"main.py": (widget_dir / "main.py").read_bytes()}
    for module in sorted((widget_dir / "imagechat_widget").glob("*.py")):
        files[f"imagechat_widget/{module.name}"] = module.read_bytes()
    # The wire protocol's one definition is the server's; the widget imports it as its own module.
    files["imagechat_widget/protocol.py"] = protocol_file.read_bytes()
    for public_file in public_files:
        files[public_file.name] = public_file.read_bytes()
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{len(files[path])}\0".encode())
        digest.update(files[path])
    return Widget(files, digest.hexdigest()[:16])


def manifest(installed: list[Runtime], widget_files: Widget) -> dict[str, str]:
    """Each folder's versioned URL, relative to the server's root (where embed.js is)."""
    return {**{runtime.name: runtime.url for runtime in installed}, WIDGET_KEY: widget_files.url}


def with_manifest(embed_js: str, folders: dict[str, str]) -> str:
    """embed.js with its manifest's folders replaced by the versioned ones. Keys the server does not
    know keep their value; without the markers, the text is served as it is (plain URLs, short cache)."""
    found = MANIFEST.search(embed_js)
    if found is None:
        log.warning("embed.js has no /*assets*/ manifest: it will load the runtime from plain URLs")
        return embed_js
    written = json.loads(found["json"])
    replaced = {key: folders.get(key, value) for key, value in written.items()}
    text = json.dumps(replaced, separators=(",", ":"))
    return embed_js[:found.start("json")] + text + embed_js[found.end("json"):]
