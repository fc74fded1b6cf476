"""Brotli and gzip copies of the browser runtime, made once ahead of time, never per request.

`X.br` and `X.gz` are written beside each runtime file X (PyScript, Pyodide, MicroPython, uPlot in
public/node_modules): by `scripts/dev setup` after `npm ci`, and by `scripts/dev build-wheel` for the
wheel's copy. The server sends the smallest copy a browser accepts (see serving.py). Ahead of time
because brotli at its best quality takes about 30 s for Pyodide's 9.6 MB `pyodide.asm.wasm`
(2.7 MB once compressed). The widget's own few small files are compressed when the server starts.

    python -m imagechat.compress PATH...     files, or folders (every file in them)

A file whose copies are already there is skipped: the copies carry their original's modification
time (servestatic's Compressor sets it), so a changed original is compressed again. Images,
fonts and archives of compressed formats get no copies, nor does a file whose copy would save
under 5 % (none of the runtime's).

A zip archive (Pyodide's python_stdlib.zip) is first rewritten with its members stored instead of
deflated, the same members with the same contents: brotli then compresses across all of them, and
the 2.5 MB archive crosses the wire at 1.6 MB instead of 2.5 MB. Pyodide writes it as it is into
its file system, where Python imports from it (stored members are read without inflating).
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from servestatic.compress import Compressor

# zstd: Python 3.11 lacks it, and brotli is smaller. Zip archives are compressed too (see store_zip).
COMPRESSOR = Compressor(extensions=[e for e in Compressor.SKIP_COMPRESS_EXTENSIONS if e != "zip"],
                        use_zstd=False, quiet=True)
SUFFIXES = (".br", ".gz")


def is_copy(path: Path) -> bool:
    return path.suffix in SUFFIXES and path.with_suffix("").is_file()


def is_done(path: Path) -> bool:
    """The gzip copy, written last, is there and made from this version of the file (its time is
    the original's, give or take the sub-microsecond rounding of setting it)."""
    gzipped = path.with_name(path.name + ".gz")
    return gzipped.is_file() and abs(gzipped.stat().st_mtime - path.stat().st_mtime) < 0.001


def files_in(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(file for file in path.rglob("*") if file.is_file() and not is_copy(file))
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(path)


def store_zip(path: Path) -> None:
    """Rewrite a zip archive with every member stored (not deflated), unless it already is."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if all(member.compress_type == zipfile.ZIP_STORED for member in members):
            return
        contents = [archive.read(member) for member in members]
    stored = path.with_name(path.name + ".stored")
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        for member, content in zip(members, contents):
            entry = zipfile.ZipInfo(member.filename, member.date_time)
            entry.external_attr = member.external_attr
            archive.writestr(entry, content)
    stored.replace(path)


def compress_file(path: Path) -> None:
    if path.suffix == ".zip":
        store_zip(path)
    COMPRESSOR.compress(str(path))


def compress(paths: Iterable[Path]) -> list[Path]:
    """Make the missing copies of these files (and of every file in these folders); the files done."""
    todo = [path for path in files_in(paths) if COMPRESSOR.should_compress(path.name) and not is_done(path)]
    # Brotli releases the GIL: the big files are compressed side by side, biggest first.
    todo.sort(key=lambda path: path.stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(compress_file, todo))
    return todo


def main(arguments: list[str]) -> None:
    if not arguments:
        raise SystemExit(f"usage: {sys.executable} -m imagechat.compress PATH...")
    done = compress(Path(argument) for argument in arguments)
    print(f"compressed {len(done)} file(s)" + (f", {sum(p.stat().st_size for p in done) / 1e6:.1f} MB" if done else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
