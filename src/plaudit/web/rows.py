"""Table rows built in Python, for the one long list that is opened most:
the approvals queue (50 rows a page).

Autoescaped Jinja2 costs about 20 µs for a row of seven values here: every
value becomes a new `Markup` through two Python calls, every piece of text is
a step of the template's generator. That was most of what the Approvals
page's Python spent beyond its JSON's (bench/README.md, F). One f-string per
row, its texts escaped with `html.escape`, costs a fraction of that. The
markup is the template's own, moved here; short tables stay in their
templates.

Every value that is not ours goes through `html.escape` (quotes too: it may
stand in an attribute); ids, counts and times are built from their types.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def time_html(value: datetime | None) -> str:
    """A time as `<time>` in UTC ("19 Nov 2026, 17:58 UTC"; the filter `when`
    of every template). Built directly, both parts from a datetime (nothing
    to escape): `Markup.format`, or `strftime` (2.5x this), cost more than a
    list page's queries' Python. English month names whatever the process's
    locale, as strftime gave in the C locale."""
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    return (f'<time datetime="{utc.isoformat()}">{utc.day:02d} {MONTHS[utc.month - 1]} {utc.year}, '
            f'{utc.hour:02d}:{utc.minute:02d} UTC</time>')


def queue_rows(items: Iterable[Any]) -> Markup:
    """The rows of the approvals queue's table (`approvals/queue.html`), one
    `nominations.QueueItem` each."""
    return Markup("".join(map(_queue_row, items)))


def _queue_row(n: Any) -> str:
    team = f' <span class="muted">({escape(n.nominee_team_name)})</span>' if n.nominee_team_name else ""
    decisions = "—" if n.approvals_count is None else int(n.approvals_count)
    return (
        f'  <tr>\n    <td><a href="/app/approvals/{n.id}">{escape(n.nominee_name)}</a>{team}</td>\n'
        f"    <td>{escape(n.cycle_name)}</td>\n"
        f"    <td>{escape(n.nominator_name)}</td>\n"
        f"    <td>{time_html(n.created_at)}</td>\n"
        f'    <td class="num">{decisions}</td>\n  </tr>\n'
    )
