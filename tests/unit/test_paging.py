"""Keyset paging: cursors round-trip, tampered cursors are a validation error
(never a 500), and pages in any key direction concatenate to the full order."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plaudit.errors import ValidationFailed
from plaudit.models import User
from plaudit.paging import MAX_LIMIT, asc, decode_cursor, desc, encode_cursor, keyset_page, seal
from tests.factories import make_user


def _raw(obj) -> str:
    """A hand-made cursor, signed like the real ones (so the checks after the
    signature's are what is tested)."""
    return seal(json.dumps(obj).encode())


@pytest.mark.parametrize(
    "values",
    [
        [uuid.UUID("12345678-1234-5678-1234-567812345678")],
        [datetime(2030, 1, 10, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()],
        [datetime(2030, 1, 10, 14, 0, tzinfo=UTC).astimezone(UTC) + timedelta(hours=1)],
        [Decimal("4.250000"), Decimal("-0.0001"), uuid.uuid4()],
        ["Zoë O'Brien, \"quoted\" ✓", 42, -7, True, False, None],
        [""],
    ],
)
def test_cursor_round_trips(values):
    cursor = encode_cursor(values)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    decoded = decode_cursor(cursor, len(values))
    assert decoded == values
    assert [type(v) for v in decoded] == [type(v) for v in values]


def test_cursor_keeps_the_time_zone_instant():
    when = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
    (back,) = decode_cursor(encode_cursor([when]), 1)
    assert back == when and back.utcoffset() == timedelta(0)


def test_cursor_refuses_to_encode_floats():
    with pytest.raises(TypeError):
        encode_cursor([1.5])


TAMPERED = {
    "not-base64": seal(b"") + "!!!!",
    "empty": "",
    "non-ascii": "é" * 8,
    "not-json": seal(b"{nope"),
    "not-utf8": seal(b"\xff\xfe\xfd"),
    "json-object": _raw({"u": str(uuid.uuid4())}),
    "json-scalar": _raw(5),
    "too-few-values": _raw([]),
    "too-many-values": _raw(["a", "b"]),
    "unknown-tag": _raw([{"x": "1"}]),
    "two-tags": _raw([{"u": str(uuid.uuid4()), "t": "2030-01-01T00:00:00+00:00"}]),
    "empty-tag": _raw([{}]),
    "bad-uuid": _raw([{"u": "not-a-uuid"}]),
    "uuid-as-number": _raw([{"u": 12345}]),
    "naive-time": _raw([{"t": "2030-01-10T12:00:00"}]),
    "bad-time": _raw([{"t": "yesterday"}]),
    "time-as-list": _raw([{"t": [2030, 1, 1]}]),
    "bad-decimal": _raw([{"d": "four"}]),
    "nan-decimal": _raw([{"d": "NaN"}]),
    "infinite-decimal": _raw([{"d": "Infinity"}]),
    "huge-decimal": _raw([{"d": "1E+999999"}]),
    "float": _raw([1.5]),
    "nested-list": _raw([[1]]),
    "nul-in-text": _raw(["a\x00b"]),
    "lone-surrogate": seal(b'["\\ud800"]'),
    "deeply-nested": seal(b"[" * 5000 + b"]" * 5000),
    "huge-integer": _raw([2**63]),
    # Not issued here: no signature, another key's, a signature moved to other values.
    "unsigned": base64.urlsafe_b64encode(b'["a"]').decode().rstrip("="),
    "forged-signature": base64.urlsafe_b64encode(b'["a"]').decode().rstrip("=") + ".AAAAAAAAAAAAAAAAAAAAAA",
    "signature-of-other-values": _raw(["b"]).split(".")[0] + "." + _raw(["a"]).split(".")[1],
    "two-dots": _raw(["a"]) + ".x",
}


@pytest.mark.parametrize("cursor", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_cursor_is_a_validation_error(cursor):
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, 1)
    assert caught.value.code == "validation_error"
    assert caught.value.errors == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


# --- against the database ----------------------------------------------------

DOMAIN = "paging.test"


@pytest.fixture
def people(session: Session) -> list[User]:
    # Duplicate names make the id tie-breaker matter.
    names = ["Ana", "Ben", "Ben", "Cy", "Dee", "Dee", "Dee", "Eve"]
    roles = ["admin", "employee", "manager", "employee", "team_lead", "employee", "admin", "employee"]
    return [
        make_user(session, display_name=name, role=role, email=f"p{i}-{uuid.uuid4().hex[:6]}@{DOMAIN}")
        for i, (name, role) in enumerate(zip(names, roles, strict=True))
    ]


def _stmt():
    return select(User).where(User.email.like(f"%@{DOMAIN}"))


def _all_pages(session: Session, keys, limit: int) -> tuple[list[User], int]:
    items, cursor, pages = [], None, 0
    while True:
        page = keyset_page(session, _stmt(), keys, limit=limit, cursor=cursor)
        pages += 1
        items.extend(page.items)
        if page.next_cursor is None:
            return items, pages
        assert len(page.items) == limit
        cursor = page.next_cursor


def _expected(people: list[User], *sort) -> list[User]:
    ordered = list(people)
    for key, reverse in reversed(sort):  # stable sorts, least significant first
        ordered.sort(key=key, reverse=reverse)
    return ordered


@pytest.mark.parametrize("limit", [1, 3, 7, 8, 50])
def test_pages_concatenate_to_the_full_order(session: Session, people, limit):
    items, pages = _all_pages(session, [asc(User.display_name), asc(User.id)], limit)
    assert items == _expected(people, (lambda u: u.display_name, False), (lambda u: u.id, False))
    # The last page says so: limit+1 rows are fetched, no empty trailing page.
    assert pages == -(-len(people) // limit)


@pytest.mark.parametrize(
    ("keys", "sort"),
    [
        ([desc(User.display_name), asc(User.id)], [(lambda u: u.display_name, True), (lambda u: u.id, False)]),
        ([asc(User.display_name), desc(User.id)], [(lambda u: u.display_name, False), (lambda u: u.id, True)]),
        ([desc(User.display_name), desc(User.id)], [(lambda u: u.display_name, True), (lambda u: u.id, True)]),
        (
            [asc(User.role), desc(User.display_name), asc(User.id)],
            [(lambda u: u.role, False), (lambda u: u.display_name, True), (lambda u: u.id, False)],
        ),
    ],
    ids=["desc-asc", "asc-desc", "desc-desc", "asc-desc-asc"],
)
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_mixed_direction_keys_page_correctly(session: Session, people, keys, sort, limit):
    items, _ = _all_pages(session, keys, limit)
    assert items == _expected(people, *sort)


def test_a_cursor_of_the_wrong_types_is_a_validation_error(session: Session, people):
    for cursor in (encode_cursor(["Ben", "not-a-uuid"]), encode_cursor([5, uuid.uuid4()]),
                   encode_cursor([True, uuid.uuid4()]), encode_cursor(["Ben", Decimal(1)])):
        with pytest.raises(ValidationFailed):
            keyset_page(session, _stmt(), [asc(User.display_name), asc(User.id)], limit=2, cursor=cursor)


def test_a_cursor_of_another_width_is_a_validation_error(session: Session, people):
    page = keyset_page(session, _stmt(), [asc(User.display_name), asc(User.id)], limit=2)
    with pytest.raises(ValidationFailed):
        keyset_page(session, _stmt(), [asc(User.id)], limit=2, cursor=page.next_cursor)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_limit_out_of_range_is_a_validation_error(session: Session, limit):
    with pytest.raises(ValidationFailed) as caught:
        keyset_page(session, _stmt(), [asc(User.id)], limit=limit)
    assert caught.value.errors[0]["loc"] == ["query", "limit"]


def test_paging_sees_rows_added_before_the_cursor_only_once(session: Session, people):
    """Keyset paging is stable under inserts: a row added before the cursor is
    not repeated, nothing after it is skipped."""
    keys = [asc(User.display_name), asc(User.id)]
    first = keyset_page(session, _stmt(), keys, limit=3)
    make_user(session, display_name="Aaron", email=f"new@{DOMAIN}")
    rest, cursor = [], first.next_cursor
    while cursor:
        page = keyset_page(session, _stmt(), keys, limit=3, cursor=cursor)
        rest.extend(page.items)
        cursor = page.next_cursor
    assert first.items + rest == _expected(people, (lambda u: u.display_name, False), (lambda u: u.id, False))
