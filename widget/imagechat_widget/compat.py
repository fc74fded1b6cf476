"""What differs between PyScript's two interpreters, in one place: Pyodide (CPython compiled to
WebAssembly, the default) and MicroPython (`data-runtime="micropython"` on embed.js's tag).

The other modules take the browser's objects from here, never from `pyscript`, `js` or `jsffi`
(tests/test_widget_portability.py checks it), and are written in the Python both run: no
`str.capitalize` or `Exception.__init__` (use `super()`), no `uuid`, `dataclasses` or `typing`;
MicroPython's dicts keep no insertion order, so what is shown in order is sorted.

What differs at run time, and what is done here:
- Whole numbers cross between JavaScript and MicroPython as 32 bits: `Date.now()` (about 1.8e12)
  arrives wrapped around, and a Python int past 2**31 arrives in JavaScript as something else.
  `now_ms` reads the clock's digits as text on MicroPython; the widget hands big numbers to
  JavaScript only as text (JSON, attributes).
- asyncio: MicroPython has no `ensure_future`; `spawn` is its `create_task` there (Pyodide keeps
  `ensure_future`, whose task needs no running loop).
- JavaScript `null` is Pyodide's `jsnull` and MicroPython's `None`: `is_none` says both, and both
  are false (`if not node:` is right in both).
- `window`: PyScript's is its `js` module (globalThis); `window.window` is the window object itself
  in both, whose methods (addEventListener, fetch, confirm) are always called on the right `this`
  (MicroPython builds have raised "Illegal invocation" for calls through `js`).
- `to_js` and `create_proxy` are PyScript's own, right in both: dicts become plain objects (not
  Maps), and a proxy handed to JavaScript stays alive for the callbacks JavaScript keeps.
"""

import asyncio
import sys

import pyscript
from pyscript import WebSocket, document  # noqa: F401 (the widget's modules import them from here)
from pyscript.ffi import create_proxy, is_none, to_js  # noqa: F401

RUNTIME = "micropython" if sys.implementation.name == "micropython" else "pyodide"

window = pyscript.window.window

if RUNTIME == "micropython":
    spawn = asyncio.create_task
    # The time's digits, written by JavaScript (a Date formats as its milliseconds since the epoch).
    _DIGITS = window.Intl.NumberFormat.new("en", to_js({"useGrouping": False}))

    def now_ms():
        return int(_DIGITS.format(window.Date.new()))

else:
    spawn = asyncio.ensure_future

    def now_ms():
        return int(window.Date.now())
