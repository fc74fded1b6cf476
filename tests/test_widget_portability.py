"""The widget runs on PyScript's two interpreters, Pyodide (CPython) and MicroPython: what differs
between them is handled in `imagechat_widget.compat` alone, the rest is written in the Python both
run, and the pure modules compute the same things on both."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import micropython_scenario

ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "widget"
SOURCES = sorted([*(WIDGET / "imagechat_widget").glob("*.py"), WIDGET / "main.py"])
MICROPYTHON = ROOT / "public/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"

# The interpreter's own modules, reached through compat only.
INTERPRETER_MODULES = {"pyscript", "js", "jsffi", "pyodide", "polyscript"}
# The standard library both interpreters have (MicroPython has no uuid, dataclasses, typing, ...).
STANDARD_LIBRARY = {"asyncio", "json", "random", "sys"}
# Spellings that work on CPython only, with what to write instead.
CPYTHON_ONLY = {
    ".capitalize(": "text[:1].upper() + text[1:]",
    "Exception.__init__": "super().__init__(...)",
    "asyncio.ensure_future": "compat.spawn",
    "asyncio.create_task": "compat.spawn",
}


def imported(source: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


def test_only_compat_reaches_the_interpreter():
    reaching = {path.name for path in SOURCES if imported(path) & INTERPRETER_MODULES}
    assert reaching == {"compat.py"}


def test_the_widget_imports_only_what_both_interpreters_have():
    for path in SOURCES:
        allowed = STANDARD_LIBRARY | {"imagechat_widget"} | (INTERPRETER_MODULES if path.name == "compat.py" else set())
        assert imported(path) <= allowed, path.name


def test_the_widget_spells_nothing_micropython_lacks():
    for path in SOURCES:
        if path.name == "compat.py":
            continue
        text = path.read_text()
        assert [(spelling, instead) for spelling, instead in CPYTHON_ONLY.items() if spelling in text] == [], path.name


@pytest.mark.skipif(shutil.which("node") is None or not MICROPYTHON.exists(),
                    reason="needs Node.js and public/node_modules (scripts/dev setup)")
def test_the_pure_modules_compute_the_same_on_micropython():
    done = subprocess.run(["node", str(ROOT / "tests/micropython_run.mjs")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    on_micropython = json.loads(done.stdout)
    on_cpython = json.loads(json.dumps(micropython_scenario.results()))  # tuples as lists, as there
    assert on_micropython == on_cpython
