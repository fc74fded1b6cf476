"""Where the files browsers load are found: inside the installed package, or in the checkout.

The server serves two folders (see app.py, and serving.py for the widget's files): `public/`
(embed.js, widget.css, demo/, dashboard/, and the npm runtime in node_modules/) and `widget/` (the
widget's Python: main.py, imagechat_widget/).

- Running from source (a checkout, the editable install in .venv, the tests, `scripts/dev demo`):
  they are the checkout's own `public/` and `widget/`, beside `server/`, as they are when the
  server starts (restart it to serve edited widget files: their URLs carry a hash of them).
- An installed wheel (built by `scripts/dev wheel`) carries a copy in `imagechat/web/`, with the
  same layout: `web/public/...` and `web/widget/...`, where `web/public/node_modules/` holds only
  the runtime files browsers load (PyScript's dist/*.js and *.css, Pyodide's five runtime files,
  MicroPython's two, uPlot's minified script and stylesheet), each with its brotli and gzip copies
  (compress.py), and each package's package.json (its version is in the runtime's URLs).

The package's own copy wins when there is one; the checkout is never built into (the wheel is
assembled in a temporary copy), so a checkout always serves the files you are editing.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# In a wheel: the copy of public/ and widget/ that `scripts/dev wheel` put into the package.
PACKAGED = PACKAGE_DIR / "web"
# From source: server/imagechat/static.py -> the checkout holds public/ and widget/ beside server/.
CHECKOUT = PACKAGE_DIR.parents[1]

ROOT = PACKAGED if (PACKAGED / "public").is_dir() else CHECKOUT
PUBLIC_DIR = ROOT / "public"
WIDGET_DIR = ROOT / "widget"
