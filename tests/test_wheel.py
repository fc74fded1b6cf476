"""Installed like a real Python server: the wheel from `scripts/dev build-wheel`, installed into a fresh
virtualenv in another folder and run from a third, serves its own widget, demo and dashboard with
no checkout on the path, and the page touches no host but the server."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.services import answers_health, free_port, polled
from tests.widget_page import Viewer

pytestmark = pytest.mark.browser

CHECKOUT = Path(__file__).resolve().parents[1]


def clean_env() -> dict[str, str]:
    """This process's environment without anything that points into the checkout or sets the server up."""
    return {key: value for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not key.startswith("IMAGECHAT_")}


@dataclass
class Installed:
    venv: Path
    site: Path  # the folder the server runs in (its SQLite file lands here)
    url: str


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built and installed into a fresh virtualenv once per test run: under pytest-xdist
    the first worker to need it builds it, the others wait for it and share it (read-only)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    base = root / "wheel"
    with open(root / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (base / "installed").exists():
            shutil.rmtree(base, ignore_errors=True)  # what a failed attempt left
            env = clean_env()
            subprocess.run([CHECKOUT / "scripts" / "dev", "build-wheel", base / "dist"], check=True, env=env,
                           capture_output=True)
            (wheel,) = (base / "dist").glob("imagechat-*.whl")
            # Without pip of its own (saves ~5 s): this process's pip installs into it, from pip's cache.
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", base / "venv"], check=True)
            subprocess.run([sys.executable, "-m", "pip", "--python", base / "venv" / "bin" / "python", "install",
                            "-q", "--disable-pip-version-check", wheel], check=True, env=env, capture_output=True)
            (base / "installed").touch()
    return base / "venv"


@pytest.fixture(scope="module")
def installed(wheel_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    env = clean_env()
    venv = wheel_venv
    site = tmp_path_factory.mktemp("site")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = site / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([venv / "bin" / "imagechat", "serve", "--port", str(port)],
                                   cwd=site, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def started() -> bool:
            assert process.poll() is None, log.read_text()[-2000:]
            return answers_health(url)

        assert polled(started, 30), log.read_text()[-2000:]
        yield Installed(venv, site, url)
    finally:
        process.terminate()
        process.wait(10)


def test_the_installed_package_carries_its_browser_files_and_not_the_checkout(installed: Installed):
    where = subprocess.run(
        [installed.venv / "bin" / "python", "-c",
         "import imagechat, imagechat.static as s; print(imagechat.__file__); print(s.ROOT)"],
        cwd=installed.site, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout.split()
    site_packages = next((installed.venv / "lib").glob("python3*/site-packages"))
    assert [Path(path) for path in where] == [site_packages / "imagechat" / "__init__.py",
                                              site_packages / "imagechat" / "web"]
    # Only the runtime files browsers load, not the whole of node_modules.
    runtime = site_packages / "imagechat" / "web" / "public" / "node_modules"
    assert sorted(path.name for path in runtime.iterdir()) == ["@micropython", "@pyscript", "pyodide", "uplot"]
    assert not list(runtime.rglob("*.map"))
    # With their brotli and gzip copies, made when the wheel was built, and sent as they are.
    for name in ("pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip", "@pyscript/core/dist/core.js",
                 "@micropython/micropython-webassembly-pyscript/micropython.wasm"):
        assert (runtime / f"{name}.br").is_file() and (runtime / f"{name}.gz").is_file(), name
    version = json.loads((runtime / "pyodide" / "package.json").read_text())["version"]
    wasm = httpx.get(f"{installed.url}/vendor/pyodide/{version}/pyodide.asm.wasm", headers={"Accept-Encoding": "br"})
    assert wasm.headers["content-encoding"] == "br"
    assert wasm.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(wasm.headers["content-length"]) == (runtime / "pyodide" / "pyodide.asm.wasm.br").stat().st_size
    assert f"vendor/pyodide/{version}/" in httpx.get(f"{installed.url}/embed.js").text
    assert (installed.site / "imagechat.db").is_file()  # the default SQLite file, where it was started


def test_the_installed_server_serves_the_demo_widget_and_dashboard_all_locally(installed: Installed,
                                                                                 browser: Browser):
    answer = httpx.post(f"{installed.url}/api/v1/tenants/demo/sessions", json={"name": "Ada"},
                        headers={"Origin": installed.url})
    assert answer.status_code == 201, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['token']}", "Origin": installed.url}
    created = httpx.post(f"{installed.url}/api/v1/tenants/demo/markers", headers=headers,
                         json={"urlId": "demo-dashboard-v1", "x": 0.3, "y": 0.4, "text": "Made through the API"})
    assert created.status_code == 201, created.text

    context = browser.new_context(base_url=installed.url, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        requested: list[str] = []
        refused: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: print(f"console {message.type}: {message.text}"))  # shown on failure
        page.on("requestfailed", lambda request: refused.append(f"{request.url} {request.failure}"))
        page.on("response", lambda response: response.status >= 400
                and refused.append(f"{response.url} {response.status}"))

        viewer = Viewer(page).open("/demo/")
        expect(viewer.pins).to_have_count(1)
        viewer.open_thread(1)
        expect(viewer.comments.first.locator(".text")).to_have_text("Made through the API")
        # The runtime under its versioned URL (embed.js's manifest, written by the server).
        assert any(re.search(r"/vendor/pyodide/[0-9][^/]*/pyodide\.asm\.wasm$", url) for url in requested)

        page.goto("/dashboard/")
        page.wait_for_function("typeof window.uPlot === 'function'")

        outside = [url for url in requested
                   if urlsplit(url).scheme not in {"data", "blob"} and urlsplit(url).hostname != "127.0.0.1"]
        assert outside == []
        assert refused == []
    finally:
        context.close()
