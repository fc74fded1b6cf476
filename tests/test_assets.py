"""The widget's files on the wire: compressed copies by Accept-Encoding (made ahead of time for the
runtime), cached for good under versioned and hashed URLs, embed.js briefly and revalidated, and
embed.js's manifest naming those URLs. Against a real `imagechat serve` (the checkout's files)."""

from __future__ import annotations

import gzip
import json
import os
import re
import zipfile
from pathlib import Path

import brotli
import httpx
import pytest

from imagechat import assets, compress
from tests.conftest import ServerProcess

CHECKOUT = Path(__file__).resolve().parents[1]
NODE_MODULES = CHECKOUT / "public" / "node_modules"
FOREVER = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
MANIFEST = re.compile(r"const ASSETS = /\*assets\*/(.*?)/\*assets\*/;")


def version(package: str) -> str:
    return json.loads((NODE_MODULES / package / "package.json").read_text())["version"]


def get(server: ServerProcess, path: str, accept: str = "identity", **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers={"Accept-Encoding": accept, **headers})


@pytest.fixture(scope="module")
def folders(server: ServerProcess) -> dict[str, str]:
    """embed.js's manifest, as the server wrote it: runtime and widget folders, from the root."""
    return json.loads(MANIFEST.search(get(server, "/embed.js").text).group(1))


# -- embed.js and its manifest ----------------------------------------------------------------------


def test_embed_js_names_the_runtime_by_version_and_the_widget_by_hash(server, folders):
    assert folders["pyscript"] == f"vendor/pyscript/{version('@pyscript/core')}/"
    assert folders["pyodide"] == f"vendor/pyodide/{version('pyodide')}/"
    assert folders["micropython"] == f"vendor/micropython/{version('@micropython/micropython-webassembly-pyscript')}/"
    assert re.fullmatch(r"widget/[0-9a-f]{16}/", folders["widget"])
    # Nothing else of embed.js changes.
    written = (CHECKOUT / "public" / "embed.js").read_text()
    served = get(server, "/embed.js").text
    assert MANIFEST.sub("", served) == MANIFEST.sub("", written)
    # Every file the loader asks for is there, under those folders.
    for path in ("pyscript/core.js", "pyodide/pyodide.mjs", "micropython/micropython.mjs",
                 "widget/main.py", "widget/imagechat_widget/state.py", "widget/widget.css"):
        key, name = path.split("/", 1)
        assert get(server, f"/{folders[key]}{name}").status_code == 200, path
    # The wire protocol the widget loads is the server's own file.
    served_protocol = get(server, f"/{folders['widget']}imagechat_widget/protocol.py").content
    assert served_protocol == (CHECKOUT / "server" / "imagechat" / "protocol.py").read_bytes()


