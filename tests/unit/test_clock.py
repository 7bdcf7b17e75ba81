from datetime import UTC, datetime, timedelta

import pytest

from plaudit.clock import FixedClock


def test_fixed_clock_is_pinned_and_movable():
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2030, 1, 1, 2, tzinfo=UTC)


def test_fixed_clock_refuses_naive_times():
    with pytest.raises(ValueError):
        FixedClock(datetime(2030, 1, 1))
