"""The page filters: `when` writes a time as a `<time>` in UTC, in words."""

from datetime import datetime, timedelta, timezone

from markupsafe import Markup

from plaudit.web.render import when


def test_when_is_a_time_element_in_utc_with_the_month_in_english():
    paris = timezone(timedelta(hours=1))
    shown = when(datetime(2026, 1, 5, 9, 7, 3, 120000, tzinfo=paris))
    assert isinstance(shown, Markup)
    assert shown == '<time datetime="2026-01-05T08:07:03.120000+00:00">05 Jan 2026, 08:07 UTC</time>'


def test_when_of_nothing_is_a_dash():
    assert when(None) == "—"
