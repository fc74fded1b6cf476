"""The names screen readers hear (imagechat_widget.a11y), in English and French."""

from __future__ import annotations

from imagechat_widget.a11y import new_thread_announcement, pin_label
from imagechat_widget.messages import Messages

ENGLISH, FRENCH = Messages("en"), Messages("fr")


def marker(author: str = "Ada", text: str | None = "The legend overlaps the chart") -> dict:
    comments = [{"id": "c1", "author": {"id": "a", "name": author}, "text": text}] if text is not None else []
    return {"id": "m1", "x": 0.5, "y": 0.5, "author": {"id": "a", "name": author}, "comments": comments}


def test_a_pin_says_its_place_its_size_its_author_and_how_it_starts():
    assert pin_label(ENGLISH, 3, 7, marker(), 2) == "Thread 3 of 7, 2 comments, by Ada: The legend overlaps the chart"
    assert pin_label(ENGLISH, 1, 1, marker(), 1) == "Thread 1 of 1, 1 comment, by Ada: The legend overlaps the chart"


def test_a_pin_says_resolved_and_sending_and_cuts_long_first_comments():
    long = marker(text="x" * 200)
    label = pin_label(ENGLISH, 2, 2, long, 5, resolved=True, pending=True)
    assert label == "Thread 2 of 2, 5 comments, by Ada: " + "x" * 80 + ", resolved, sending"


def test_a_thread_whose_comments_are_not_loaded_is_named_by_its_author_only():
    assert pin_label(ENGLISH, 4, 9, marker(text=None), 3) == "Thread 4 of 9, 3 comments, by Ada"


def test_new_threads_of_others_are_announced_with_their_first_words():
    assert new_thread_announcement(ENGLISH, marker("Bob", "Typo in the title")) == "New thread by Bob: Typo in the title"
    assert new_thread_announcement(ENGLISH, marker("Bob", None)) == "New thread by Bob"


def test_french_names_use_french_plurals():
    assert pin_label(FRENCH, 1, 2, marker(), 1, resolved=True) == (
        "Discussion 1 sur 2, 1 commentaire, par Ada : The legend overlaps the chart, résolue")
    assert pin_label(FRENCH, 2, 2, marker(), 2) == "Discussion 2 sur 2, 2 commentaires, par Ada : The legend overlaps the chart"
    assert new_thread_announcement(FRENCH, marker("Bob", "Coquille")) == "Nouvelle discussion de Bob : Coquille"
