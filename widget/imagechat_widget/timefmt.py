"""Relative times for comments ("just now", "5 min ago"), from millisecond timestamps."""

MINUTE = 60 * 1000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def relative_time(then_ms, now_ms):
    age = max(0, now_ms - then_ms)
    if age < MINUTE:
        return "just now"
    if age < HOUR:
        return "%d min ago" % (age // MINUTE)
    if age < DAY:
        return "%d h ago" % (age // HOUR)
    if age < 7 * DAY:
        days = age // DAY
        return "yesterday" if days == 1 else "%d days ago" % days
    year, month, day = civil_date(then_ms // DAY)
    return "%s %d, %d" % (MONTHS[month - 1], day, year)


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
