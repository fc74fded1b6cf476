from imagechat_widget.messages import Messages
from imagechat_widget.timefmt import DAY, HOUR, MINUTE, civil_date, relative_time


def test_relative_times():
    now = 1_800_000_000_000
    assert relative_time(now - 5_000, now) == "just now"
    assert relative_time(now + 5_000, now) == "just now"  # a client clock a little behind
    assert relative_time(now - 3 * MINUTE, now) == "3 min ago"
    assert relative_time(now - 2 * HOUR, now) == "2 h ago"
    assert relative_time(now - DAY, now) == "yesterday"
    assert relative_time(now - 3 * DAY, now) == "3 days ago"
    assert relative_time(0, now) == "Jan 1, 1970"
    assert relative_time(now - 10 * DAY, now) == "Jan 5"  # this year's dates go without it
    assert relative_time(now - 30 * DAY, now) == "Dec 16, 2026"


def test_relative_times_in_french():
    now, french = 1_800_000_000_000, Messages("fr")  # 2027-01-15
    assert relative_time(now - 5_000, now, french) == "à l'instant"
    assert relative_time(now - 5 * MINUTE, now, french) == "il y a 5 min"
    assert relative_time(now - 2 * HOUR, now, french) == "il y a 2 h"
    assert relative_time(now - DAY, now, french) == "hier"
    assert relative_time(now - 3 * DAY, now, french) == "il y a 3 jours"
    assert relative_time(now - 10 * DAY, now, french) == "5 janv."
    assert relative_time(now - 300 * DAY, now, french) == "21 mars 2026"


def test_civil_date_matches_the_standard_library():
    import datetime

    for days in (0, 59, 60, 365, 10_957, 11_016, 20_000, 30_000):
        expected = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
        assert civil_date(days) == (expected.year, expected.month, expected.day)
