"""The widget in the reader's language: on a French page, nothing in the widget's shadow DOM is
English (texts, placeholders, titles, ARIA labels), whatever it shows: an open thread, the
composer, the editor, the list, the offline notice, a refusal, a confirmation; dates are French."""

from __future__ import annotations

import re
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from imagechat_widget.messages import CATALOGUES
from tests.rest import Rest, ok
from tests.widget_page import PYTHON_START_TIMEOUT, RUNTIMES, Viewer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
URL_ID = "maquette-fr"
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Revue de maquette</title>
<script type="module" src="{server}/embed.js" data-runtime="{runtime}"{script_locale}></script>
<style>body {{ font: 16px system-ui, sans-serif; margin: 24px 40px; color: #1f2330; }} img {{ width: 900px; }}</style>
</head><body>
<h1>Revue de la maquette du tableau de bord</h1>
<img src="{server}/demo/mockup.svg" alt="Maquette" data-image-chat data-tenant="revue" data-url-id="{url_id}" width="1200" height="750">
</body></html>
"""
# Every text node, placeholder, title and ARIA label in the widget's shadow root (hidden parts too).
SHOWN_STRINGS = """(host) => {
  const found = [];
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE && child.textContent.trim()) found.push(child.textContent.trim());
      if (child.nodeType !== Node.ELEMENT_NODE || child.localName === "style") continue;
      for (const name of ["placeholder", "title", "aria-label"]) {
        if (child.getAttribute(name)) found.push(child.getAttribute(name));
      }
      walk(child);
    }
  };
  walk(host.shadowRoot);
  return found;
}"""
EMBED_ENGLISH = ["Loading comments…", "Comments unavailable"]
FRENCH_DATE = re.compile(r"^\d{1,2} (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.)( \d{4})?$")


def english_patterns() -> list[re.Pattern]:
    """The English catalogue (and embed.js's pill) as patterns, placeholders matching anything;
    not the messages that are only placeholders and punctuation ("{author}: {text}")."""
    patterns = []
    for text in [*CATALOGUES["en"].values(), *EMBED_ENGLISH]:
        if not re.search(r"[A-Za-z]", re.sub(r"\{\w+\}", "", text)):
            continue
        parts = re.split(r"\{\w+\}", text)
        patterns.append(re.compile(".+".join(re.escape(part) for part in parts), re.S))
    return patterns


@pytest.fixture
def site(tmp_path, fresh_server):
    """A site on another origin (tenant `revue`): `site(runtime, lang, script_locale)` writes its
    page and gives its address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    # The server's own origin too: the tests' REST calls come from it.
    fresh_server.cli("tenant", "create", "Revue", "--id", "revue", "--origin", origin, "--origin", fresh_server.url)

    def page(runtime: str, lang: str = "fr", script_locale: str = "") -> str:
        (tmp_path / "revue.html").write_text(PAGE.format(
            server=fresh_server.url, lang=lang, runtime=runtime, url_id=URL_ID,
            script_locale=f' data-locale="{script_locale}"' if script_locale else ""))
        return f"{origin}/revue.html"

    yield page
    server.shutdown()


class Seen:
    """What the widget showed over the test, checked for English at the end."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.strings: set[str] = set()

    def collect(self) -> None:
        self.strings.update(self.viewer.widget.evaluate(SHOWN_STRINGS))

    def english(self) -> list[str]:
        patterns = english_patterns()
        return sorted(s for s in self.strings if any(p.fullmatch(s) for p in patterns))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_french_page_shows_no_english(new_context, fresh_server, site, runtime):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rest = Rest(fresh_server, name="Bob", tenant="revue")
    marker_id = ok(rest.create_marker(URL_ID, "Le titre du graphique chevauche la légende", x=0.42, y=0.3))["marker"]["id"]
    context = new_context(fresh_server)  # the browser's own language stays English: the page's wins
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(site(runtime))
    alice = Viewer(page, runtime)
    alice.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
    expect(alice.widget.locator(".status")).to_have_text("En direct")
    seen = Seen(alice)

    # The thread, the composer (with the name field), a reply, the editor.
    alice.pins.first.click()
    expect(alice.popover.locator(".title")).to_have_text("Discussion n° 1")
    expect(alice.popover.locator("textarea.message")).to_have_attribute("placeholder", "Répondre…")
    seen.collect()
    alice.popover.locator("input.name").fill("Alice")
    alice.popover.locator("textarea.message").fill("Bien vu, je décale la légende sous le graphique.")
    alice.popover.get_by_role("button", name="Répondre").click()
    expect(alice.comments).to_have_count(2)
    expect(alice.popover.locator("header .count")).to_have_text("2 commentaires")
    expect(alice.comments.nth(1).locator(".time")).to_have_text("à l'instant")
    page.mouse.move(0, 0)
    box = alice.widget.bounding_box()  # the README's picture: the heading and the image
    page.screenshot(path=str(SCREENSHOTS / f"french-{runtime}.png"),
                    clip={"x": 0, "y": 0, "width": box["x"] * 2 + box["width"], "height": box["y"] + box["height"] + 24})
    seen.collect()
    alice.comments.nth(1).get_by_role("button", name="Modifier").click()
    expect(alice.popover.get_by_role("button", name="Enregistrer")).to_be_visible()
    seen.collect()
    alice.popover.get_by_role("button", name="Annuler").click()
    alice.comments.nth(1).get_by_role("button", name="Supprimer").click()  # confirmed (new_context)
    expect(alice.comments).to_have_count(1)
    assert dialogs == ["Supprimer ce commentaire ?"]

    # The thread list.
    alice.widget.locator(".list-toggle").click()
    expect(alice.popover.locator("header .count")).to_have_text("1 discussion")
    seen.collect()
    alice.popover.get_by_role("button", name="Fermer").click()

    # A refusal: the thread was deleted before Alice heard of it.
    alice.pins.first.click()
    page.evaluate("window.ImageChat.pauseLive()")
    ok(rest.delete_marker(marker_id))
    alice.popover.locator("textarea.message").fill("Et la couleur ?")
    alice.popover.get_by_role("button", name="Répondre").click()
    expect(alice.popover.locator(".error")).to_have_text(
        "Non enregistré : cette discussion a été supprimée entre-temps.")
    seen.collect()
    page.evaluate("window.ImageChat.resumeLive()")
    expect(alice.pins).to_have_count(0)

    # Offline: the pill, the notice, and the reason where she clicks.
    context.set_offline(True)
    alice.expect_status("offline")
    expect(alice.widget.locator(".status")).to_have_text("Hors ligne")
    alice.layer.click(position={"x": 400, "y": 300})
    expect(alice.widget.locator(".callout")).to_have_text(
        "Vous êtes hors ligne — les marqueurs sont en lecture seule jusqu'au retour de la connexion.")
    seen.collect()
    context.set_offline(False)
    alice.expect_status("connected", timeout=15_000)

    # Dates: 40 days on, a comment's time is a French date.
    ok(rest.create_marker(URL_ID, "Et ici ?", x=0.7, y=0.6))
    expect(alice.pins).to_have_count(1)
    page.clock.set_fixed_time(time.time() + 40 * 86400)
    alice.pins.first.click()
    expect(alice.comments.first.locator(".time")).to_have_text(FRENCH_DATE)
    seen.collect()

    assert len(seen.strings) > 30
    assert seen.english() == []


def test_the_loading_pill_speaks_the_script_tags_language(new_context, fresh_server, site):
    """embed.js words its pill alone, before Python runs: `data-locale` on its script tag wins
    over the page's `lang` (here English); when the runtime cannot load, the pill says so in French."""
    context = new_context(fresh_server)
    page = context.new_page()
    page.route("**/vendor/pyscript/**", lambda route: route.abort())
    page.goto(site("micropython", lang="en", script_locale="fr"))
    status = page.locator("image-chat .status")
    expect(status).to_have_attribute("data-state", "unavailable")
    expect(status).to_have_text("Commentaires indisponibles")


# Every text node, placeholder, title and ARIA label of the page, but code (commands, metric names).
PAGE_STRINGS = """() => {
  const found = [document.title];
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE && child.textContent.trim()) found.push(child.textContent.trim());
      if (child.nodeType !== Node.ELEMENT_NODE || ["code", "script", "style"].includes(child.localName)) continue;
      for (const name of ["placeholder", "title", "aria-label"]) {
        if (child.getAttribute(name)) found.push(child.getAttribute(name));
      }
      walk(child);
    }
  };
  walk(document.body);
  return found;
}"""


def test_the_dashboard_in_french(browser, new_context, fresh_server):
    """A French browser gets the dashboard in French (sign-in, a refusal, the figures, the chart's
    legend); `?lang=fr` does it on any browser."""
    from tests.test_security import demo_secret

    context = browser.new_context(base_url=fresh_server.url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto("/dashboard/?tenant=demo")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#signin-title")).to_have_text("Tableau de bord d'utilisation")
        catalogues = page.evaluate("import('/dashboard/dashboard.js').then((module) => module.CATALOGUES)")
        seen = set(page.evaluate(PAGE_STRINGS))
        page.locator("input[name=secret]").fill("not-the-secret")
        page.get_by_role("button", name="Voir l'utilisation").click()
        expect(page.locator(".signin-error")).to_have_text("le secret d'API ne correspond pas à ce compte")
        seen.update(page.evaluate(PAGE_STRINGS))
        page.locator("input[name=secret]").fill(demo_secret(fresh_server))
        page.get_by_role("button", name="Voir l'utilisation").click()
        expect(page.locator(".usage-chart canvas").first).to_be_visible()
        expect(page.locator("#refresh-time")).to_contain_text("Mis à jour")
        page.get_by_role("button", name="7 jours").click()
        expect(page.locator("#chart-title")).to_have_text("Messages par heure et bande passante")
        seen.update(page.evaluate(PAGE_STRINGS))
    finally:
        context.close()

    same = {text for key, text in catalogues["en"].items() if catalogues["fr"][key] == text}
    assert sorted(catalogues["fr"]) == sorted(catalogues["en"])
    patterns = [re.compile(".+".join(re.escape(part) for part in re.split(r"\{\w+\}", text)), re.S)
                for text in catalogues["en"].values() if text not in same and re.search(r"[A-Za-z]{2}", text)]
    assert len(seen) > 40
    assert sorted(s for s in seen if any(p.fullmatch(s) for p in patterns)) == []

    english = new_context(fresh_server).new_page()
    english.goto("/dashboard/?tenant=demo&lang=fr")
    expect(english.locator("#signin-title")).to_have_text("Tableau de bord d'utilisation")
