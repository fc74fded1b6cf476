"""Links to a thread (widget/imagechat_widget/links.py): what the widget writes into a link and
reads back from the page's address, whatever the image's urlId holds and whatever else the
address says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imagechat_widget.links import decode, encode, find_thread, thread_fragment, thread_link

IDS = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=64)


@given(st.text(min_size=1, max_size=200), IDS)
def test_any_url_id_and_marker_id_come_back_from_the_link(url_id, marker_id) -> None:
    link = thread_link("https://site.example/p/?q=1#section", url_id, marker_id)
    address, _hash, fragment = link.partition("#")
    assert address == "https://site.example/p/?q=1"
    assert find_thread("#" + fragment) == (url_id, marker_id)
    assert set(fragment) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%:=_")


def test_the_encoding_is_percent_encoded_utf8() -> None:
    assert encode("https://ex.com/a b?x=1&y#z é") == "https%3A%2F%2Fex.com%2Fa%20b%3Fx%3D1%26y%23z%20%C3%A9"
    assert thread_fragment("checkout-v2", "m1234567") == "imagechat=checkout-v2:m1234567"
    assert decode("%e2%9c%93 ok") == "✓ ok"  # lower-case hex, and characters left as they are


def test_it_is_found_among_the_pages_own_fragment_parts_or_in_the_query() -> None:
    ours = thread_fragment("shot", "m1234567")
    assert find_thread("#top&" + ours + "&tab=2") == ("shot", "m1234567")
    assert find_thread("#/tickets/4411", "?lang=fr&" + ours) == ("shot", "m1234567")
    assert find_thread(ours) == ("shot", "m1234567")


def test_anything_else_names_no_thread() -> None:
    for fragment in ["", "#", "#top", "#/tickets/4411", "#imagechat=", "#imagechat=shot", "#imagechat=shot:",
                     "#imagechat=:m1234567", "#imagechat=%zz:m1234567", "#imagechat=%C3:m1234567",
                     "#imagechat=%4:m1234567", "#imagechat=% 1:m1234567", "#imagechat=%+1:m1234567",
                     "#imagechat=shot:m12 34", "#imagechat=shot:" + "m" * 65, "#ximagechat=shot:m1234567"]:
        assert find_thread(fragment) is None, fragment


def test_a_bad_part_does_not_hide_a_good_one() -> None:
    assert find_thread("#imagechat=%zz:m1&imagechat=shot:m2") == ("shot", "m2")