def test_embed_js_is_cached_briefly_and_revalidated_with_its_etag(server):
    first = get(server, "/embed.js", "br, gzip")
    assert first.headers["cache-control"] == SHORT
    assert first.headers["content-encoding"] == "br" and "Accept-Encoding" in first.headers["vary"]
    etag = first.headers["etag"]
    again = get(server, "/embed.js", "br, gzip", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == SHORT
    assert "Accept-Encoding" in again.headers["vary"]
    assert get(server, "/embed.js", **{"If-None-Match": '"another"'}).status_code == 200


def test_the_same_files_give_the_same_urls_on_every_server(server, fresh_server):
    """Several nodes behind one address serve one manifest (and the same embed.js ETag)."""
    assert get(server, "/embed.js").headers["etag"] == get(fresh_server, "/embed.js").headers["etag"]


# -- each kind of file: encodings, Vary, Cache-Control -------------------------------------------------

KINDS = [
    # (manifest folder or None for a plain URL, path, Cache-Control)
    (None, "/embed.js", SHORT),
    (None, "/widget.css", SHORT),
    ("widget", "widget.css", FOREVER),
    ("widget", "main.py", FOREVER),
    ("widget", "imagechat_widget/state.py", FOREVER),
    ("widget", "imagechat_widget/protocol.py", FOREVER),
    (None, "/widget/imagechat_widget/state.py", SHORT),
    ("pyscript", "core.js", FOREVER),
    ("pyodide", "pyodide.mjs", FOREVER),
    ("pyodide", "pyodide.asm.mjs", FOREVER),
    ("pyodide", "pyodide.asm.wasm", FOREVER),
    ("pyodide", "pyodide-lock.json", FOREVER),
    ("pyodide", "python_stdlib.zip", FOREVER),  # its members stored, then compressed whole (compress.py)
    ("micropython", "micropython.mjs", FOREVER),
    ("micropython", "micropython.wasm", FOREVER),
    (None, "/vendor/pyodide/pyodide.mjs", SHORT),
    (None, "/vendor/uplot/uPlot.iife.min.js", SHORT),
]


@pytest.mark.parametrize(("folder", "path", "cache_control"), KINDS, ids=[f"{f or ''}/{p}" for f, p, _ in KINDS])
def test_each_file_is_sent_compressed_as_the_browser_accepts_and_cached_by_its_url(server, folders, folder, path,
                                                                                    cache_control):
    url = f"/{folders[folder]}{path}" if folder else path
    plain = get(server, url, "identity")
    assert plain.status_code == 200, url
    assert "content-encoding" not in plain.headers
    assert plain.headers["cache-control"] == cache_control
    for accept, coding in (("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"), ("br;q=0, gzip", "gzip")):
        answer = get(server, url, accept)
        assert answer.headers.get("content-encoding") == coding, (
            f"{url} {accept}: no {coding} copy (runtime files are compressed by `scripts/dev setup`)")
        assert "Accept-Encoding" in answer.headers["vary"]
        assert answer.headers["cache-control"] == cache_control
        assert answer.content == plain.content  # decoded by httpx: the copy is of this very file
        assert answer.num_bytes_downloaded < len(plain.content)


def test_the_big_runtime_file_crosses_the_wire_at_under_a_third_of_its_size(server, folders):
    wasm = f"/{folders['pyodide']}pyodide.asm.wasm"
    size = int(get(server, wasm, "identity").headers["content-length"])
    assert int(get(server, wasm, "br").headers["content-length"]) < size / 3


def test_plain_runtime_urls_revalidate_and_copies_are_not_urls(server):
    first = get(server, "/vendor/pyodide/pyodide.mjs", "br")
    again = get(server, "/vendor/pyodide/pyodide.mjs", "br", **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert get(server, "/vendor/pyodide/pyodide.mjs.br").status_code == 404
    assert get(server, "/vendor/pyodide/nothing.js").status_code == 404
    assert get(server, "/widget/imagechat_widget/nothing.py").status_code == 404


# -- the parts, without a server -------------------------------------------------------------------------

EMBED_JS = """// a loader
const ASSETS = /*assets*/{"pyodide":"vendor/pyodide/","extra":"somewhere/","widget":"widget/"}/*assets*/;
import(ASSETS.pyodide + "pyodide.mjs");
"""


def test_the_manifest_replaces_known_folders_and_keeps_the_rest_of_the_text():
    written = assets.with_manifest(EMBED_JS, {"pyodide": "vendor/pyodide/1.2.3/", "widget": "widget/abc/",
                                              "uplot": "vendor/uplot/9/"})
    assert written == EMBED_JS.replace(
        '{"pyodide":"vendor/pyodide/","extra":"somewhere/","widget":"widget/"}',
        '{"pyodide":"vendor/pyodide/1.2.3/","extra":"somewhere/","widget":"widget/abc/"}')
    assert assets.with_manifest("const x = 1;\n", {"pyodide": "vendor/pyodide/1/"}) == "const x = 1;\n"


def test_the_widget_hash_changes_with_any_of_its_files(tmp_path):
    (tmp_path / "widget" / "imagechat_widget").mkdir(parents=True)
    files = {
        "main": tmp_path / "widget" / "main.py",
        "module": tmp_path / "widget" / "imagechat_widget" / "state.py",
        "protocol": tmp_path / "protocol.py",
        "css": tmp_path / "widget.css",
    }
    for path in files.values():
        path.write_text("# one\n")

    def current() -> str:
        return assets.widget(tmp_path / "widget", files["protocol"], [files["css"]]).hash

    seen = {current()}
    assert current() in seen  # the same files, the same hash
    for path in files.values():
        path.write_text("# two\n")
        seen.add(current())
    (tmp_path / "widget" / "imagechat_widget" / "new.py").write_text("")
    seen.add(current())
    assert len(seen) == len(files) + 2


def test_compression_makes_each_copy_once_and_again_when_the_file_changes(tmp_path):
    script = tmp_path / "runtime.js"
    script.write_text("export const answer = 42;\n" * 200)
    picture = tmp_path / "picture.png"
    picture.write_bytes(os.urandom(1000))
    assert compress.compress([tmp_path]) == [script]
    assert brotli.decompress((tmp_path / "runtime.js.br").read_bytes()) == script.read_bytes()
    assert gzip.decompress((tmp_path / "runtime.js.gz").read_bytes()) == script.read_bytes()
    assert not (tmp_path / "picture.png.br").exists()
    assert compress.compress([tmp_path]) == []  # already done
    script.write_text("export const answer = 43;\n" * 200)
    os.utime(script, (1_000_000_000, 1_000_000_000))  # another modification time than its copies'
    assert compress.compress([script]) == [script]
    assert gzip.decompress((tmp_path / "runtime.js.gz").read_bytes()) == script.read_bytes()


def test_a_zip_archive_is_stored_then_compressed_whole_with_the_same_members(tmp_path):
    archive = tmp_path / "stdlib.zip"
    members = {f"package/module{n}.py": f"def function_{n}():\n    return {n}\n".encode() * 50 for n in range(20)}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as deflated:
        for name, content in members.items():
            deflated.writestr(name, content)
    assert compress.compress([archive]) == [archive]
    with zipfile.ZipFile(archive) as stored:
        assert {member.compress_type for member in stored.infolist()} == {zipfile.ZIP_STORED}
        assert {name: stored.read(name) for name in stored.namelist()} == members
    assert brotli.decompress((tmp_path / "stdlib.zip.br").read_bytes()) == archive.read_bytes()
    assert compress.compress([archive]) == []
