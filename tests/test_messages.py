"""The widget's message catalogues (widget/imagechat_widget/messages.py): every language says
everything, with the same placeholders, and the widget asks only for words that exist."""

import re
from pathlib import Path

import pytest

from imagechat_widget import protocol
from imagechat_widget.messages import CATALOGUES, DEFAULT, SINGULAR_COUNTS, Messages, choose_locale
from imagechat_widget.state import presence_label

WIDGET = Path(__file__).resolve().parent.parent / "widget" / "imagechat_widget"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("locale", sorted(CATALOGUES))
def test_every_language_has_the_same_keys_and_placeholders(locale: str) -> None:
    english, other = CATALOGUES[DEFAULT], CATALOGUES[locale]
    assert sorted(other) == sorted(english)
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), key
        assert other[key].strip(), key
    assert locale in SINGULAR_COUNTS
    assert len(other["time.months"].split(" ")) == 12


# Keys whose words are truly the same in French and English (none yet).
SAME_IN_BOTH: set[str] = set()


def test_french_is_not_english_where_it_should_differ() -> None:
    same = {key for key, text in CATALOGUES["en"].items() if CATALOGUES["fr"][key] == text}
    assert same == SAME_IN_BOTH


def test_the_widget_asks_only_for_keys_that_exist() -> None:
    asked = set()
    for path in WIDGET.glob("*.py"):
        source = path.read_text()
        asked.update(re.findall(r'\.t\(\s*"([\w.]+)"\s*[,)]', source))
        asked.update(key + ".one" for key in re.findall(r'\.plural\(\s*"([\w.]+)"\s*,', source))
    # Keys made from a connection state (connection.py's, read from its source: it needs a
    # browser to import) or from the codes of refusals for good.
    states = dict(re.findall(r'^([A-Z]+) = "(\w+)"$', (WIDGET / "connection.py").read_text(), re.M))
    assert len(states) == 5, states
    asked.update("status." + state for state in states.values())
    asked.update("notice." + states[name] for name in ("OFFLINE", "RECONNECTING"))
    asked.update("notice." + code for code in (protocol.ORIGIN_NOT_ALLOWED, protocol.TENANT_NOT_FOUND))
    assert len(asked) > 40
    assert sorted(asked - set(CATALOGUES[DEFAULT])) == []


def test_choose_locale_order() -> None:
    assert choose_locale("fr", "en", ["en-US"]) == "fr"  # the site's choice first
    assert choose_locale(None, "fr-CA", ["en-US"]) == "fr"  # then the page's lang
    assert choose_locale("", "", ["de-DE", "fr-FR", "en"]) == "fr"  # then the browser's, in order
    assert choose_locale("de", None, ["FR_fr"]) == "fr"  # a language we lack: the next source
    assert choose_locale(None, None, ["de", "es"]) == "en"  # else English
    assert choose_locale(None, None, []) == "en"


def test_plurals_and_placeholders() -> None:
    english, french = Messages("en"), Messages("fr")
    assert [english.plural("thread.comments", n) for n in (0, 1, 2)] == ["0 comments", "1 comment", "2 comments"]
    assert [french.plural("thread.comments", n) for n in (0, 1, 2)] == [
        "0 commentaire", "1 commentaire", "2 commentaires"]
    assert french.t("thread.title", number=3) == "Discussion n° 3"
    assert Messages("xx").locale == "en"


def test_refusals_by_code() -> None:
    english, french = Messages("en"), Messages("fr")
    assert english.refusal(protocol.FORBIDDEN) == "only the author, or a moderator, may do that."
    assert french.refusal(protocol.FORBIDDEN) == "seul l'auteur, ou un modérateur, peut faire cela."
    assert french.t("error.not_saved", reason=french.refusal("mystery")) == "Non enregistré : le serveur a refusé (mystery)."


def test_presence_badge_in_french() -> None:
    french = Messages("fr")
    assert presence_label(2, ["Ada Lovelace", "Bo"], french) == ("2 ici · AL, BO", "Sur cette image : Ada Lovelace, Bo")
    assert presence_label(3, ["Ada"], french) == ("3 ici · AD", "Sur cette image : Ada et 2 autres")
    assert presence_label(2, [], french)[1] == "Sur cette image : 2 autres"
