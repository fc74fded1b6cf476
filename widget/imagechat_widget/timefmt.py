"""Relative times for comments ("just now", "5 min ago"; "à l'instant", "il y a 5 min"), from
millisecond timestamps, worded by a `messages.Messages`."""

from imagechat_widget.messages import ENGLISH

MINUTE = 60 * 1000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def relative_time(then_ms, now_ms, messages=ENGLISH):
    age = max(0, now_ms - then_ms)
    if age < MINUTE:
        return messages.t("time.now")
    if age < HOUR:
        return messages.t("time.minutes", count=age // MINUTE)
    if age < DAY:
        return messages.t("time.hours", count=age // HOUR)
    if age < 7 * DAY:
        days = age // DAY
        return messages.t("time.yesterday") if days == 1 else messages.t("time.days", count=days)
    year, month, day = civil_date(then_ms // DAY)
    name = messages.t("time.months").split(" ")[month - 1]
    if year == civil_date(now_ms // DAY)[0]:  # this year's dates go without it
        return messages.t("time.date", month=name, day=day)
    return messages.t("time.date_year", month=name, day=day, year=year)


def civil_date(days_since_epoch):
    """(year, month, day) in UTC for a count of days since 1970-01-01 (H. Hinnant's algorithm;
    no `datetime`, which MicroPython lacks)."""
    z = days_since_epoch + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day
