"""How the widget's files are sent: compressed, and cached by browsers for as long as they can be.

- Compressed once, never per request: the runtime's brotli and gzip copies are made ahead of time
  (compress.py) and sent by servestatic (the ASGI form of WhiteNoise); the widget's small files and
  embed.js (whose manifest is written at start) are compressed in memory when the server starts
  (about 0.1 s for all of them). A browser gets the smallest copy its Accept-Encoding allows, with
  `Content-Encoding` and `Vary: Accept-Encoding`.
- Cached for good under a versioned or hashed URL (assets.py): `Cache-Control: public,
  max-age=31536000, immutable`, so a return visit asks for nothing. A new release has new URLs.
- embed.js, and every file at its plain URL, for 5 minutes (`max-age=300`) then revalidated with
  its ETag (a 304 when unchanged): a new release reaches pages within minutes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from wsgiref.headers import Headers

import servestatic.utils
from servestatic import ServeStaticASGI
from servestatic.compress import Compressor
from servestatic.utils import parse_accept_encoding
from starlette.datastructures import Headers as RequestHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from imagechat import assets

# servestatic reads a file in 8 KiB blocks, each through a thread: 64 KiB ones (as Starlette's
# FileResponse) send Pyodide's 2.7 MB of compressed wasm about 6 times faster (7 ms here).
servestatic.utils.ASGI_BLOCK_SIZE = 64 * 1024

FOREVER = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
TEXT_TYPES = {".py": "text/x-python", ".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript"}
# Files of public/ that belong to the widget's hashed folder: its stylesheet, and the module that
# starts Pyodide from a snapshot (public/start-pyodide.mjs).
PUBLIC_WIDGET_FILES = ("widget.css", "start-pyodide.mjs")


@dataclass(frozen=True)
class MemoryFile:
    """A small text file held in memory with its compressed copies, made once."""

    bodies: dict[str | None, bytes]  # content coding (None: as it is) -> body, smallest first
    media_type: str
    cache_control: str
    etag: str

    @classmethod
    def of(cls, body: bytes, name: str, cache_control: str) -> "MemoryFile":
        copies = {"br": Compressor.compress_brotli(body), "gzip": Compressor.compress_gzip(body), None: body}
        bodies = dict(sorted(copies.items(), key=lambda item: len(item[1])))
        media_type = f"{TEXT_TYPES[Path(name).suffix]}; charset=utf-8"
        return cls(bodies, media_type, cache_control, f'"{hashlib.sha256(body).hexdigest()[:20]}"')

    def forever(self) -> "MemoryFile":
        """The same file, under a URL that changes with its content."""
        return dataclasses.replace(self, cache_control=FOREVER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405)
        request = RequestHeaders(scope=scope)
        headers = {"Cache-Control": self.cache_control, "ETag": self.etag, "Vary": "Accept-Encoding"}
        if self.etag in [tag.strip().removeprefix("W/") for tag in request.get("if-none-match", "").split(",")]:
            await Response(status_code=304, headers=headers)(scope, receive, send)
            return
        accepted = parse_accept_encoding(request.get("accept-encoding", ""))
        coding, body = next((coding, body) for coding, body in self.bodies.items() if coding is None or coding in accepted)
        if coding:
            headers["Content-Encoding"] = coding
        await Response(body, headers=headers, media_type=self.media_type)(scope, receive, send)


class BrowserFiles:
    """Every file a page loads to run the widget, as one ASGI app (app.py routes /embed.js,
    /widget.css, /widget/ and /vendor/ to it): the small ones from memory, the runtime from disk."""

    def __init__(self, public_dir: Path, widget_dir: Path, protocol_file: Path) -> None:
        self.runtimes = assets.runtimes(public_dir / "node_modules")
        self.widget = assets.widget(widget_dir, protocol_file, [public_dir / name for name in PUBLIC_WIDGET_FILES])
        self.manifest = assets.manifest(self.runtimes, self.widget)
        embed_js = assets.with_manifest((public_dir / "embed.js").read_text(encoding="utf-8"), self.manifest)
        self.memory = {"/embed.js": MemoryFile.of(embed_js.encode(), "embed.js", SHORT)}
        for path, body in self.widget.files.items():
            file = MemoryFile.of(body, path, SHORT)
            self.memory[f"/widget/{path}"] = file
            self.memory[f"/{self.widget.url}{path}"] = file.forever()
        self.memory["/widget.css"] = self.memory["/widget/widget.css"]
        self.disk = self._runtime_files()

    def _runtime_files(self) -> ServeStaticASGI:
        versioned = tuple(f"/{runtime.url}" for runtime in self.runtimes)

        def cache_control(headers: Headers, _path: str, url: str) -> None:
            headers["Cache-Control"] = FOREVER if url.startswith(versioned) else SHORT

        # Cross-origin reads are allowed by security/cors.py, for every public file alike.
        files = ServeStaticASGI(not_found, max_age=None, allow_all_origins=False, add_headers_function=cache_control)
        for runtime in self.runtimes:
            files.add_files(runtime.folder, f"/{runtime.url}")
            files.add_files(runtime.folder, f"/{runtime.plain_url}")
        return files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        file = self.memory.get(scope["path"])
        await (file or self.disk)(scope, receive, send)


async def not_found(_scope: Scope, _receive: Receive, _send: Send) -> None:
    raise HTTPException(404)
