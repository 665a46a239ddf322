"""The arithmetic every level shares: the figure id round trip and one «pair works in the period» rule, whose
vectorised form must agree with the scalar one the checks use."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.domain.figures import FigureId, active_mask, is_active, share
from pipeline.domain.vocabulary import Level

START, END = date(2025, 10, 1), date(2025, 12, 31)
days = st.integers(min_value=-400, max_value=400).map(lambda d: START + timedelta(days=d))


def test_a_figure_id_reads_back_as_written():
    fid = FigureId("I06", Level.SCHOOL, "ARH-001", "2024/2025", "abc123")
    assert FigureId.parse(fid.format()) == fid
    for text in ("", "ИТОГО по региону", "I06|school|ARH-001", None):
        with pytest.raises(ValueError):
            FigureId.parse(text)


@given(st.lists(st.tuples(st.none() | days, st.none() | days), min_size=1, max_size=30))
def test_vectorised_activity_agrees_with_the_scalar_rule(pairs):
    frame = pd.DataFrame(pairs, columns=["start", "end"])
    mask = active_mask(frame["start"], frame["end"], START, END)
    assert list(mask) == [is_active(s, e, START, END) for s, e in pairs]


def test_a_pair_ended_inside_the_period_still_worked_in_it():
    assert is_active(date(2025, 9, 1), date(2025, 11, 1), START, END)
    assert not is_active(date(2025, 9, 1), date(2025, 9, 30), START, END)
    assert not is_active(date(2026, 1, 1), None, START, END)


def test_share_is_a_percentage_of_sums_and_nothing_without_a_denominator():
    assert share(1, 3) == 33.3 and share(0, 0) is None and share(5, None) is None
