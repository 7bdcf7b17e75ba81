"""The page filters: `when` writes a time as a `<time>` in UTC, in words;
the approvals queue's rows are built in Python and escape what they show."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup

from plaudit.services.nominations import QueueItem
from plaudit.web.render import when
from plaudit.web.rows import queue_rows


def test_when_is_a_time_element_in_utc_with_the_month_in_english():
    paris = timezone(timedelta(hours=1))
    shown = when(datetime(2026, 1, 5, 9, 7, 3, 120000, tzinfo=paris))
    assert isinstance(shown, Markup)
    assert shown == '<time datetime="2026-01-05T08:07:03.120000+00:00">05 Jan 2026, 08:07 UTC</time>'


def test_when_of_nothing_is_a_dash():
    assert when(None) == "—"


def test_queue_rows_escape_every_text_and_keep_the_template_markup():
    nomination_id = uuid.UUID("00000000-0000-4000-8000-000000000001")
    hostile = QueueItem(nomination_id, "Q4 & <b>", '"Nina" <script>', "O'Brien </td>", "R&D <i>",
                        datetime(2026, 1, 5, 8, 7, tzinfo=UTC), 2)
    row = queue_rows([hostile])
    assert isinstance(row, Markup)
    assert "<script>" not in row and "<b>" not in row and "<i>" not in row and "</td>\n" in row
    assert row == (
        '  <tr>\n    <td><a href="/app/approvals/00000000-0000-4000-8000-000000000001">O&#x27;Brien &lt;/td&gt;</a>'
        ' <span class="muted">(R&amp;D &lt;i&gt;)</span></td>\n'
        "    <td>Q4 &amp; &lt;b&gt;</td>\n"
        "    <td>&quot;Nina&quot; &lt;script&gt;</td>\n"
        '    <td><time datetime="2026-01-05T08:07:00+00:00">05 Jan 2026, 08:07 UTC</time></td>\n'
        '    <td class="num">2</td>\n  </tr>\n'
    )
    plain = queue_rows([hostile._replace(nominee_team_name=None, approvals_count=None)])
    assert "muted" not in plain and '<td class="num">—</td>' in plain
